"""Bytes read, by kind of file, from an strace log: what the rchar figures of bench.run are made of.

    strace -f -qq -y -s 0 -e trace=read,pread64,readv,preadv -o TRACE CMD [ARGS...]
    python -m bench.readtrace TRACE [--new-day YYYY-MM-DD]

-y makes strace name each descriptor's file, so every read is attributed to its path; -f
follows the readings workers. Reads from memory maps (e.g. Arrow IPC) make no read() calls
and are not counted, as they are not by rchar either.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

_CALL = re.compile(r"^(\d+)\s+(?:read|pread64|readv|preadv)\(\d+<([^>]*)>(.*)$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (?:read|pread64|readv|preadv) resumed>.*=\s+(-?\d+)")
_RESULT = re.compile(r"=\s+(-?\d+)(?:\s+\w+.*)?$")
# .../<table>/<key>=<value>/part.parquet, the table named by its last two folders
_PARTITION = re.compile(r"([^/]+/[^/]+)/[^/=]+=[^/]+/[^/]+\.parquet$")


def kind(path: str, new_day: str | None) -> str:
    if path.endswith(".json"):
        return "landing JSON (the new day)" if new_day and f"/{new_day}/" in path else "landing JSON"
    if "/_state/" in path:
        return "landing index"
    if table := _PARTITION.search(path):
        return f"Parquet {table.group(1)}"
    if path.endswith(".arrow"):
        return "staged Arrow IPC"
    if "dagster_home" in path:
        return "Dagster instance"
    if path.endswith(".db"):
        return "source SQLite"
    if path.startswith("pipe:"):
        return "pipes"
    if "python3" in path or path.endswith((".py", ".pyc", ".so")) or ".so." in path:
        return "Python modules and libraries"
    return "other"


def bytes_by_kind(trace: Path, new_day: str | None = None) -> dict[str, tuple[int, int]]:
    """(bytes, files) read per kind of file; a call strace split in two is paired by pid."""
    read, files = defaultdict(int), defaultdict(set)
    pending: dict[str, str] = {}

    def add(path: str, count: int) -> None:
        if count > 0:
            read[kind(path, new_day)] += count
            files[kind(path, new_day)].add(path)

    for line in trace.open():
        if call := _CALL.match(line):
            pid, path, rest = call.groups()
            if rest.endswith("<unfinished ...>"):
                pending[pid] = path
            elif result := _RESULT.search(rest):
                add(path, int(result.group(1)))
        elif (resumed := _RESUMED.match(line)) and resumed.group(1) in pending:
            add(pending.pop(resumed.group(1)), int(resumed.group(2)))
    return {k: (read[k], len(files[k])) for k in sorted(read, key=read.get, reverse=True)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.readtrace", description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--new-day", help="count the JSON files under this day's sub-folder apart")
    args = parser.parse_args(argv)
    found = bytes_by_kind(args.trace, args.new_day)
    for what, (count, files) in found.items():
        print(f"{count / 2**20:9.1f} MB {files:7d} files  {what}")
    print(f"{sum(count for count, _ in found.values()) / 2**20:9.1f} MB in all")


if __name__ == "__main__":
    main()
