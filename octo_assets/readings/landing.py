"""The landing folder: which files are there, and which days each one holds.

Finding a file's days by a byte scan for dates is far cheaper than parsing its JSON, and an
index keyed by (path, size, mtime) means each file is scanned once, not every day. The
index is a cache: losing it costs one rescan, never data.
"""

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

_DATE = re.compile(rb'"(\d{4}-\d{2}-\d{2})[ T]')

INDEX_SCHEMA = {
    "path": pl.String,  # relative to the landing root, POSIX separators
    "size": pl.Int64,
    "mtime_ns": pl.Int64,  # the delivery time: a newer delivery wins over an older one
    "days": pl.List(pl.Date),
}


@dataclass(frozen=True)
class LandingFile:
    path: str
    size: int
    mtime_ns: int
    days: tuple[date, ...]


def days_in_bytes(raw: bytes) -> tuple[date, ...]:
    found = set()
    for match in set(_DATE.findall(raw)):
        try:
            found.add(date.fromisoformat(match.decode()))
        except ValueError:  # 2021-13-45: the parser will quarantine that row
            continue
    return tuple(sorted(found))


def list_landing(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every JSON file below root, sorted by path."""
    files = []
    stack = [(root, "")]
    while stack:  # os.scandir: its entries carry their stat, far cheaper than Path.rglob + stat
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    stack.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.name.endswith(".json") and entry.is_file():
                    stat = entry.stat()
                    files.append((prefix + entry.name, stat.st_size, stat.st_mtime_ns))
    return sorted(files)


def scan_landing(root: Path, previous: dict[str, LandingFile] | None = None) -> tuple[list[LandingFile], int]:
    """Every landing file with its days, reusing `previous` entries whose size and mtime match.

    Returns the files and the number of bytes read to find days.
    """
    previous = previous or {}
    files, bytes_read = [], 0
    for rel, size, mtime_ns in list_landing(root):
        known = previous.get(rel)
        if known and known.size == size and known.mtime_ns == mtime_ns:
            files.append(known)
            continue
        try:
            raw = (root / rel).read_bytes()
        except OSError:
            raw = b""  # unreadable now: it holds no known day; the check names it
        bytes_read += len(raw)
        files.append(LandingFile(rel, size, mtime_ns, days_in_bytes(raw)))
    return files, bytes_read


def files_for_days(files: list[LandingFile], days: set[date]) -> list[LandingFile]:
    return [f for f in files if days.intersection(f.days)]


def index_to_frame(files: list[LandingFile]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "path": [f.path for f in files],
            "size": [f.size for f in files],
            "mtime_ns": [f.mtime_ns for f in files],
            "days": [list(f.days) for f in files],
        },
        schema=INDEX_SCHEMA,
    )


def index_from_frame(frame: pl.DataFrame) -> dict[str, LandingFile]:
    return {
        row["path"]: LandingFile(row["path"], row["size"], row["mtime_ns"], tuple(row["days"]))
        for row in frame.iter_rows(named=True)
    }
