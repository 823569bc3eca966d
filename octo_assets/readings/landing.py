"""The landing index: every file of the landing area, the version last seen, and what it holds.

One row per file path (INDEX_SCHEMA), kept in the lake (`_state/landing_index.parquet`) and
shared by runs and the landing sensor. It answers three questions:

- which files hold a day (`days`), so a day's run reads only those, and a new file is read once;
- which deliveries are new or changed: a listing entry whose (size, mtime, version token) is not
  the indexed one. The token changes on every re-delivery, even one keeping the old mtime and
  size (`cp -p`, `rsync -t`, `mv`); where only the token changed and the content hash (`sha`)
  is the same, nothing was delivered (a `touch`, a `chmod`);
- the order of deliveries (`first_seen_ns`): when the pipeline first listed a version. A file's
  own mtime can be anything a sender kept, so the newer delivery is the one seen later, and the
  file's mtime and path only break ties within one listing.

The index is a cache of what parsing the files tells: losing it costs one read of every file,
never data. Runs and the sensor update it with a compare-and-swap, so concurrent runs never lose
each other's updates.
"""

import hashlib
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.lake import Lake
from octo_assets.readings.clock import LOCAL_TZ
from octo_assets.storage import Storage, Tokens, VersionConflict

INDEX_FILE = "_state/landing_index.parquet"
INDEX_SCHEMA = {
    "path": pl.String,  # relative to the landing root, POSIX separators
    "size": pl.Int64,
    "mtime_ns": pl.Int64,
    "token": pl.String,  # storage.Entry.token: changes on every re-delivery
    "sha": pl.String,  # content hash, once read
    "first_seen_ns": pl.Int64,  # when the pipeline first listed this version: delivery order
    "days": pl.List(pl.Date),  # the days its rows name; null until read
    "rows": pl.Int64,  # rows in its "data" array (null: unreadable or not read yet)
}
VERSION = ["size", "mtime_ns", "token"]


@dataclass(frozen=True)
class Index:
    frame: pl.DataFrame  # INDEX_SCHEMA
    version: str | None  # of the index file, for the compare-and-swap


def load_index(lake: Lake) -> Index:
    version = lake.storage.version(INDEX_FILE)
    if version is None:
        return Index(pl.DataFrame(schema=INDEX_SCHEMA), None)
    with lake.storage.open(INDEX_FILE) as file:
        frame = pl.read_parquet(file)
    return Index(frame.select([pl.col(c).cast(t) for c, t in INDEX_SCHEMA.items()]), version)


def list_landing(landing: Storage) -> pl.DataFrame:
    """The landing area's JSON files: path, size, mtime_ns, token."""
    columns = landing.list_columns(suffix=".json")
    tokens = columns.pop("token")
    frame = pl.DataFrame({name: pl.Series(name, values, dtype=INDEX_SCHEMA[name]) for name, values in columns.items()})
    if isinstance(tokens, Tokens):  # on disk: built here, column-wise
        token = pl.format("{}-{}", pl.Series(tokens.ctime, dtype=pl.Int64), pl.Series(tokens.inode, dtype=pl.UInt64))
        return frame.with_columns(token=token)
    return frame.with_columns(token=pl.Series(list(tokens), dtype=pl.String))


def reconcile(listing: pl.DataFrame, index: pl.DataFrame, listed_at_ns: int) -> pl.DataFrame:
    """The listing, each file with what the index knows of its current version (INDEX_SCHEMA).

    A file whose version is not the indexed one gets null days, sha and rows (to be read) and
    `first_seen_ns = listed_at_ns`; its indexed sha is kept as `indexed_sha` (with the indexed
    first sight, `indexed_first_seen_ns`) so that a new token on the same content changes nothing.
    """
    known = index.select("path", *VERSION, "sha", "first_seen_ns", "days", "rows")
    prior = index.select("path", indexed_sha="sha", indexed_first_seen_ns="first_seen_ns")
    return (
        listing.join(known, on=["path", *VERSION], how="left")
        .join(prior, on="path", how="left")
        .with_columns(pl.col("first_seen_ns").fill_null(listed_at_ns))
        .sort("path")
    )


