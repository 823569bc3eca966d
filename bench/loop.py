"""The issue's reference: a bare orjson + Polars loop over every JSON file below a folder.

One Python thread, one file at a time: orjson, columns via zip(*data) into Python lists, one
Polars frame, one Parquet file with the raw columns (interval_start as text, consumption_delta,
meterpoint_id). No validation, time zones, partitioning or de-duplication.

    python -m bench.loop READINGS_DIR OUT.parquet
"""

import sys
from pathlib import Path

import orjson
import polars as pl


def loop(readings_dir: Path, out: Path) -> int:
    starts: list[str] = []
    deltas: list[float] = []
    meterpoints: list[str] = []
    for path in Path(readings_dir).rglob("*.json"):
        data = orjson.loads(path.read_bytes())["data"]
        if data:
            file_starts, file_deltas, file_meterpoints = zip(*data)
            starts.extend(file_starts)
            deltas.extend(file_deltas)
            meterpoints.extend(file_meterpoints)
    frame = pl.DataFrame(
        {"interval_start": starts, "consumption_delta": deltas, "meterpoint_id": meterpoints},
        schema={"interval_start": pl.String, "consumption_delta": pl.Float64, "meterpoint_id": pl.String},
    )
    frame.write_parquet(out)
    return frame.height


if __name__ == "__main__":
    print(f"rows written: {loop(Path(sys.argv[1]), Path(sys.argv[2]))}")
