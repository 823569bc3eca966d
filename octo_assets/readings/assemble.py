"""Assemble one group of hash buckets of a day: de-duplicate, find conflicts, measure for the checks.

A task of the worker pool (readings.workers). A meterpoint's rows of a day are all in one bucket
(readings.stage), so a group is complete for its meterpoints: de-duplicating and checking it alone
gives exactly what doing the whole day would, while holding a bounded part of it. The result goes
to a Parquet file in the lake's layout, which the run commits to the readings table as it is:
each part of a day is encoded once, here, in parallel, and never passes through the run's process.
"""

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from octo_assets.domain import LOCAL_TZ, SHOWN, day_bounds_utc, half_hours_in_day
from octo_assets.lake import DAY_KEY, READINGS_TABLE, Lake, Placed, data_file
from octo_assets.readings.exchange import Exchange

KEY = ["meterpoint_id", "interval_start_utc"]
LAKE_COLUMNS = ["meterpoint_id", "interval_start_utc", "interval_start_local", "consumption_kwh", "source_file"]
# a domestic supply (100 A at 230 V) cannot pass much more than 11.5 kWh in half an hour
MAX_HALF_HOUR_KWH = Decimal(12)
CONFLICTS_SCHEMA = {
    "meterpoint_id": pl.String,
    "interval_start_utc": pl.Datetime("us", "UTC"),
    "deliveries": pl.UInt32,
    "values": pl.List(pl.Decimal(18, 3)),
    "sources": pl.List(pl.String),
    "kept_kwh": pl.Decimal(18, 3),
}


@dataclass(frozen=True)
class AssembleTask:
    day: date
    group: int  # the part of the day: its number among the day's parts
    # staged IPC files (in the exchange of the step that staged them), and the record batches of
    # this part in each
    sources: list[tuple[Exchange, str, list[int]]]
    folder: str  # the step's own scratch folder
    file_list: tuple[Exchange, str]  # the run's files: `path` and `delivery` (rank, newest highest), by position
    lake: str  # the lake's URL: the part is written into the readings table's day folder
    parts: int = 1  # the day's parts in all (for progress: "part 3 of 8")

    def describe(self) -> str:
        return f"{self.day} part {self.group}"


@dataclass(frozen=True)
class Finding:
    """What one check found in a group: how many offenders, the first SHOWN, and totals to add up."""

    count: int
    shown: pl.DataFrame
    totals: dict

    @staticmethod
    def of(offenders: pl.DataFrame, **totals) -> "Finding":
        return Finding(offenders.height, offenders.head(SHOWN), totals)


@dataclass(frozen=True)
class Assembled:
    day: date
    group: int
    output: Placed | None  # Parquet file of the kept readings (LAKE_COLUMNS), in the table's day folder
    preview: pl.DataFrame  # its first rows
    staged: int
    loaded: int
    duplicates: int
    kwh: Decimal
    meterpoints: int
    conflicts: pl.DataFrame  # CONFLICTS_SCHEMA
    accounting: pl.DataFrame  # file, loaded, duplicates
    audit: dict  # blocking facts: {"null_keys": n, "repeated_keys": n}
    findings: dict[str, Finding]  # by check name
    half_hours: pl.DataFrame  # half_hours -> meterpoints


def assemble_group(task: AssembleTask) -> Assembled:
    files = _file_list(task.file_list)
    staged = _read_staged(task.sources)
    kept, dropped, conflicts = deduplicate(staged.with_columns(delivery=files["delivery"].gather(staged["file"])))
    # de-duplication proved the key unique where it found nothing to remove; else, check again
    repeated = 0 if dropped.is_empty() else repeated_keys(kept)
    accounting = (
        kept.group_by("file")
        .len("loaded")
        .join(dropped.group_by("file").len("duplicates"), on="file", how="full", coalesce=True)
    ).with_columns(pl.col("loaded", "duplicates").fill_null(0))
    per_meterpoint = kept.group_by("meterpoint_id").len("half_hours")
    findings = {
        "readings_consumption_plausible": Finding.of(
            kept.filter((pl.col("consumption_kwh") > MAX_HALF_HOUR_KWH) | (pl.col("consumption_kwh") < 0))
            .select("meterpoint_id", "interval_start_local", "consumption_kwh")
            .sort("meterpoint_id", "interval_start_local")
        ),
        "readings_complete_days": _incomplete(kept, per_meterpoint, task.day, half_hours_in_day(task.day)),
    }
    output, preview = None, pl.DataFrame()
    if kept.height:
        path = Path(task.folder) / f"part-{task.day.isoformat()}-{task.group:04d}.parquet"
        table = _lake_table(kept, files["path"])
        # no Arrow schema in the footer: every reader sees the types the Delta table declares
        # (source_file a string, stored once per page in Parquet's dictionary)
        pq.write_table(table, path, compression="zstd", store_schema=False)
        preview = pl.from_arrow(table.slice(0, 10))
        del table
        # in the table's day folder under a name of its own: nothing reads it until the day's
        # commit names it (a lost attempt's file is left to housekeeping)
        output = Lake(task.lake).place(READINGS_TABLE, DAY_KEY, task.day.isoformat(), data_file(path))
        path.unlink()
    return Assembled(
        day=task.day,
        group=task.group,
        output=output,
        preview=preview,
        staged=staged.height,
        loaded=kept.height,
        duplicates=dropped.height,
        kwh=kept["consumption_kwh"].sum() if kept.height else Decimal(0),
        meterpoints=per_meterpoint.height,
        conflicts=_named_sources(conflicts, files["path"]),
        accounting=accounting,
        audit={
            "null_keys": sum(kept[c].null_count() for c in [*KEY, "consumption_kwh"]),
            "repeated_keys": repeated,
        },
        findings=findings,
        half_hours=per_meterpoint.group_by("half_hours").len("meterpoints"),
    )


