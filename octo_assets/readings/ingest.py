"""What a readings run's steps share (readings.steps): a day's build as the publish step audits
it, make run's pre-pass as the runs take it over, the landing files a step reads, and the rule
that refuses to blank a day whose files are gone."""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.domain import LOCAL_TZ
from octo_assets.lake import DAY_KEY, FILES_TABLE, Lake, Placed
from octo_assets.readings import landing as index_of_landing
from octo_assets.readings.assemble import Finding
from octo_assets.readings.parse import NOT_READINGS, QUARANTINE_SCHEMA, gzip_file, readings_file
from octo_assets.readings.stage import (
    MAX_BUCKETS,
    SLICES,
    Parsed,
)

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


def json_weight() -> pl.Expr:
    """The bytes of JSON a landing file (path, size) holds: a .json.gz file's size times
    GZIP_EXPANSION, a file that is not read (only hashed) none."""
    path = pl.col("path")
    factor = pl.when(~readings_file(path)).then(0).when(gzip_file(path)).then(GZIP_EXPANSION).otherwise(1)
    return pl.col("size") * factor


def json_bytes(files: pl.DataFrame) -> int:
    """The bytes of JSON the landing files of `files` (path, size) hold (json_weight)."""
    return int(files.select(json_weight().sum()).item() or 0)


def buckets_for(input_bytes: int, budget: int) -> int:
    """Hash buckets per day: enough that one bucket's share of the whole input fits the budget,
    and at least one a slice (a power of two, so that ranges of consecutive buckets are even)."""
    needed = max(input_bytes / BYTES_PER_JSON_ROW * BYTES_PER_ASSEMBLED_ROW / budget, SLICES)
    return min(MAX_BUCKETS, 1 << math.ceil(math.log2(needed)))
