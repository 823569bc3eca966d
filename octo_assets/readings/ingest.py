"""A readings run's data path: landing files -> staged rows -> one checked Parquet file per day.

Memory is bounded by a setting (OCTO_MEMORY_MB: WorkerLimits.memory_mb), not by the size of a day or of a backfill:

1. list the landing area and reconcile it with the landing index (readings.landing): the files
   that may hold the run's days, and the new or changed ones, whose days are learnt by reading;
2. stage: worker processes read, hash and parse batches of files; each row of a wanted day goes
   to local staging, filed under its day and a hash bucket of its meterpoint (readings.stage);
   the landing index learns every file's days, and first sights are agreed (a compare-and-swap);
3. assemble each day a group of buckets at a time, in the workers (readings.assemble): a
   meterpoint is never split between groups, so de-duplication (the newest delivery wins) and
   the checks are exact. Each group becomes one Parquet file of the day, written by its worker
   in the lake's layout; this process only adds up what they measured: at no point is a whole
   day in memory, and no row passes through it.

Nothing here publishes: the asset audits each day, then publishes it (readings.assets).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.domain import LOCAL_TZ
from octo_assets.lake import DAY_KEY, FILES_TABLE, Lake, Placed
from octo_assets.readings import landing as index_of_landing
from octo_assets.readings.assemble import Finding
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.parse import NOT_READINGS, QUARANTINE_SCHEMA, gzip_file, readings_file
from octo_assets.readings.stage import (
    DAY_ROWS_SCHEMA,
    FILE_FACTS_SCHEMA,
    MAX_BUCKETS,
    SLICES,
    Parsed,
    Staged,
    StageTask,
    stage_files,
)
from octo_assets.readings.workers import Pool
from octo_assets.settings import OPEN_DAYS, WorkerLimits
from octo_assets.storage import Storage

MIN_FILES_PER_TASK, MAX_FILES_PER_TASK = 500, 8_000
POOL_MIN_BYTES = 20 * 2**20  # of landing files to read or assemble
BYTES_PER_JSON_ROW = 44  # compact case-study layout; pretty-printed files only overestimate the rows
BYTES_PER_ASSEMBLED_ROW = 200  # a staged row in Arrow (~60 B) and the copies de-duplication makes
GZIP_EXPANSION = 10  # a .json.gz file's JSON is about this many times its size (the sample's: 7.4 to 9)
LAKE_SCHEMA = {
    "meterpoint_id": pl.String,
    "interval_start_utc": pl.Datetime("us", "UTC"),
    "interval_start_local": pl.Datetime("us"),
    "consumption_kwh": pl.Decimal(18, 3),
    "source_file": pl.Categorical,  # a day's millions of rows come from thousands of files: each name stored once
}
ACCOUNTING_SCHEMA = {
    "source_file": pl.String,
    "sha": pl.String,  # the content hash of the version read
    "rows_loaded": pl.UInt32,
    "duplicates": pl.UInt32,
    "rows_quarantined": pl.UInt32,
}


# a staged quarantine row: the file's position in the run's file list instead of its name
_NO_QUARANTINE = pl.DataFrame(
    schema={"file": pl.UInt32, **{k: v for k, v in QUARANTINE_SCHEMA.items() if k != "source_file"}}
)


class LandingFilesGone(Exception):
    """A day's published partition was built from files no longer in the landing area."""


@dataclass
class DayBuild:
    """One day, staged and measured, ready for its audit and publication."""

    day: date
    readings: list[Placed]  # the day's Parquet files, in the table's day folder, committed as they are
    watermark_ns: int  # the newest delivery (first sight) the day was built from
    files: int  # landing files holding the day
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    conflicts: pl.DataFrame  # CONFLICTS_SCHEMA
    accounting: pl.DataFrame  # ACCOUNTING_SCHEMA, a row per file that gave the day rows
    staged: int = 0
    loaded: int = 0
    duplicates: int = 0
    kwh: Decimal = Decimal(0)
    meterpoints: int = 0
    audit: dict = field(default_factory=lambda: {"null_keys": 0, "repeated_keys": 0})
    findings: dict[str, Finding] = field(default_factory=dict)
    half_hours: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"half_hours": pl.UInt32, "meterpoints": pl.UInt32})
    )
    preview: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LAKE_SCHEMA))

    @property
    def quarantined(self) -> int:
        """Rows quarantined (a whole rejected file counts as a file, not as rows)."""
        return self.quarantine.filter(pl.col("row_number").is_not_null()).height

    @property
    def rejected_files(self) -> list[str]:
        return self.quarantine.filter(pl.col("row_number").is_null())["source_file"].to_list()

    @property
    def rows_read(self) -> int:
        return self.staged + self.quarantined

    @property
    def empty(self) -> bool:
        return self.rows_read == 0 and self.quarantine.is_empty()


