"""Landing files -> one de-duplicated frame per day, with an account of every row read.

Each file is read once per run, however many of the run's days it holds: batches of files
are parsed in worker processes (both cores) and their rows staged per day as Arrow IPC;
each day is then assembled from its staged rows alone, so memory is bounded by one day,
not by the range of a backfill.
"""

import multiprocessing
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from octo_assets.readings.landing import LandingFile, files_for_days
from octo_assets.readings.parse import QUARANTINE_SCHEMA, READING_SCHEMA, parse_paths

KEY = ["meterpoint_id", "interval_start_utc"]
LAKE_SCHEMA = {
    c: READING_SCHEMA[c]
    for c in ["meterpoint_id", "interval_start_utc", "interval_start_local", "consumption_kwh", "source_file"]
}
FILES_PER_BATCH = 2_000
SMALL_INPUT_FILES = 400  # below this, worker start-up costs more than it saves


@dataclass(frozen=True)
class DayReadings:
    day: date
    readings: pl.DataFrame  # LAKE_SCHEMA, one row per (meterpoint_id, interval_start_utc)
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    conflicts: pl.DataFrame  # readings delivered more than once with different values
    files: int
    rows_read: int
    duplicates: int

    @property
    def loaded(self) -> int:
        return self.readings.height

    @property
    def quarantined_rows(self) -> int:
        return self.quarantine.filter(pl.col("row_number").is_not_null()).height

    @property
    def rejected_files(self) -> list[str]:
        return self.quarantine.filter(pl.col("row_number").is_null())["source_file"].to_list()


def ingest_days(
    landing_root: Path, files: Sequence[LandingFile], days: Sequence[date], workers: int = 2
) -> Iterator[DayReadings]:
    """Yield each requested day's readings, parsing once each file that holds any of them."""
    wanted = sorted(set(days))
    # a file with no recognisable day is read by every run, so that every run reports it
    files = files_for_days(files, set(wanted)) + [f for f in files if not f.days]
    with tempfile.TemporaryDirectory(prefix="octo-staging-") as staging:
        staging_dir = Path(staging)
        batches = [
            (n, [(f.path, str(landing_root / f.path), f.mtime_ns, f.days) for f in files[i : i + FILES_PER_BATCH]])
            for n, i in enumerate(range(0, len(files), FILES_PER_BATCH))
        ]
        if len(files) < SMALL_INPUT_FILES or workers < 2:
            for number, batch in batches:
                stage_batch(number, batch, wanted, staging_dir)
        else:
            context = multiprocessing.get_context("spawn")  # no fork of a threaded Dagster process
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                for _ in pool.map(stage_batch, *zip(*batches), [wanted] * len(batches), [staging_dir] * len(batches)):
                    pass
        for day in wanted:
            day_files = sum(1 for f in files if day in f.days)
            yield assemble_day(day, staging_dir / day.isoformat(), day_files)


def stage_batch(number: int, batch: list[tuple[str, str, int, tuple[date, ...]]], days: list[date], staging_dir: Path) -> None:
    """Parse a batch of files and stage its rows (and rejects) under staging_dir/<day>/."""
    parsed = parse_paths([(source, Path(path)) for source, path, _, _ in batch])
    delivered = pl.DataFrame(
        {"source_file": [b[0] for b in batch], "delivered_ns": [b[2] for b in batch]},
        schema={"source_file": pl.String, "delivered_ns": pl.Int64},
    )
    readings = parsed.readings.filter(pl.col("reading_date").is_in(days)).join(
        delivered, on="source_file", how="left"
    )
    quarantine = _assign_days(parsed.quarantine, batch, days)
    for day in days:
        day_dir = staging_dir / day.isoformat()
        day_readings = readings.filter(pl.col("reading_date") == day)
        day_quarantine = quarantine.filter(pl.col("reading_date") == day)
        if day_readings.height or day_quarantine.height:
            day_dir.mkdir(parents=True, exist_ok=True)
            day_readings.write_ipc(day_dir / f"readings-{number}.arrow")
            day_quarantine.write_ipc(day_dir / f"quarantine-{number}.arrow")


def _assign_days(quarantine: pl.DataFrame, batch, days: list[date]) -> pl.DataFrame:
    """Give every reject a day in `days` it is counted on, or drop it (another run counts it).

    A row whose day cannot be told is counted on its file's first day. A rejected file is
    reported on every day it holds, since each of them may be missing its rows; a file in
    which no day can be found at all may hold any day, so every run reports it.
    """
    file_days = pl.DataFrame(
        {"source_file": [b[0] for b in batch], "file_days": [list(b[3]) or days for b in batch]},
        schema={"source_file": pl.String, "file_days": pl.List(pl.Date)},
    )
    with_days = quarantine.join(file_days, on="source_file", how="left")
    whole_files = (
        with_days.filter(pl.col("row_number").is_null())
        .explode("file_days")
        .with_columns(reading_date=pl.col("file_days"))
    )
    rows = with_days.filter(pl.col("row_number").is_not_null()).with_columns(
        reading_date=pl.coalesce("reading_date", pl.col("file_days").list.min())
    )
    return pl.concat(
        [frame.select(list(QUARANTINE_SCHEMA)) for frame in (rows, whole_files)]
    ).filter(pl.col("reading_date").is_in(days))


def assemble_day(day: date, day_dir: Path, files: int) -> DayReadings:
    """De-duplicate one day's staged rows: the newest delivery of a reading wins."""
    readings = _read_staged(day_dir, "readings", {**READING_SCHEMA, "delivered_ns": pl.Int64})
    quarantine = _read_staged(day_dir, "quarantine", QUARANTINE_SCHEMA)
    ordered = readings.sort(["delivered_ns", "source_file", "row_number"])
    conflicts = (
        ordered.group_by(KEY, maintain_order=True)
        .agg(
            deliveries=pl.len(),
            distinct_values=pl.col("consumption_kwh").n_unique(),
            values=pl.col("consumption_kwh"),
            sources=pl.col("source_file"),
            kept_kwh=pl.col("consumption_kwh").last(),
        )
        .filter(pl.col("distinct_values") > 1)
        .drop("distinct_values")
        .sort(KEY)
    )
    latest = ordered.unique(subset=KEY, keep="last", maintain_order=True).sort(KEY).select(list(LAKE_SCHEMA))
    rows_read = readings.height + quarantine.filter(pl.col("row_number").is_not_null()).height
    return DayReadings(
        day=day,
        readings=latest,
        quarantine=quarantine.sort(["source_file", "row_number"], nulls_last=False),
        conflicts=conflicts,
        files=files,
        rows_read=rows_read,
        duplicates=readings.height - latest.height,
    )


def _read_staged(day_dir: Path, kind: str, schema: dict) -> pl.DataFrame:
    paths = sorted(day_dir.glob(f"{kind}-*.arrow")) if day_dir.is_dir() else []
    if not paths:
        return pl.DataFrame(schema=schema)
    return pl.concat([pl.read_ipc(p) for p in paths], how="vertical").select(list(schema))
