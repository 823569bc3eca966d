"""Stage a batch of landing files: read, hash, parse, and keep the rows of the run's days.

A task of the worker pool (readings.workers); it imports neither Dagster nor the run's entry
point. Its readings go to one Arrow IPC file, a record batch per (day, bucket), where the bucket
is a hash of the meterpoint id: a meterpoint's rows of a day always land in the same bucket, so a
day can later be de-duplicated one group of buckets at a time with the exact result of doing it
whole. Rows of days the run does not build are dropped here; each file's days and row count go
back to the landing index.

Every landed file is accounted for, and every row of it, once:

- a file whose name is not a readings file's (parse.is_readings_file: `notes.txt`, `x.csv`,
  `x.json.bak`, `x.json.tmp`, a `.zip`) is hashed, never parsed, and rejected whole with
  parse.NOT_READINGS, exactly as an unreadable `.json` is: a quarantine row with no row number,
  counted on the day such files are reported on (the last day of the run that first read it;
  readings.ingest.report_unread_on), and recorded with that day in the landing state, so that it
  is reported once, and again only by a re-run of that day (whose quarantine is replaced). The
  same path as a broken delivery, so one place to look (`lake.readings_quarantine`, `row_number
  IS NULL`), one check that fails (readings_nothing_quarantined), and nothing re-reported forever.
  Hidden names (a dot first: `.DS_Store`, rsync's partial uploads) are not part of the landing
  area at all (storage.Storage's listings leave them out), as before;
- a row dated before the first partition, or more than a day after its file was first seen (it
  cannot have been measured yet: a wrong clock), is quarantined with its reason
  (parse.out_of_range_reason) on its file's first day that is a partition, or that will be, or
  else on the day such files are reported on. A row of a day not ended yet (today's, or
  tomorrow's) is not quarantined: it is a reading of that day, built once the day has ended
  (the file's days hold it, so that day's run reads the file).
"""

from dataclasses import dataclass
from datetime import date

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from octo_assets.readings.exchange import Exchange
from octo_assets.readings.learn import content_hash, content_hash_of
from octo_assets.readings.parse import (
    FIRST_PARTITION,
    NOT_READINGS,
    QUARANTINE_SCHEMA,
    is_readings_file,
    latest_day,
    latest_days,
    out_of_range_reason,
    parse_documents,
)
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
SLICES = 64  # files of staged rows a task writes (at most): the most assembling steps a run can have
FILE_FACTS_SCHEMA = {"file": pl.UInt32, "sha": pl.String, "rows": pl.Int64, "days": pl.List(pl.Date)}
# the rows a task read, by the day each is counted on (loaded or quarantined), before the rows of
# days the run does not build are dropped: what a run read of days not ended yet (ingest.Landed)
DAY_ROWS_SCHEMA = {"reading_date": pl.Date, "files": pl.UInt32, "rows": pl.UInt32}


@dataclass(frozen=True)
class StageTask:
    number: int
    landing: str  # the landing area's URL
    exchange: Exchange  # where the staged rows go, for the steps that assemble them
    paths: list[str]  # landing files, in the run's file list order
    first_file: int  # position of paths[0] in the run's file list
    report_on: date | None  # the day a file with no readable day is reported on (None: decided later)
    days: list[date] | None  # the days the run builds (None: keep every day)
    buckets: int
    # each file's first sight (landing state); None: now. A row dated more than a day after it
    # is quarantined (parse.latest_day)
    first_seen_ns: list[int] | None = None

    def describe(self) -> str:
        return f"batch {self.number} ({len(self.paths)} files from {self.paths[0]})" if self.paths else "an empty batch"


@dataclass(frozen=True)
class Staged:
    number: int
    exchange: Exchange
    readings: dict[int, str]  # slice -> IPC file (in `exchange`) of STAGED_SCHEMA record batches
    batches: list[tuple[date, int, int, int]]  # (day, bucket, batch index in its slice's file, rows)
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA, with the file's position as `file`
    facts: pl.DataFrame  # FILE_FACTS_SCHEMA: what the index learns of each file
    day_rows: pl.DataFrame | None = None  # DAY_ROWS_SCHEMA


def bucket_of(buckets: int) -> pl.Expr:
    return (pl.col("meterpoint_id").hash(seed=20210101) % buckets).cast(pl.Int32)


