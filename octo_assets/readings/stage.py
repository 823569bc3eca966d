"""Stage a batch of landing files: read, hash, parse, and keep the rows of the run's days.

A task of the worker pool (readings.workers); it imports neither Dagster nor the run's entry
point. Its readings go to one Arrow IPC file, a record batch per (day, bucket), where the bucket
is a hash of the meterpoint id: a meterpoint's rows of a day always land in the same bucket, so a
day can later be de-duplicated one group of buckets at a time with the exact result of doing it
whole. Rows of days the run does not build are dropped here; each file's days and row count go
back to the landing index.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from octo_assets.readings.landing import content_hash
from octo_assets.readings.parse import QUARANTINE_SCHEMA, parse_documents
from octo_assets.storage import Storage

# a staged reading: `file` is the file's position in the run's file list (its name is looked up
# once, at assembly), `row_number` its row in the file's "data" array
STAGED_SCHEMA = {
    "file": pl.UInt32,
    "row_number": pl.Int32,
    "meterpoint_id": pl.String,
    "interval_start_utc": pl.Datetime("us", "UTC"),
    "interval_start_local": pl.Datetime("us"),
    "consumption_kwh": pl.Decimal(18, 3),
}
MAX_BUCKETS = 1024  # buckets a day may be split into (readings.ingest chooses how many)
FILE_FACTS_SCHEMA = {"file": pl.UInt32, "sha": pl.String, "rows": pl.Int64, "days": pl.List(pl.Date)}


@dataclass(frozen=True)
class StageTask:
    number: int
    landing: str  # the landing area's URL
    folder: str  # the run's staging folder
    paths: list[str]  # landing files, in the run's file list order
    first_file: int  # position of paths[0] in the run's file list
    report_on: date | None  # the day a file with no readable day is reported on (None: decided later)
    days: list[date] | None  # the days the run builds (None: keep every day)
    buckets: int

    def describe(self) -> str:
        return f"batch {self.number} ({len(self.paths)} files from {self.paths[0]})" if self.paths else "an empty batch"


@dataclass(frozen=True)
class Staged:
    number: int
    readings: str | None  # IPC file of STAGED_SCHEMA record batches
    batches: list[tuple[date, int, int, int]]  # (day, bucket, batch index in `readings`, rows)
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA, with the file's position as `file`
    facts: pl.DataFrame  # FILE_FACTS_SCHEMA: what the index learns of each file


def bucket_of(buckets: int) -> pl.Expr:
    return (pl.col("meterpoint_id").hash(seed=20210101) % buckets).cast(pl.Int32)


def stage_files(task: StageTask) -> Staged:
    landing = Storage(task.landing)
    documents, unreadable, facts = [], [], []
    for offset, (path, raw) in enumerate(zip(task.paths, landing.read_many(task.paths))):
        file = task.first_file + offset
        if isinstance(raw, OSError):
            unreadable.append(_file_reject(path, f"cannot read file: {raw.strerror or raw}"))
            facts.append((file, None, None, []))
            continue
        documents.append((path, raw))
        facts.append((file, content_hash(raw), None, None))
    parsed = parse_documents(documents)
    index_of = {path: task.first_file + i for i, path in enumerate(task.paths)}
    position = pl.col("source_file").replace_strict(index_of, return_dtype=pl.UInt32).alias("file")

    readings = parsed.readings.select(position, *[c for c in STAGED_SCHEMA if c != "file"], "reading_date")
    quarantine = pl.concat([parsed.quarantine, pl.DataFrame(unreadable, schema=QUARANTINE_SCHEMA)])
    quarantine = quarantine.with_columns(position)
    file_days = _file_days(readings, quarantine)
    facts_frame = _facts(facts, readings, quarantine, file_days, task)
    quarantine = _count_on_a_day(quarantine, file_days, task)
    if task.days is not None:
        wanted = pl.Series(task.days, dtype=pl.Date).implode()
        readings = readings.filter(pl.col("reading_date").is_in(wanted))
        quarantine = quarantine.filter(pl.col("reading_date").is_in(wanted) | pl.col("reading_date").is_null())
    target, batches = _write_batches(readings, task)
    return Staged(task.number, target, batches, quarantine, facts_frame)


def _file_days(readings: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """Each file's days: those its rows name (loaded or quarantined)."""
    named = pl.concat([readings.select("file", "reading_date"), quarantine.select("file", "reading_date")])
    return named.drop_nulls("reading_date").group_by("file").agg(days=pl.col("reading_date").unique().sort())