@dataclass(frozen=True)
class Progress:
    """What a run reports while it works (the run log, and make run's progress bar)."""

    phase: str  # "reading" or "assembling"
    done: int
    total: int
    unit: str  # "files" or "parts"
    day: date | None = None


PRESTAGED = "prestaged.pickle"  # in the pre-pass's exchange
# the landing survey's columns that staging and delivery order use (landing.delivery_order sorts by the last three)
STAGING_COLUMNS = ("path", "size", "first_seen_ns", "mtime_ns")


@dataclass(frozen=True)
class Prestaged:
    """What `prestage` read before a run: the landing area as surveyed, and the new files staged."""

    seen: index_of_landing.Survey  # the folders listed, as recorded
    files: pl.DataFrame  # path of each staged file, in file-list order
    staged: list[Parsed]  # in the exchange
    buckets: int


NOT_ENDED_SCHEMA = {"reading_date": pl.Date, "files": pl.UInt32, "rows_read": pl.UInt32}


@dataclass(frozen=True)
class Landed:
    """What `prestage` found: every day a landing file holds, and the files it could not read."""

    days: list[date]
    # source_file, reason: new files in which no day could be read, and new files that are not
    # readings files by their name (reason parse.NOT_READINGS: `not_readings`)
    unreadable: pl.DataFrame
    report_on: date | None  # the day those files are reported on (None: no day is built)
    # NOT_ENDED_SCHEMA: each day a landing file holds that has not ended yet in Europe/London (today,
    # tomorrow), built by the first run after it ends: `files` listed that hold it, and `rows_read`,
    # its rows in the files this run read (a file read by an earlier run is not read again)
    not_ended: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NOT_ENDED_SCHEMA))
    files: int = 0  # landing files holding the days chosen: what the runs that build them read

    @property
    def not_readings(self) -> pl.DataFrame:
        """source_file, reason of the new files that are not readings files by their name."""
        return self.unreadable.filter(pl.col("reason") == NOT_READINGS)


def last_ended_day() -> date:
    """The newest day that has ended in Europe/London: the last daily partition (yesterday)."""
    return datetime.now(ZoneInfo(LOCAL_TZ)).date() - timedelta(days=1)


def not_ended(staged: list[Staged], current: pl.DataFrame, last_ended: date | None = None) -> pl.DataFrame:
    """NOT_ENDED_SCHEMA from what `staged` read and the survey's files (`current`: path, days)."""
    last = last_ended or last_ended_day()
    holding = (
        current.select("days")
        .filter(pl.col("days").list.max() > last)
        .explode("days")
        .filter(pl.col("days") > last)
        .group_by(reading_date="days")
        .agg(files=pl.len())
    )
    counted = [s.day_rows for s in staged if s.day_rows is not None]
    read = pl.concat([pl.DataFrame(schema=DAY_ROWS_SCHEMA), *counted]).filter(pl.col("reading_date") > last)
    read = read.group_by("reading_date").agg(rows_read=pl.col("rows").sum())
    return (
        holding.join(read, on="reading_date", how="full", coalesce=True)
        .with_columns(pl.col("files", "rows_read").fill_null(0))
        .select(list(NOT_ENDED_SCHEMA))
        .cast(NOT_ENDED_SCHEMA)
        .sort("reading_date")
    )