def slice_of(bucket: int, buckets: int) -> int:
    """The slice of consecutive buckets a bucket belongs to: a task writes a file of staged rows
    per slice, and an assembling step reads the files of its range of slices."""
    return bucket * SLICES // buckets


def stage_files(task: StageTask) -> Staged:
    landing = Storage(task.landing)
    documents, unreadable, facts = [], [], []
    for offset, (path, raw) in enumerate(zip(task.paths, _read(landing, task.paths))):
        file = task.first_file + offset
        if isinstance(raw, OSError):
            unreadable.append(_file_reject(path, f"cannot read file: {raw.strerror or raw}"))
            facts.append((file, None, None, []))
        elif isinstance(raw, str):  # not a readings file: its hash only
            unreadable.append(_file_reject(path, NOT_READINGS))
            facts.append((file, content_hash_of(raw), None, None))
        else:
            documents.append((path, raw))
            facts.append((file, content_hash(raw), None, None))
    parsed = parse_documents(documents)
    del documents
    index_of = {path: task.first_file + i for i, path in enumerate(task.paths)}
    position = pl.col("source_file").replace_strict(index_of, return_dtype=pl.UInt32).alias("file")

    readings = parsed.readings.select(position, *[c for c in STAGED_SCHEMA if c != "file"], "reading_date")
    quarantine = pl.concat([parsed.quarantine, pl.DataFrame(unreadable, schema=QUARANTINE_SCHEMA)])
    quarantine = quarantine.with_columns(position)
    readings, quarantine = _out_of_range(readings, quarantine, task)
    file_days = _file_days(readings, quarantine)
    facts_frame = _facts(facts, readings, quarantine, file_days, task)
    quarantine = _count_on_a_day(quarantine, file_days, task)
    day_rows = _day_rows(readings, quarantine)
    if task.days is not None:
        wanted = pl.Series(task.days, dtype=pl.Date).implode()
        readings = readings.filter(pl.col("reading_date").is_in(wanted))
        quarantine = quarantine.filter(pl.col("reading_date").is_in(wanted) | pl.col("reading_date").is_null())
    targets, batches = _write_batches(readings, task)
    return Staged(task.number, task.exchange, targets, batches, quarantine, facts_frame, day_rows)


def _read(landing: Storage, paths: list[str]) -> list[bytes | str | OSError]:
    """Each file's bytes, in order; a file that is not a readings file by its name is hashed a
    chunk at a time instead (its SHA-256, as text: it may be large, and is never parsed)."""
    readings = [n for n, path in enumerate(paths) if is_readings_file(path)]
    if len(readings) == len(paths):
        return landing.read_many(paths)
    others = sorted(set(range(len(paths))) - set(readings))
    found: dict[int, bytes | str | OSError] = dict(zip(readings, landing.read_many([paths[n] for n in readings])))
    found.update(zip(others, landing.sha256_many([paths[n] for n in others])))
    return [found[n] for n in range(len(paths))]


