"""Landing files -> one de-duplicated frame per day, with an account of every row read.

Each file is read once per run, however many of the run's days it holds: batches of files
are parsed in worker processes (both cores) and their rows staged on local disk as Arrow IPC,
per day and per key range. A day is then assembled one key range at a time, so memory is
bounded by a fraction of a day, not by the range of a backfill.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from octo_assets.readings.landing import files_for_days
from octo_assets.readings.parse import QUARANTINE_SCHEMA, READING_SCHEMA, Parsed, parse_documents
from octo_assets.storage import Storage, staging_root

KEY = ["meterpoint_id", "interval_start_utc"]
LAKE_SCHEMA = {
    **{
        c: READING_SCHEMA[c] for c in ["meterpoint_id", "interval_start_utc", "interval_start_local", "consumption_kwh"]
    },
    "source_file": pl.Categorical,  # a day's millions of rows come from thousands of files: each name stored once
}
STAGED_SCHEMA = {
    **{c: t for c, t in READING_SCHEMA.items() if c != "reading_date"},
    "source_file": pl.Categorical,
    "delivery": pl.Int32,  # rank of the file's delivery: newest last
}
STAGING_PREFIX = "octo-staging-"
FILE_LIST = "files.arrow"
STALE_STAGING_S = 24 * 3600  # no live run stages for a day
FILES_PER_BATCH = 2_000
SMALL_INPUT_FILES = 2_000  # below this, a worker's start-up (~0.3 s) costs more than it saves


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


class Staged:
    """A run's landing files, parsed once and staged per day and key range on local disk."""

    def __init__(self, staging_dir: Path, day_files: dict[date, int], discovered: pl.DataFrame):
        self.staging_dir = staging_dir
        self.day_files = day_files
        # (path, days) of the files the index did not know: the days their rows turned out to hold
        self.discovered = discovered

    def assemble(self, day: date) -> DayReadings:
        return assemble_day(day, self.staging_dir / day.isoformat(), self.day_files.get(day, 0))


@contextmanager
def staged_days(landing: Storage, index: pl.DataFrame, days: Sequence[date], workers: int = 2) -> Iterator[Staged]:
    """Parse, once, each landing file that may hold any of `days`.

    `index` is the landing index (landing.INDEX_SCHEMA). A file of unknown days (null: new
    since the index was last refreshed) is parsed and its days learnt from its rows, so a new
    file is read once. A file with no recognisable day (an empty list) is read by every run,
    so that every run reports it.
    """
    wanted = sorted(set(days))
    # the delivery rank orders duplicates: newest file last (then path, for a stable order)
    files = files_for_days(index, set(wanted)).sort(["mtime_ns", "path"]).with_row_index("delivery")
    _sweep_stale_staging()
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=staging_root()) as staging:
        staging_dir = Path(staging)
        # the file list goes to the workers as a file: a million paths as Python objects would not fit
        files.select("path", "delivery", "days").write_ipc(staging_dir / FILE_LIST)
        job = {"landing": landing.url, "staging": str(staging_dir), "days": [d.isoformat() for d in wanted]}
        ranges = [
            (n, i, min(i + FILES_PER_BATCH, files.height))
            for n, i in enumerate(range(0, files.height, FILES_PER_BATCH))
        ]
        if files.height < SMALL_INPUT_FILES or workers < 2:
            stage_ranges(job, ranges)
        else:
            _stage_in_workers(job, ranges, workers)
        discovered = _read_staged(staging_dir, "discovered", {"path": pl.String, "days": pl.List(pl.Date)})
        known = files.select("path", "days").update(discovered, on="path")
        per_day = known.select(pl.col("days").explode().drop_nulls().value_counts()).unnest("days")
        yield Staged(staging_dir, dict(zip(per_day["days"], per_day["count"])), discovered)


def ingest_days(landing: Storage, index: pl.DataFrame, days: Sequence[date], workers: int = 2) -> Iterator[DayReadings]:
    """Each requested day's readings (see staged_days)."""
    with staged_days(landing, index, days, workers) as staged:
        for day in sorted(set(days)):
            yield staged.assemble(day)


def _sweep_stale_staging() -> None:
    """Remove staging folders left by runs that were killed (a finished run removes its own)."""
    for folder in Path(staging_root()).glob(f"{STAGING_PREFIX}*"):
        try:
            if time.time() - folder.stat().st_mtime > STALE_STAGING_S:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            pass