def _facts(
    facts: list, readings: pl.DataFrame, quarantine: pl.DataFrame, file_days: pl.DataFrame, task: StageTask
) -> pl.DataFrame:
    """What the landing state learns of each file: its hash, its rows, and its days. A file in
    which no day can be read (empty, broken, rejected whole) is given the day its rejection is
    reported on, so that every run of that day (and only those) reads it; while that day is not
    decided, its days stay null (not read)."""
    rows = pl.concat([readings.select("file"), quarantine.filter(pl.col("row_number").is_not_null()).select("file")])
    counts = rows.group_by("file").len("rows").with_columns(pl.col("rows").cast(pl.Int64))
    frame = pl.DataFrame(facts, schema=FILE_FACTS_SCHEMA, orient="row").drop("rows", "days")
    read = pl.col("sha").is_not_null()
    report_on = pl.lit([task.report_on] if task.report_on else None, dtype=pl.List(pl.Date))
    return (
        frame.join(counts, on="file", how="left")
        .join(file_days, on="file", how="left")
        .with_columns(
            rows=pl.when(read).then(pl.col("rows").fill_null(0)),
            days=pl.when(read).then(pl.coalesce("days", report_on)),
        )
        .select(list(FILE_FACTS_SCHEMA))
    )


def _count_on_a_day(quarantine: pl.DataFrame, file_days: pl.DataFrame, task: StageTask) -> pl.DataFrame:
    """Give every quarantined row the day it is counted on, once: its own day if its time is
    valid, else its file's first day, else (a file in which no day can be read) the day such
    files are reported on (null while undecided: see readings.ingest.report_unread_on)."""
    return (
        quarantine.join(file_days, on="file", how="left")
        .with_columns(
            reading_date=pl.coalesce("reading_date", pl.col("days").list.first(), pl.lit(task.report_on, pl.Date))
        )
        .select("file", *[c for c in QUARANTINE_SCHEMA if c != "source_file"])
    )


def _write_batches(readings: pl.DataFrame, task: StageTask) -> tuple[str | None, list]:
    """One record batch per (day, bucket): the rows sorted by both, converted to Arrow once, and
    cut into zero-copy slices."""
    if readings.is_empty():
        return None, []
    keyed = readings.with_columns(_bucket=bucket_of(task.buckets))
    # one integer key: sorting by it is twice as fast as by the two columns
    keyed = keyed.with_columns(_key=pl.col("reading_date").cast(pl.Int32) * MAX_BUCKETS + pl.col("_bucket"))
    keyed = keyed.sort("_key", maintain_order=True)
    runs = keyed.group_by("reading_date", "_bucket", maintain_order=True).len()
    table = keyed.select(list(STAGED_SCHEMA)).to_arrow().combine_chunks()
    target = str(Path(task.folder) / f"staged-{task.number:06d}.arrow")
    batches, offset = [], 0
    with pa.OSFile(target, "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        for index, (day, bucket, rows) in enumerate(runs.iter_rows()):
            writer.write_batch(table.slice(offset, rows).to_batches()[0])
            batches.append((day, bucket, index, rows))
            offset += rows
    return target, batches


def _file_reject(source: str, reason: str) -> dict:
    return {"source_file": source, "row_number": None, "reading_date": None, "reason": reason, "raw": None}