def _out_of_range(
    readings: pl.DataFrame, quarantine: pl.DataFrame, task: StageTask
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Readings dated on no day they can be built on (before the first partition, or more than a
    day after their file was first seen: parse.out_of_range_reason) moved to the quarantine with
    their reason; those and quarantined rows of such days are then of no day (null reading_date),
    to be counted on their file's first day (_count_on_a_day)."""
    if task.first_seen_ns is None:
        latest = pl.Series("latest", [latest_day()] * len(task.paths), dtype=pl.Date)
    else:
        latest = latest_days(task.first_seen_ns)
    days = pl.concat([readings["reading_date"], quarantine["reading_date"]]).drop_nulls()
    if days.is_empty() or (days.min() >= FIRST_PARTITION and days.max() <= latest.min()):
        return readings, quarantine  # the usual case: every day is one
    bounds = pl.DataFrame({"file": pl.int_range(task.first_file, task.first_file + len(task.paths), eager=True)})
    bounds = bounds.with_columns(pl.col("file").cast(pl.UInt32), latest=latest)
    why = out_of_range_reason(pl.col("reading_date"), pl.col("latest"))
    readings = readings.join(bounds, on="file", how="left", maintain_order="left").with_columns(_why=why)
    as_delivered = pl.struct(
        interval_start=pl.col("interval_start_local").dt.strftime("%Y-%m-%d %H:%M:%S"),
        consumption_delta=pl.col("consumption_kwh").cast(pl.Float64),  # a JSON number, as sent
        meterpoint_id="meterpoint_id",
    ).struct.json_encode()
    moved = readings.filter(pl.col("_why").is_not_null()).select(
        pl.lit(None, pl.String).alias("source_file"),
        "row_number",
        reading_date=pl.lit(None, pl.Date),
        reason="_why",
        raw=as_delivered,
        file="file",
    )
    readings = readings.filter(pl.col("_why").is_null()).drop("latest", "_why")
    elsewhere = quarantine.join(bounds, on="file", how="left", maintain_order="left").select(
        pl.when(why.is_null()).then("reading_date").alias("reading_date")
    )
    quarantine = quarantine.with_columns(elsewhere["reading_date"])
    return readings, pl.concat([quarantine, moved.select(quarantine.columns)])


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


def _day_rows(readings: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """DAY_ROWS_SCHEMA: the rows read, by the day each is counted on (those of no day yet left out)."""
    rows = pl.concat(
        [
            readings.select("file", "reading_date"),
            quarantine.filter(pl.col("row_number").is_not_null()).select("file", "reading_date"),
        ]
    )
    return (
        rows.drop_nulls("reading_date")
        .group_by("reading_date")
        .agg(files=pl.col("file").n_unique(), rows=pl.len())
        .cast(DAY_ROWS_SCHEMA)
        .sort("reading_date")
    )


def _write_batches(readings: pl.DataFrame, task: StageTask) -> tuple[dict[int, str], list]:
    """A file per slice of buckets (slice_of), of one record batch per (day, bucket): the rows sorted by
    both, converted to Arrow once, and cut into zero-copy slices."""
    if readings.is_empty():
        return {}, []
    keyed = readings.with_columns(_bucket=bucket_of(task.buckets))
    # one integer key, bucket first: a group's batches are consecutive; sorting by one integer is
    # twice as fast as by two columns
    keyed = keyed.with_columns(_key=pl.col("_bucket") * 2**20 + pl.col("reading_date").cast(pl.Int32))
    keyed = keyed.sort("_key", maintain_order=True)
    runs = keyed.group_by("_bucket", "reading_date", maintain_order=True).len()
    table = keyed.select(list(STAGED_SCHEMA)).to_arrow().combine_chunks()
    by_slice: dict[int, list[tuple[date, int, int, int]]] = {}
    offset = 0
    for bucket, day, rows in runs.iter_rows():
        by_slice.setdefault(slice_of(bucket, task.buckets), []).append((day, bucket, offset, rows))
        offset += rows
    targets, batches = {}, []
    for group, runs_of_group in by_slice.items():
        name = f"parse-{task.number:06d}/slice-{group:04d}.arrow"
        with task.exchange.writing(name) as path, pa.OSFile(str(path), "wb") as sink:
            with ipc.new_file(sink, table.schema) as writer:
                for index, (day, bucket, start, rows) in enumerate(runs_of_group):
                    writer.write_batch(table.slice(start, rows).to_batches()[0])
                    batches.append((day, bucket, index, rows))
        targets[group] = name
    return targets, batches


def _file_reject(source: str, reason: str) -> dict:
    return {"source_file": source, "row_number": None, "reading_date": None, "reason": reason, "raw": None}


@dataclass(frozen=True)
class Parsed:
    """What a parse step (or make run's pre-pass) left in the exchange: a descriptor."""

    number: int
    exchange: Exchange
    first_file: int
    files: int
    readings: dict[int, str]  # slice -> IPC file of staged rows
    batches: list[tuple[date, int, int, int]]  # (day, bucket, batch index in its slice's file, rows)
    quarantine: str  # parquet in the exchange: the shard's quarantine rows (file by position)
    facts: str  # parquet in the exchange: FILE_FACTS_SCHEMA
    day_rows: pl.DataFrame  # DAY_ROWS_SCHEMA: a row a day

    @staticmethod
    def of(staged: Staged, first_file: int, files: int) -> "Parsed":
        """Descriptor of a staged batch; its quarantine and file facts written to its exchange."""
        exchange, prefix = staged.exchange, f"parse-{staged.number:06d}"
        return Parsed(
            staged.number,
            exchange,
            first_file,
            files,
            staged.readings,
            staged.batches,
            exchange.write_frame(f"{prefix}/quarantine.parquet", staged.quarantine),
            exchange.write_frame(f"{prefix}/facts.parquet", staged.facts),
            staged.day_rows if staged.day_rows is not None else pl.DataFrame(schema=DAY_ROWS_SCHEMA),
        )
