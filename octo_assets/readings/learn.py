"""What a landed file version holds: its days, read with the parser's own grammar
(readings.parse.document_days), and its content hash.

How the landing sensor learns new files (automation.landing_sensor), in its own process or, for a
large backlog, as a task of the worker pool (readings.workers): so this module imports neither
Dagster nor the lake (a worker starts with ~80 MB instead of ~190 MB).
"""

import hashlib
from dataclasses import dataclass
from datetime import date

from octo_assets.readings.parse import document_days
from octo_assets.storage import Storage


@dataclass(frozen=True)
class LearnTask:
    landing: str  # the landing area's URL
    paths: list[str]
    report_on: date  # the day given to a file in which no day can be read (its run reports it)
    tokens: list[str] | None = None  # on disk: read only these versions, settled (Storage.read_many)

    def describe(self) -> str:
        return f"{len(self.paths)} landing files from {self.paths[0]}" if self.paths else "no files"


def content_hash(raw: bytes) -> str:
    """What tells two versions of a file apart when size and mtime tie (SHA-256, 128 bits)."""
    return hashlib.sha256(raw).hexdigest()[:32]


def learn(task: LearnTask) -> list[tuple[str, str, list[date], None]]:
    """(path, sha, days, rows=None) of each file of the task that could be read, in task order. A
    file gone, unreadable or another version since the listing is left out: unread, its next
    version is seen."""
    raws = Storage(task.landing).read_many(task.paths, task.tokens)
    readable = [(path, raw) for path, raw in zip(task.paths, raws) if not isinstance(raw, OSError)]
    days = document_days(readable)
    return [(path, content_hash(raw), days.get(path) or [task.report_on], None) for path, raw in readable]
