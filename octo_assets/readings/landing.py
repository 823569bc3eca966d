"""The landing folder: which files are there, and which days each one holds.

Finding a file's days by a byte scan for dates is far cheaper than parsing its JSON, and an
index keyed by (path, size, mtime) means each file is scanned once, not every day. The
index is a cache (a Polars frame, INDEX_SCHEMA): losing it costs one rescan, never data.
"""

import re
from datetime import date

import polars as pl

from octo_assets.storage import Storage

_DATE = re.compile(rb'"(\d{4}-\d{2}-\d{2})[ T]')

INDEX_SCHEMA = {
    "path": pl.String,  # relative to the landing root, POSIX separators
    "size": pl.Int64,
    "mtime_ns": pl.Int64,  # the delivery time: a newer delivery wins over an older one
    "days": pl.List(pl.Date),
}


def days_in_bytes(raw: bytes) -> tuple[date, ...]:
    found = set()
    for match in set(_DATE.findall(raw)):
        try:
            found.add(date.fromisoformat(match.decode()))
        except ValueError:  # 2021-13-45: the parser will quarantine that row
            continue
    return tuple(sorted(found))


def list_landing(landing: Storage) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every JSON file of the landing area, sorted by path."""
    return [(e.path, e.size, e.mtime_ns) for e in landing.list_files(suffix=".json")]


def scan_landing(
    landing: Storage, previous: pl.DataFrame | None = None, read_new: bool = True
) -> tuple[pl.DataFrame, int]:
    """The index (INDEX_SCHEMA) of every landing file, and the bytes read to make it.

    Files whose size and mtime match `previous` keep their days. The days of the others (new or
    changed) are found by a byte scan, or left null (unknown) with `read_new=False`, for a
    caller that is about to parse them anyway.
    """
    listing = pl.DataFrame(list_landing(landing), schema=[k for k in INDEX_SCHEMA if k != "days"], orient="row")
    known = previous if previous is not None else pl.DataFrame(schema=INDEX_SCHEMA)
    index = listing.join(known, on=["path", "size", "mtime_ns"], how="left")
    if not read_new:
        return index.select(list(INDEX_SCHEMA)), 0
    unread = index.filter(pl.col("days").is_null())["path"].to_list()
    found_text, bytes_read = [], 0
    for raw in landing.read_many(unread):
        if isinstance(raw, OSError):
            raw = b""  # unreadable now: no known day, so every run reads it and reports why
        bytes_read += len(raw)
        found_text.append(b",".join(set(_DATE.findall(raw))).decode())
    found = pl.DataFrame({"path": unread, "days": found_text}, schema={"path": pl.String, "days": pl.String})
    found = found.with_columns(
        pl.col("days").str.split(",").list.eval(pl.element().str.to_date(strict=False).drop_nulls().sort())
    )
    return index.update(found, on="path").select(list(INDEX_SCHEMA)), bytes_read


def files_for_days(index: pl.DataFrame, days: set[date]) -> pl.DataFrame:
    """Files holding any of `days`, files of unknown days (null) and files in which no day
    was found (an empty list): those two may hold any day."""
    wanted = pl.lit(sorted(days), dtype=pl.List(pl.Date))
    return index.filter(
        pl.col("days").is_null()
        | (pl.col("days").list.len() == 0)
        | (pl.col("days").list.set_intersection(wanted).list.len() > 0)
    )
