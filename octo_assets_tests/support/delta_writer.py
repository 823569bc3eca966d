"""A lake writer in its own process, for the tests of concurrent Delta commits (test_delta_lake).

    python -m octo_assets_tests.support.delta_writer SPEC.json

SPEC: {"root": lake root, "table": ..., "ready": file to create once imported (optional),
"go": file to wait for before the first publish (optional), "publishes": [{"day", "k", "n",
"watermark" (optional), "delay" (seconds slept before, optional), "parquet" (bool: hand the
rows over as a staged Parquet file instead of a frame), "files" (bool: as Parquet files in the
table's day folder, committed as they are: lake.Placed)}]}.

Publishing {"k": k, "n": n} replaces the day with n rows (k, i) for i in 0..n-1. One JSON line
per publish goes to stdout: {"day", "k", "watermark", "version"} (version None: refused).
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from octo_assets.lake import DAY_KEY, Lake, Placed, data_file


def rows(k: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"k": [k] * n, "i": list(range(n))}, schema={"k": pl.Int64, "i": pl.Int64})


def as_files(frame: pl.DataFrame, folder: Path, lake: Lake, table: str, day: str, parts: int = 2) -> list[Placed]:
    """The rows as up to `parts` Parquet files placed in the table's day folder, as the readings'
    assembling steps write them (not committed: Lake.publish commits them)."""
    size = max(1, -(-frame.height // parts))
    files = []
    for number, start in enumerate(range(0, max(frame.height, 1), size)):
        path = folder / f"{time.monotonic_ns()}-{number}.parquet"
        pq.write_table(frame.slice(start, size).to_arrow(), path, store_schema=False, compression="zstd")
        files.append(lake.place(table, DAY_KEY, day, data_file(path)))
    return files


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    lake = Lake(spec["root"])
    if spec.get("ready"):
        Path(spec["ready"]).touch()
    if spec.get("go"):
        deadline = time.monotonic() + 120
        while not Path(spec["go"]).exists():
            if time.monotonic() > deadline:
                raise SystemExit("never told to start")
            time.sleep(0.005)
    staging = Path(tempfile.mkdtemp(prefix="delta-writer-"))
    for number, step in enumerate(spec["publishes"]):
        time.sleep(step.get("delay", 0))
        data = rows(step["k"], step["n"])
        if step.get("files"):
            data = as_files(data, staging, lake, spec["table"], step["day"])
        elif step.get("parquet"):
            path = staging / f"{number}.parquet"
            data.write_parquet(path, row_group_size=max(1, step["n"] // 2))
            data = path
        published = lake.publish(
            spec["table"],
            DAY_KEY,
            step["day"],
            data,
            run_id=f"writer-{spec.get('name', '')}-{number}",
            watermark_ns=step.get("watermark"),
        )
        line = {"day": step["day"], "k": step["k"], "watermark": step.get("watermark"), "version": published.version}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
