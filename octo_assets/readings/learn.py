"""What a landed file version holds: its days, read with the parser's own grammar
(readings.parse.document_days), and its content hash.

How the landing sensor learns new files (automation.landing_sensor), in its own process or, for a
large backlog, as a task of the worker pool (readings.workers): so this module imports neither
Dagster nor the lake (a worker starts with ~80 MB instead of ~190 MB).

A file's days are those a run counts its rows on (readings.stage): the days of its rows that are
partitions or will be (not before the first, not more than a day after the file was first seen).
A file with none (unreadable, not a readings file by its name, or only rows of such days) is
given `report_on`, whose run reports it. A file that is not a readings file is hashed a chunk
at a time, never parsed.
"""

import hashlib
from dataclasses import dataclass
from datetime import date

from octo_assets.readings.parse import document_days, in_range, is_readings_file, latest_day
from octo_assets.storage import Storage

HASH_CHARS = 32  # of the SHA-256's hex digits: 128 bits


@dataclass(frozen=True)
class LearnTask:
    landing: str  # the landing area's URL
    paths: list[str]
    report_on: date  # the day given to a file in which no day can be read (its run reports it)
    tokens: list[str] | None = None  # on disk: read only these versions, settled (Storage.read_many)
    # each file's first sight (None: now): its rows dated more than a day after it are counted on
    # no day of their own (parse.latest_day)
    first_seen_ns: list[int] | None = None

    def describe(self) -> str:
        return f"{len(self.paths)} landing files from {self.paths[0]}" if self.paths else "no files"


def content_hash(raw: bytes) -> str:
    """What tells two versions of a file apart when size and mtime tie (SHA-256, 128 bits): of the
    bytes stored, so a .json.gz file's is its compressed bytes'."""
    return hashlib.sha256(raw).hexdigest()[:HASH_CHARS]


def content_hash_of(sha256_hex: str) -> str:
    """content_hash from a SHA-256 computed elsewhere (Storage.sha256_many)."""
    return sha256_hex[:HASH_CHARS]


def learn(task: LearnTask) -> list[tuple[str, str, list[date], None]]:
    """(path, sha, days, rows=None) of each file of the task that could be read, in task order. A
    file gone, unreadable or another version since the listing is left out: unread, its next
    version is seen."""
    storage = Storage(task.landing)
    positions = {True: [], False: []}
    for n, path in enumerate(task.paths):
        positions[is_readings_file(path)].append(n)

    def versions(of: list[int]) -> list[str] | None:
        return None if task.tokens is None else [task.tokens[n] for n in of]

    found: dict[int, str | bytes | OSError] = {}
    found.update(
        zip(positions[True], storage.read_many([task.paths[n] for n in positions[True]], versions(positions[True])))
    )
    found.update(
        zip(
            positions[False], storage.sha256_many([task.paths[n] for n in positions[False]], versions(positions[False]))
        )
    )
    readable = [(task.paths[n], raw) for n in positions[True] if isinstance(raw := found[n], bytes)]
    days = document_days(readable)
    learnt = []
    for n, path in enumerate(task.paths):
        value = found[n]
        if isinstance(value, OSError):
            continue
        if isinstance(value, str):  # not a readings file: hashed only
            learnt.append((path, content_hash_of(value), [task.report_on], None))
            continue
        latest = latest_day(None if task.first_seen_ns is None else task.first_seen_ns[n])
        own = [day for day in days.get(path) or [] if in_range(day, latest)]
        learnt.append((path, content_hash(value), own or [task.report_on], None))
    return learnt