def prestage(
    landing: Storage,
    lake: Lake,
    exchange: Exchange,
    limits: WorkerLimits,
    choose_days: Callable[[list[date], index_of_landing.Survey, pl.DataFrame], list[date]],
    wanted: list[date] | None = None,
    progress=lambda p: None,
    open_days: int = OPEN_DAYS,
    everything: bool = True,
) -> Landed:
    """Read every new file of the folders `wanted` needs (every folder when None), once, keeping the
    rows of `wanted` (all rows when None) in `exchange` for the runs that follow.

    `make run` must name its days before its runs start. It learns them here while parsing, and
    the runs' plan uses this survey and what was staged (readings.steps.plan, `prestaged`):
    nothing is listed or read twice. `choose_days` turns the landed days, the survey and its files with
    what reading them told (path, sha, days) into the days the run builds; the last of them is where
    files with no readable day are reported (the run that read them says so). Without `everything`
    (and `wanted`), only the folders `landing.plan` chooses are listed, and the folders holding the
    chosen days once these are known.
    """
    seen = index_of_landing.survey(
        landing, lake, index_of_landing.now_ns(), set(wanted or []), wanted is None and everything, open_days
    )
    # only what staging needs: at a million files each column of the survey is tens of MB
    unknown = index_of_landing.delivery_order(seen.current.filter(pl.col("days").is_null()).select(*STAGING_COLUMNS))
    buckets = buckets_for(json_bytes(seen.current), limits.memory_bytes)
    with _pool(json_bytes(unknown), limits) as pool:
        staged = _stage(pool, landing, unknown, exchange, wanted, buckets, 0, progress, report_on=None)
    learnt = _learnt(unknown, staged)
    counts = [s.facts.height for s in staged]
    staged = [replace(s, facts=s.facts.clear()) for s in staged]  # in `learnt` now: the run reads none of them
    landed = sorted(
        set(index_of_landing.landed_days(seen.folders.frame, seen.current))
        | set(learnt["days"].explode().drop_nulls().to_list())
    )
    known = index_of_landing.with_learnt(seen.current, learnt).select("path", "sha", "days")
    built = choose_days(landed, seen, known)
    del known
    report_on = built[-1] if built else None
    staged, learnt = report_unread_on(staged, learnt, report_on)
    seen = index_of_landing.record(lake, seen, learnt)
    unlisted = seen.unlisted()["days"].explode().drop_nulls()
    if wanted is None and not everything and unlisted.is_in(built).any():
        # a day to build is held by a folder not listed: list it, so that the run reads all its files
        seen = index_of_landing.survey(landing, lake, index_of_landing.now_ns(), set(built), open_days=open_days)
    parsed, first = [], 0
    for batch, count in zip(staged, counts):
        parsed.append(Parsed.of(batch, first, count))
        first += count
    exchange.write_object(PRESTAGED, Prestaged(seen.without_file_tables(), unknown.select("path"), parsed, buckets))
    unreadable = _rejected_whole(staged, unknown.select("path"))
    held = index_of_landing.files_for_days(seen.current, set(built)).height
    return Landed(landed, unreadable, report_on, not_ended(staged, seen.current), held)


def report_unread_on(staged: list[Staged], learnt: pl.DataFrame, day: date | None) -> tuple[list[Staged], pl.DataFrame]:
    """Files read with no readable day of their own, reported on `day`: their quarantine rows
    counted on it, and `day` recorded as their day. With no day, they stay unread in the landing
    state (the next run that reads them reports them)."""
    no_day = pl.col("sha").is_not_null() & pl.col("days").is_null()
    if day is None:
        return staged, learnt.filter(~no_day)
    undecided = pl.col("reading_date").is_null()
    staged = [
        replace(
            s,
            quarantine=s.quarantine.with_columns(
                reading_date=pl.when(undecided).then(pl.lit(day)).otherwise("reading_date")
            ),
        )
        for s in staged
    ]
    return staged, learnt.with_columns(days=pl.when(no_day).then(pl.lit([day], pl.List(pl.Date))).otherwise("days"))


def _rejected_whole(staged: list[Staged], files: pl.DataFrame) -> pl.DataFrame:
    """source_file, reason of the files rejected whole in `staged` (positions in `files`)."""
    rows = pl.concat([_NO_QUARANTINE, *[s.quarantine.filter(pl.col("row_number").is_null()) for s in staged]])
    return rows.select(source_file=files["path"].gather(rows["file"]), reason="reason").sort("source_file")


def _pool(input_bytes: int, limits: WorkerLimits) -> Pool:
    """For a small input a worker's start-up (~0.5 s) costs more than it saves: one process."""
    return Pool(limits.processes if input_bytes > POOL_MIN_BYTES else 1, limits.task_timeout_s)