def _lake_table(kept: pl.DataFrame, paths: pl.Series) -> pa.Table:
    """The kept rows as the lake stores them. `source_file` is dictionary-encoded straight from the
    files' positions: each name once, and no string hashed per row."""
    used = kept["file"].unique().sort()
    codes = used.search_sorted(kept["file"]).cast(pl.Int32)
    source_file = pa.DictionaryArray.from_arrays(codes.to_arrow(), paths.gather(used).to_arrow())
    table = kept.select(LAKE_COLUMNS[:-1]).to_arrow()
    return table.append_column("source_file", source_file)


def _hashed_key() -> pl.Expr:
    """A 64-bit key per reading: equal for equal readings; different readings may collide, which
    only sends a part down the exact path."""
    slot = pl.col("interval_start_utc").dt.epoch("s").cast(pl.UInt64)
    return pl.col("meterpoint_id").hash(seed=1) * 1_000_003 + slot


def repeated_keys(frame: pl.DataFrame) -> int:
    """How many rows share their (meterpoint_id, interval_start_utc) with another row."""
    if frame.select(_hashed_key().n_unique()).item() == frame.height:
        return 0  # distinct hashed keys: distinct keys
    return frame.select(pl.struct(KEY).is_duplicated().sum()).item()


def deduplicate(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(kept, dropped duplicates, conflicts): one row per reading, the newest delivery's.

    A reading delivered more than once keeps the row of the newest delivery (highest `delivery`,
    then the later row of a file); a conflict is a reading whose deliveries disagree on the value.
    Readings are rarely repeated: a count of distinct hashed keys tells a part that has none
    cheaply, and only the repeated readings of one that has are sorted.
    """
    if repeated_keys(frame) == 0:
        return frame, frame.clear(), pl.DataFrame(schema=CONFLICTS_SCHEMA)
    repeated_mask = frame.select(pl.struct(KEY).is_duplicated()).to_series()
    repeated = frame.filter(repeated_mask).sort([*KEY, "delivery", "row_number"])
    last = repeated.select(pl.struct(KEY).is_last_distinct()).to_series()
    conflicts = (
        repeated.group_by(KEY, maintain_order=True)
        .agg(
            deliveries=pl.len(),
            distinct=pl.col("consumption_kwh").n_unique(),
            values=pl.col("consumption_kwh"),
            sources=pl.col("file"),
            kept_kwh=pl.col("consumption_kwh").last(),
        )
        .filter(pl.col("distinct") > 1)
        .drop("distinct")
    )
    kept = pl.concat([frame.filter(~repeated_mask), repeated.filter(last)])
    return kept, repeated.filter(~last), conflicts


def _incomplete(kept: pl.DataFrame, per_meterpoint: pl.DataFrame, day: date, expected: int) -> Finding:
    """Meterpoints without a reading for every half hour; the missing local times of those shown."""
    incomplete = per_meterpoint.filter(pl.col("half_hours") != expected).sort("meterpoint_id")
    shown = incomplete.head(SHOWN)
    start, end = day_bounds_utc(day)
    slots = pl.DataFrame(
        {"interval_start_utc": pl.datetime_range(start, end, "30m", closed="left", time_unit="us", eager=True)}
    ).with_columns(pl.col("interval_start_utc").dt.convert_time_zone("UTC"))
    theirs = kept.filter(pl.col("meterpoint_id").is_in(shown["meterpoint_id"].implode())).select(KEY)
    missing = (
        shown.select("meterpoint_id")
        .join(slots, how="cross")
        .join(theirs, on=KEY, how="anti")
        .sort(KEY)
        .group_by("meterpoint_id", maintain_order=True)
        .agg(
            missing_local=pl.col("interval_start_utc").dt.convert_time_zone(LOCAL_TZ).dt.strftime("%H:%M").str.join(" ")
        )
    )
    table = shown.with_columns(expected=pl.lit(expected)).join(missing, on="meterpoint_id", how="left")
    shown_table = table.select("meterpoint_id", "half_hours", "expected", "missing_local")
    return Finding(incomplete.height, shown_table, {})


def _named_sources(conflicts: pl.DataFrame, paths: pl.Series) -> pl.DataFrame:
    """The conflicts' source files by name (they are staged by position in the run's file list)."""
    if conflicts.is_empty():
        return conflicts.with_columns(pl.col("sources").cast(pl.List(pl.String)))
    exploded = conflicts.with_row_index("_conflict").explode("sources")
    named = exploded.with_columns(sources=paths.gather(exploded["sources"]))
    return (
        named.group_by("_conflict", maintain_order=True)
        .agg(*[pl.col(c).first() for c in conflicts.columns if c != "sources"], pl.col("sources"))
        .drop("_conflict")
        .select(conflicts.columns)
    )


def _read_staged(sources: list[tuple[Exchange, str, list[int]]]) -> pl.DataFrame:
    batches = []
    for exchange, name, indexes in sources:
        reader = exchange.arrow_file(name)
        batches.extend(reader.get_batch(i) for i in indexes)
    if not batches:
        from octo_assets.readings.stage import STAGED_SCHEMA

        return pl.DataFrame(schema=STAGED_SCHEMA)
    return pl.from_arrow(pa.Table.from_batches(batches)).rechunk()


@functools.lru_cache(maxsize=4)
def _file_list(where: tuple[Exchange, str]) -> pl.DataFrame:
    """The run's file list (read once per process and run): path and delivery, by position."""
    exchange, name = where
    return pl.from_arrow(exchange.arrow_file(name).read_all())