def _stage_in_workers(job: dict, ranges: list[tuple[int, int, int]], workers: int) -> None:
    """Parse the file ranges in `workers` fresh interpreters (readings.worker), round robin.

    Plain subprocesses, not multiprocessing: a spawned child would re-import the parent's main
    module (Dagster's CLI, seconds of start-up), and a forked one would inherit Dagster's threads.
    """
    processes = []
    for worker in range(workers):
        process = subprocess.Popen(
            [sys.executable, "-m", "octo_assets.readings.worker"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "POLARS_MAX_THREADS": "1"},  # one core each: the workers are the parallelism
        )
        process.stdin.write(json.dumps({**job, "ranges": ranges[worker::workers]}).encode())
        process.stdin.close()
        processes.append(process)
    failures = []
    for process in processes:
        stderr = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            failures.append(stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {process.returncode}")
    if failures:
        raise RuntimeError(f"a readings worker failed: {'; '.join(failures)}")


def stage_ranges(job: dict, ranges: list[tuple[int, int, int]]) -> None:
    """Stage each (batch number, first, end) range of the run's file list."""
    staging_dir = Path(job["staging"])
    landing = Storage(job["landing"])
    files = pl.read_ipc(staging_dir / FILE_LIST)
    days = [date.fromisoformat(d) for d in job["days"]]
    for number, first, end in ranges:
        part = files.slice(first, end - first)
        batch = [
            (path, rank, None if file_days is None else [d.isoformat() for d in file_days])
            for path, rank, file_days in part.iter_rows()
        ]
        stage_batch(number, landing, batch, days, staging_dir)


def stage_batch(
    number: int, landing: Storage, batch: list[tuple[str, int, list[str] | None]], days: list[date], staging_dir: Path
) -> None:
    """Parse a batch of files and stage its rows (and rejects) under staging_dir/<day>/.

    Each file is (path in the landing area, delivery rank, ISO days it holds or None if unknown).
    """
    parsed = parse_landed(landing, [b[0] for b in batch])
    discovered = _discovered_days(parsed, [b[0] for b in batch if b[2] is None])
    if discovered.height:
        discovered.write_ipc(staging_dir / f"discovered-{number}.arrow")
    found = dict(zip(discovered["path"], discovered["days"].to_list()))
    file_days = {
        b[0]: [date.fromisoformat(d) for d in b[2]] if b[2] is not None else found.get(b[0], []) for b in batch
    }
    delivery = pl.DataFrame(
        {"source_file": [b[0] for b in batch], "delivery": [b[1] for b in batch]},
        schema={"source_file": pl.String, "delivery": pl.Int32},
    )
    readings = (
        parsed.readings.filter(pl.col("reading_date").is_in(days))
        .join(delivery, on="source_file", how="left")
        # a day holds millions of rows from thousands of files: store each file name once
        .with_columns(pl.col("source_file").cast(pl.Categorical))
    )
    quarantine = _assign_days(parsed.quarantine, file_days, days)
    for day in days:
        day_dir = staging_dir / day.isoformat()
        day_readings = readings.filter(pl.col("reading_date") == day).drop("reading_date")  # the folder says
        day_quarantine = quarantine.filter(pl.col("reading_date") == day)
        if day_readings.height or day_quarantine.height:
            day_dir.mkdir(parents=True, exist_ok=True)
            day_quarantine.write_ipc(day_dir / f"quarantine-{number}.arrow")
            buckets = day_readings.with_columns(_bucket=_key_range()).partition_by("_bucket", as_dict=True)
            for (bucket,), part in buckets.items():
                part.drop("_bucket").write_ipc(day_dir / f"readings-{bucket}-{number}.arrow")


def parse_landed(landing: Storage, paths: list[str]) -> Parsed:
    """Read and parse landing files; a file that cannot be read is quarantined, not raised."""
    documents, unreadable = [], []
    for path, raw in zip(paths, landing.read_many(paths)):
        if isinstance(raw, OSError):
            unreadable.append(
                {
                    "source_file": path,
                    "row_number": None,
                    "reading_date": None,
                    "reason": f"cannot read file: {raw}",
                    "raw": None,
                }
            )
        else:
            documents.append((path, raw))
    parsed = parse_documents(documents)
    if not unreadable:
        return parsed
    return Parsed(parsed.readings, pl.concat([parsed.quarantine, pl.DataFrame(unreadable, schema=QUARANTINE_SCHEMA)]))


def _discovered_days(parsed, unknown: list[str]) -> pl.DataFrame:
    """(path, days) of the `unknown` files: the days their rows (loaded or rejected) name."""
    named = pl.concat(
        [
            parsed.readings.select("source_file", "reading_date"),
            parsed.quarantine.filter(pl.col("row_number").is_not_null()).select("source_file", "reading_date"),
        ]
    ).filter(pl.col("source_file").is_in(unknown) & pl.col("reading_date").is_not_null())
    days = named.group_by("source_file").agg(pl.col("reading_date").unique().sort().alias("days"))
    return (
        pl.DataFrame({"path": unknown}, schema={"path": pl.String})
        .join(days.rename({"source_file": "path"}), on="path", how="left")
        .with_columns(pl.col("days").fill_null(pl.lit([], dtype=pl.List(pl.Date))))
    )


def _key_range() -> pl.Expr:
    """The first character of the meterpoint id, as hex of its UTF-8 bytes (sorts as the ids do).

    Buckets by it are key ranges: de-duplicating and sorting them one after the other yields
    the day in key order while holding a fraction of it in memory.
    """
    return pl.col("meterpoint_id").str.slice(0, 1).str.encode("hex")


def _assign_days(quarantine: pl.DataFrame, file_days: dict[str, list[date]], days: list[date]) -> pl.DataFrame:
    """Give every reject a day in `days` it is counted on, or drop it (another run counts it).

    A row whose day cannot be told is counted on its file's first day. A rejected file is
    reported on every day it holds, since each of them may be missing its rows; a file in
    which no day can be found at all may hold any day, so every run reports it.
    """
    if quarantine.is_empty():
        return quarantine
    rejected = set(quarantine["source_file"])
    known = pl.DataFrame(
        [(source, file_days[source] or days) for source in rejected],
        schema={"source_file": pl.String, "file_days": pl.List(pl.Date)},
        orient="row",
    )
    with_days = quarantine.join(known, on="source_file", how="left")
    whole_files = (
        with_days.filter(pl.col("row_number").is_null())
        .explode("file_days")
        .with_columns(reading_date=pl.col("file_days"))
    )
    rows = with_days.filter(pl.col("row_number").is_not_null()).with_columns(
        reading_date=pl.coalesce("reading_date", pl.col("file_days").list.min())
    )
    return pl.concat([frame.select(list(QUARANTINE_SCHEMA)) for frame in (rows, whole_files)]).filter(
        pl.col("reading_date").is_in(days)
    )


def assemble_day(day: date, day_dir: Path, files: int) -> DayReadings:
    """De-duplicate one day's staged rows, one key range at a time: the newest delivery wins."""
    latest, conflicts, rows_staged = [], [], 0
    for bucket in sorted({p.name.split("-")[1] for p in day_dir.glob("readings-*.arrow")}):
        readings = _read_staged(day_dir, f"readings-{bucket}", STAGED_SCHEMA)
        rows_staged += readings.height
        # sorted by reading, then delivery: a reading's last row is its newest delivery
        ordered = readings.sort([*KEY, "delivery", "row_number"])
        del readings  # never hold two copies of a bucket
        same_as_next = ordered.select(_same_key(-1)).to_series()
        conflicts.append(_conflicts(ordered.filter(same_as_next | same_as_next.shift(1, fill_value=False))))
        latest.append(ordered.filter(~same_as_next).select(list(LAKE_SCHEMA)))
    quarantine = _read_staged(day_dir, "quarantine", QUARANTINE_SCHEMA)
    readings = pl.concat(latest, rechunk=False) if latest else pl.DataFrame(schema=LAKE_SCHEMA)
    return DayReadings(
        day=day,
        readings=readings,
        quarantine=quarantine.sort(["source_file", "row_number"], nulls_last=False),
        conflicts=pl.concat(conflicts) if conflicts else _conflicts(pl.DataFrame(schema=STAGED_SCHEMA)),
        files=files,
        rows_read=rows_staged + quarantine.filter(pl.col("row_number").is_not_null()).height,
        duplicates=rows_staged - readings.height,
    )


def _conflicts(repeated: pl.DataFrame) -> pl.DataFrame:
    """Readings delivered more than once with different values (`repeated` sorted as in assemble)."""
    return (
        repeated.group_by(KEY, maintain_order=True)
        .agg(
            deliveries=pl.len(),
            distinct_values=pl.col("consumption_kwh").n_unique(),
            values=pl.col("consumption_kwh"),
            sources=pl.col("source_file").cast(pl.String),
            kept_kwh=pl.col("consumption_kwh").last(),
        )
        .filter(pl.col("distinct_values") > 1)
        .drop("distinct_values")
    )


def _same_key(offset: int) -> pl.Expr:
    """True where the row `offset` away (in a frame sorted by KEY) is the same reading."""
    return pl.all_horizontal(pl.col(k) == pl.col(k).shift(offset) for k in KEY).fill_null(False)


def _read_staged(day_dir: Path, prefix: str, schema: dict) -> pl.DataFrame:
    paths = sorted(day_dir.glob(f"{prefix}-*.arrow")) if day_dir.is_dir() else []
    if not paths:
        return pl.DataFrame(schema=schema)
    return pl.concat([pl.read_ipc(p) for p in paths], how="vertical").select(list(schema))