def _stage(
    pool: Pool,
    landing: Storage,
    files: pl.DataFrame,
    exchange: Exchange,
    days,
    buckets: int,
    first: int,
    progress,
    report_on,
):
    staged = []
    done = 0
    tasks = _stage_tasks(landing, files, exchange, days, buckets, first, pool.workers, report_on)
    for result in pool.run(stage_files, tasks):
        staged.append(result)
        done += result.facts.height
        progress(Progress("reading", done, files.height, "files"))
    return staged


def refuse_if_files_gone(lake: Lake, current: pl.DataFrame, days: list[date]) -> None:
    """A re-run never blanks a day: refuse days whose published rows came from files no longer in
    the landing area (a file moved within it, same content, is not gone)."""
    listed = current.select("path", "sha")
    problems = []
    for day in days:
        published = lake.read_day(FILES_TABLE, DAY_KEY, day.isoformat())
        if published is None:
            continue
        published = published.filter(pl.col("rows_loaded") > 0)
        gone = published.join(listed, left_on="source_file", right_on="path", how="anti").join(
            listed.drop_nulls("sha"), on="sha", how="anti"
        )
        if gone.height:
            lost = int(gone["rows_loaded"].sum())
            problems.append(
                f"{day}: {gone.height} landing file(s) its published readings came from are gone "
                f"(e.g. {gone['source_file'][0]}), so re-running would drop their {lost} readings; nothing was "
                "replaced. Restore the files, or run again with run config "
                "`ops: {lake__readings: {config: {force: true}}}` to rebuild the day from what is there now."
            )
    if problems:
        raise LandingFilesGone("\n".join(problems))


def json_bytes(files: pl.DataFrame) -> int:
    """The bytes of JSON the landing files of `files` (path, size) hold: a .json.gz file's size
    times GZIP_EXPANSION, a file that is not read (only hashed) none."""
    path = pl.col("path")
    weight = pl.when(~readings_file(path)).then(0).when(gzip_file(path)).then(GZIP_EXPANSION).otherwise(1)
    return int(files.select((pl.col("size") * weight).sum()).item() or 0)


def buckets_for(input_bytes: int, budget: int) -> int:
    """Hash buckets per day: enough that one bucket's share of the whole input fits the budget,
    and at least one a slice (a power of two, so that ranges of consecutive buckets are even)."""
    needed = max(input_bytes / BYTES_PER_JSON_ROW * BYTES_PER_ASSEMBLED_ROW / budget, SLICES)
    return min(MAX_BUCKETS, 1 << math.ceil(math.log2(needed)))


def _stage_tasks(
    landing: Storage,
    to_read: pl.DataFrame,
    exchange: Exchange,
    days,
    buckets: int,
    first: int,
    workers: int,
    report_on: date | None,
) -> list:
    paths = to_read["path"].to_list()
    seen = to_read["first_seen_ns"].to_list() if "first_seen_ns" in to_read.columns else None
    # a few tasks per worker, to balance them; big enough that a task's fixed cost does not count
    size = min(MAX_FILES_PER_TASK, max(MIN_FILES_PER_TASK, math.ceil(len(paths) / (4 * workers))))
    return [
        StageTask(
            number=n,
            landing=landing.url,
            exchange=exchange,
            paths=paths[start : start + size],
            first_file=first + start,
            report_on=report_on,
            days=days,
            buckets=buckets,
            first_seen_ns=seen[start : start + size] if seen is not None else None,
        )
        for n, start in enumerate(range(0, len(paths), size), start=first + 1)
    ]


def _learnt(read: pl.DataFrame, staged: list[Staged], first: int = 0) -> pl.DataFrame:
    """path, sha, days, rows of the files of `read` (staged from position `first` on) that were read."""
    facts = pl.concat([s.facts for s in staged]) if staged else pl.DataFrame(schema=FILE_FACTS_SCHEMA)
    positions = read.select("path").with_row_index("file", offset=first).with_columns(pl.col("file").cast(pl.UInt32))
    learnt = positions.join(facts, on="file", how="inner").drop("file")
    return learnt.filter(pl.col("sha").is_not_null()).select("path", "sha", "days", "rows")
