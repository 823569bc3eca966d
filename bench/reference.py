"""Reference ingesters: the floor the pipeline's readings load is measured against.

Both turn every split-layout JSON file under a folder (recursively) into one Parquet file with
the raw columns (interval_start as text, consumption_delta as DOUBLE, meterpoint_id as text) and
do nothing else: no validation, no time zones, no partitioning, no dedup.

    python -m bench.reference duckdb|loop READINGS_DIR OUT.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import orjson
import polars as pl

# Typed columns stop read_json sampling; VARCHAR[][] turns each row array into three strings.
_DUCKDB_COPY = """
COPY (
    SELECT row[1] AS interval_start, row[2]::DOUBLE AS consumption_delta, row[3] AS meterpoint_id
    FROM (
        SELECT unnest(data) AS row
        FROM read_json({glob}, columns = {{'columns': 'VARCHAR[]', 'data': 'VARCHAR[][]'}})
    )
) TO {out} (FORMAT parquet)
"""


def _sql_text(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def duckdb_reference(readings_dir: Path, out_path: Path) -> int:
    """DuckDB's own read_json over **/*.json, unnested and written with COPY; returns rows."""
    sql = _DUCKDB_COPY.format(glob=_sql_text(Path(readings_dir) / "**" / "*.json"), out=_sql_text(out_path))
    with duckdb.connect() as con:
        # Row order means nothing here; keeping it serialises the COPY and costs ~40% more CPU.
        con.execute("SET preserve_insertion_order = false")
        return con.execute(sql).fetchone()[0]


def loop_reference(readings_dir: Path, out_path: Path) -> int:
    """One process, one file at a time: orjson, columns via zip(*data), one Polars write."""
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
    frame.write_parquet(out_path)
    return frame.height


REFERENCES = {"duckdb": duckdb_reference, "loop": loop_reference}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=REFERENCES)
    parser.add_argument("readings_dir", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    print(f"rows written: {REFERENCES[args.kind](args.readings_dir, args.out)}")


if __name__ == "__main__":
    main()
