"""What the steps of one readings run pass each other: files under the run's own prefix of the lake.

A day runs as several Dagster steps that may sit on different machines (readings.steps): they
share nothing but the object store. Whatever a step hands on that is bigger than a descriptor
(staged rows, a shard's quarantine and file facts, the run's file list) is written here, under
`_staging/<run id>/` at the lake's root, and read by the steps that need it; the step outputs
themselves (descriptors, counts: kilobytes) go through Dagster's IO manager, into the same
prefix (readings.io_manager). The prefix is removed when the day is published; a run that
failed keeps it, so that a re-execution from the failure reuses what its finished steps wrote,
and housekeeping removes it once it is older than the lake's retention (`sweep`).
"""

import io
import pickle
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from octo_assets.storage import Storage

EXCHANGE = "_staging"  # at the lake's root (lake_root knows it as the lake's own)
# a failed run's prefix is kept this long for a re-execution from its failure, then swept
KEPT = timedelta(days=7)


@dataclass(frozen=True)
class Exchange:
    """The prefix of one run (`run`: the id of the run that planned the day)."""

    lake: str  # the lake's URL
    run: str

    @property
    def storage(self) -> Storage:
        return Storage(self.lake).sub(f"{EXCHANGE}/{self.run}")

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A local path to write `name` to; it is in the exchange when the block ends."""
        with self.storage.publish(name, durable=False) as path:
            yield path

    def write_frame(self, name: str, frame: pl.DataFrame) -> str:
        with self.writing(name) as path:
            frame.write_parquet(path, compression="zstd", statistics=False)
        return name

    def read_frame(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.storage.read_bytes(name)))

    def write_object(self, name: str, value) -> str:
        with self.writing(name) as path, open(path, "wb") as file:
            pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
        return name

    def read_object(self, name: str):
        return pickle.loads(self.storage.read_bytes(name))

    def arrow_file(self, name: str) -> pa.ipc.RecordBatchFileReader:
        """An Arrow IPC file of the exchange: memory-mapped on disk, fetched whole from S3."""
        storage = self.storage
        if storage.is_local:
            return pa.ipc.open_file(pa.memory_map(storage.uri(name)))
        return pa.ipc.open_file(pa.BufferReader(storage.read_bytes(name)))

    def clear(self) -> None:
        """Remove the run's prefix: everything its steps wrote here."""
        storage = self.storage
        for entry in storage.list_files():
            storage.delete(entry.path)
        if storage.is_local:  # empty folders are left by deletes on disk (S3 has none)
            for folder in sorted(Path(storage.url).glob("**/"), key=lambda p: len(p.parts), reverse=True):
                try:
                    folder.rmdir()
                except OSError:
                    pass


def sweep(lake: Storage, older_than_s: float, now: float | None = None) -> list[str]:
    """Remove the prefixes of runs that wrote nothing for `older_than_s` (failed runs no longer
    re-executed: a live or resumable run's prefix is younger). Returns the run ids removed."""
    now = time.time() if now is None else now
    newest: dict[str, int] = {}
    for entry in lake.list_files(EXCHANGE):
        run = entry.path[len(EXCHANGE) + 1 :].split("/", 1)[0]
        newest[run] = max(newest.get(run, 0), entry.mtime_ns)
    removed = [run for run, mtime_ns in sorted(newest.items()) if now - mtime_ns / 1e9 > older_than_s]
    for run in removed:
        Exchange(lake.url, run).clear()
    return removed
