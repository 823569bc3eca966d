"""The Parquet lake: where each table's partitions live, and atomic writes into it.

Layout (hive style, one file per partition so that a re-run replaces, never appends):
    <root>/<table>/<key>=<value>/part-0.parquet
A write goes to a temporary file beside its target and is renamed over it: readers see the
old partition or the new one, never half of one, and a crash leaves the old one whole.
"""

import os
import time
import uuid
from pathlib import Path

import polars as pl

PART_FILE = "part-0.parquet"


class Lake:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def partition_file(self, table: str, key: str, value: str) -> Path:
        return self.table_dir(table) / f"{key}={value}" / PART_FILE

    def table_glob(self, table: str) -> str:
        """The glob DuckDB reads a table through; temporary files never match it."""
        return (self.table_dir(table) / "*" / "*.parquet").as_posix()

    def partition_values(self, table: str, key: str) -> list[str]:
        """The partition values that hold a complete file, sorted."""
        directory = self.table_dir(table)
        if not directory.is_dir():
            return []
        prefix = f"{key}="
        return sorted(
            d.name[len(prefix) :]
            for d in directory.iterdir()
            if d.name.startswith(prefix) and (d / PART_FILE).is_file()
        )

    def existing_partition(self, table: str, key: str, value: str) -> Path | None:
        path = self.partition_file(table, key, value)
        return path if path.is_file() else None

    def latest_partition(self, table: str, key: str) -> Path | None:
        values = self.partition_values(table, key)
        return self.partition_file(table, key, values[-1]) if values else None

    def write(self, frame: pl.DataFrame, path: Path) -> Path:
        write_parquet_atomic(frame, path)
        return path


STALE_TMP_S = 3600  # a temporary file this old was left by a killed writer


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _remove_stale_tmp(path)


def _remove_stale_tmp(path: Path) -> None:
    """Leftovers of writers killed mid-write; a live writer's file is younger than STALE_TMP_S."""
    now = time.time()
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if now - leftover.stat().st_mtime > STALE_TMP_S:
                leftover.unlink()
        except FileNotFoundError:
            pass
