"""Build days as a readings run does, every step in this process (readings.steps), without Dagster:
each day's DayBuild, its readings read back from the files placed in the table (`frame`)."""

import itertools
from datetime import date

import polars as pl

from octo_assets.lake import READINGS_TABLE, Lake
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.ingest import PRESTAGED, DayBuild
from octo_assets.readings.steps import build_in_one_process
from octo_assets.settings import DEFAULT_MEMORY_MB, OPEN_DAYS
from octo_assets.storage import Storage

_runs = itertools.count()


def build_days(
    landing: Storage,
    lake: Lake,
    days: list[date],
    scratch,
    memory_mb: int = DEFAULT_MEMORY_MB,
    steps: int = 0,
    prestaged: Exchange | None = None,
    force: bool = False,
    open_days: int = OPEN_DAYS,
) -> list[DayBuild]:
    exchange = Exchange(lake.storage.url, f"test-run-{next(_runs)}")
    before = prestaged.read_object(PRESTAGED) if prestaged else None
    built = build_in_one_process(
        landing, lake, list(days), exchange, scratch, memory_mb * 2**20, steps, before, open_days, force
    )
    for day in built:
        parts = [pl.read_parquet(lake.storage.uri(f"{READINGS_TABLE}/{part.rel}")) for part in day.readings]
        day.frame = pl.concat(parts) if parts else None
    return built
