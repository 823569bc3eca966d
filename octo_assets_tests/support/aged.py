"""A local Delta table made old: each commit moved back to a chosen moment, as if it had been made
then. What reads time in the lake reads these: the commit's own timestamp (history, "as of"),
the removed files' deletion times (vacuum's tombstones), and the modification times of the log
and data files (log cleanup, files no commit names). Every version a test makes is seconds old;
a retention of days can only be tested on a lake whose history is days long."""

import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

LOG = "_delta_log"


def stray(table: Path, day_folder: str, when: datetime) -> Path:
    """A Parquet file in the table no commit names (a write that failed before its commit: named as
    lake.Lake._upload names a day's file), as old as `when`."""
    path = table / day_folder / f"part-{uuid.uuid4()}.zstd.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 not committed")
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def age(table: Path, commits: dict[int, datetime]) -> None:
    """Move each listed version's commit back to its moment (aware datetimes)."""
    for version, when in commits.items():
        ms = int(when.timestamp() * 1000)
        log = table / LOG / f"{version:020d}.json"
        actions = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        for action in actions:
            if "commitInfo" in action:
                action["commitInfo"]["timestamp"] = ms
            if "add" in action:
                action["add"]["modificationTime"] = ms
                data = table / unquote(action["add"]["path"])
                os.utime(data, (when.timestamp(), when.timestamp()))
            if "remove" in action:
                action["remove"]["deletionTimestamp"] = ms
        log.write_text("".join(json.dumps(action) + "\n" for action in actions))
        os.utime(log, (when.timestamp(), when.timestamp()))