def with_learnt(current: pl.DataFrame, learnt: pl.DataFrame) -> pl.DataFrame:
    """`current` (from reconcile) updated with what reading files told: sha, days, rows.

    A re-delivered version whose content hash equals the indexed one keeps its first sight:
    the same bytes are not a newer delivery.
    """
    updated = current.update(learnt.select("path", "sha", "days", "rows"), on="path", include_nulls=True)
    return updated.with_columns(
        first_seen_ns=pl.when(pl.col("sha").is_not_null() & (pl.col("sha") == pl.col("indexed_sha")))
        .then(pl.min_horizontal("first_seen_ns", "indexed_first_seen_ns"))
        .otherwise("first_seen_ns")
    )


def save_index(lake: Lake, listed: pl.DataFrame, listed_at_ns: int, attempts: int = 20) -> pl.DataFrame:
    """Merge `listed` (INDEX_SCHEMA: every file of our listing, with what we learnt) into the index.

    A compare-and-swap: if another process updated the index meanwhile, merge again into its
    version. Per path: the same version keeps the earliest first sight and whatever either side
    learnt; a different version seen by a later listing than ours wins over ours; a path we did
    not list stays only if a later listing added it (otherwise it was removed or moved). Returns
    the merged index: every process then agrees on first sights, hence on delivery order.
    """
    ours = listed.select(list(INDEX_SCHEMA)).with_columns(_ours=pl.lit(True))
    for _ in range(attempts):
        current = load_index(lake)
        theirs = current.frame.with_columns(_theirs=pl.lit(True))
        both = ours.join(theirs, on="path", how="full", coalesce=True, suffix="_t")
        later = pl.col("first_seen_ns_t") > listed_at_ns
        same = pl.all_horizontal(pl.col(c) == pl.col(f"{c}_t") for c in VERSION).fill_null(False)
        take_theirs = pl.col("_theirs").fill_null(False) & later.fill_null(False) & ~same
        keep = pl.col("_ours").fill_null(False) | take_theirs
        merged = (
            both.filter(keep)
            .select(
                "path",
                *[pl.when(take_theirs).then(pl.col(f"{c}_t")).otherwise(pl.col(c)).alias(c) for c in VERSION],
                *[
                    pl.when(take_theirs)
                    .then(pl.col(f"{c}_t"))
                    .when(same)
                    .then(pl.coalesce(c, f"{c}_t"))
                    .otherwise(c)
                    .alias(c)
                    for c in ["sha", "days", "rows"]
                ],
                first_seen_ns=pl.when(take_theirs)
                .then("first_seen_ns_t")
                .when(same)
                .then(pl.min_horizontal("first_seen_ns", "first_seen_ns_t"))
                .otherwise("first_seen_ns"),
            )
            .select(list(INDEX_SCHEMA))
            .sort("path")
        )
        try:
            lake.write(merged, INDEX_FILE, expect=current.version)
            return merged
        except VersionConflict:
            continue
    raise RuntimeError(f"the landing index {lake.uri(INDEX_FILE)} kept changing; {attempts} attempts failed")


def files_for_days(current: pl.DataFrame, days: set[date]) -> pl.DataFrame:
    """Files of `current` that may hold any of `days`: those known to, and those not read yet."""
    wanted = pl.lit(sorted(days), dtype=pl.List(pl.Date))
    return current.filter(pl.col("days").is_null() | (pl.col("days").list.set_intersection(wanted).list.len() > 0))


def content_hash(raw: bytes) -> str:
    """What tells two versions of a file apart when size and mtime tie (SHA-256, 128 bits)."""
    return hashlib.sha256(raw).hexdigest()[:32]


DAILY_RUN_HOUR = 8  # the 08:00 run builds the day before


def report_day(first_seen_ns: int) -> date:
    """Where a file with no readable day is reported: the day that the first 08:00 run after its
    first sight builds (files land before 08:00 with the day before's readings)."""
    seen = datetime.fromtimestamp(first_seen_ns / 1e9, ZoneInfo(LOCAL_TZ))
    return seen.date() - timedelta(days=1) if seen.hour < DAILY_RUN_HOUR else seen.date()


def now_ns() -> int:
    """The pipeline's clock for first sights (one place, so that tests can set it)."""
    return time.time_ns()


def delivery_order(current: pl.DataFrame) -> pl.DataFrame:
    """`current` sorted oldest delivery first: by first sight, then mtime, then path."""
    return current.sort(["first_seen_ns", "mtime_ns", "path"])
