"""The Parquet lake: where each table's partitions live, and how a partition is replaced.

Layout (hive style, one file per partition, so that a re-run replaces, never appends):
    <root>/<table>/<key>=<value>/part-0.parquet
The root is a local folder or an S3 prefix (storage.Storage). A partition is written whole in
local staging and then published in one step (a rename, or a single PUT): readers see the old
partition or the new one, never a part of one, and a crash leaves the old one whole.
"""

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from octo_assets.storage import ANY, Storage, VersionConflict

PART_FILE = "part-0.parquet"
# the tables (folders under the root) and the keys they are partitioned by: one home for the layout
READINGS_TABLE = "readings"
QUARANTINE_TABLE = "readings_quarantine"
CONFLICTS_TABLE = "readings_conflicts"
FILES_TABLE = "readings_files"  # each day's rows, file by file
DAY_KEY = "date"  # a readings or analytics day
SNAPSHOT_KEY = "snapshot_date"  # a source snapshot's day
REJECTED = "_rejected"  # what failed its audit, kept for inspection
# Parquet key-value metadata: the newest delivery (first sight of a landing file) the data of
# this file was built from
LISTED_AT = "octo.deliveries_seen_ns"
# ... and of a source snapshot table: the SHA-256 of its content (its data version in Dagster)
CONTENT_SHA256 = "octo.content_sha256"


def source_table(table: str) -> str:
    """The folder of a source table's daily snapshots (agreement, product, meterpoint)."""
    return f"source/{table}"


def analytics_table(name: str) -> str:
    return f"analytics/{name}"


class Lake:
    def __init__(self, storage: Storage | str):
        self.storage = storage if isinstance(storage, Storage) else Storage(storage)

    @property
    def root(self) -> str:
        return self.storage.url

    def partition_path(self, table: str, key: str, value: str) -> str:
        """A partition's file, relative to the lake root."""
        return f"{table}/{key}={value}/{PART_FILE}"

    def rejected_path(self, table: str, key: str, value: str, run_id: str) -> str:
        """Where a run keeps a partition that failed its audit, for inspection."""
        return f"{REJECTED}/{table}/{key}={value}/{run_id}.parquet"

    def uri(self, rel: str) -> str:
        return self.storage.uri(rel)

    def table_glob(self, table: str) -> str:
        """The glob DuckDB reads a table through; temporary files never match it."""
        return self.storage.uri(f"{table}/*/*.parquet")

    def partition_values(self, table: str, key: str) -> list[str]:
        """The partition values that hold a complete file, sorted."""
        prefix = f"{key}="
        values = []
        for entry in self.storage.list_files(table, suffix=PART_FILE):
            folder, _, name = entry.path[len(table) + 1 :].partition("/")
            if name == PART_FILE and folder.startswith(prefix):
                values.append(folder[len(prefix) :])
        return sorted(values)

    def existing_partition(self, table: str, key: str, value: str) -> str | None:
        """The URI of a partition's file, or None if it was never written."""
        rel = self.partition_path(table, key, value)
        return self.storage.uri(rel) if self.storage.exists(rel) else None

    def write(self, frame: pl.DataFrame, rel: str, expect: str | None = ANY, metadata: dict | None = None) -> str:
        """Replace the file `rel` with `frame` as Parquet (with key-value `metadata`); returns its URI."""
        with self.storage.publish(rel, expect) as path:
            frame.write_parquet(path, compression="zstd", statistics=True, metadata=metadata)
        return self.storage.uri(rel)

    def write_unless_newer(self, frame: pl.DataFrame, rel: str, watermark_ns: int, force: bool = False) -> bool:
        """Replace `rel` with `frame`, built from deliveries up to `watermark_ns`, unless the published
        file was built from newer deliveries (see `publish_unless_newer`)."""

        def write(path: Path) -> None:
            frame.write_parquet(path, compression="zstd", metadata={LISTED_AT: str(watermark_ns)})

        return self._replace_unless_newer(rel, watermark_ns, write, force)

    def put_file_unless_newer(self, source: Path, rel: str, watermark_ns: int, force: bool = False) -> bool:
        """Publish the Parquet file `source` (its metadata holds `watermark_ns`) as `rel`, unless
        the published file was built from newer deliveries."""
        return self._replace_unless_newer(
            rel, watermark_ns, lambda expect: self.storage.put_file(rel, source, expect), force, whole=True
        )

    def _replace_unless_newer(self, rel: str, watermark_ns: int, write, force: bool, whole: bool = False) -> bool:
        """Two runs of one day (the sensor's and the 08:00 one, or a re-run) may overlap. Whichever
        finishes last, the partition ends up built from the newer deliveries (the watermark: the
        latest first sight of the files it was built from), so a correction only the later run saw
        is never overwritten. The check and the replacement are one compare-and-swap on the file's
        version; a concurrent publish makes it look again. `force` (an operator's rebuild) skips
        the comparison. Returns False when the published file was newer and was kept.
        """
        while True:
            version = self.storage.version(rel)
            if not force and version is not None and self.listed_at(rel) > watermark_ns:
                return False
            try:
                if whole:
                    write(version)
                else:
                    with self.storage.publish(rel, expect=version) as path:
                        write(path)
                return True
            except VersionConflict:
                continue

    def listed_at(self, rel: str) -> int:
        """The newest delivery the data in `rel` was built from (-1: not recorded)."""
        return int(self.file_metadata(rel).get(LISTED_AT, "-1"))

    def file_metadata(self, rel: str) -> dict[str, str]:
        """The key-value metadata of the Parquet file `rel` (its footer only is read)."""
        with self.storage.open(rel) as file:
            metadata = pq.read_metadata(file).metadata or {}
        return {key.decode(): value.decode() for key, value in metadata.items()}

    def read(self, rel: str) -> pl.DataFrame:
        with self.storage.open(rel) as file:
            return pl.read_parquet(file)


class MissingSnapshot(Exception):
    """No source snapshot yet; the message says what to materialise."""


def latest_snapshot(lake: Lake, table: str) -> str:
    """The URI of the latest snapshot of a source table (agreement, product, meterpoint)."""
    return lake.uri(latest_snapshot_path(lake, table))


def latest_snapshot_path(lake: Lake, table: str) -> str:
    """The path (in the lake) of the latest snapshot of a source table."""
    dates = lake.partition_values(source_table(table), SNAPSHOT_KEY)
    if not dates:
        raise MissingSnapshot(
            f"No snapshot of the source `{table}` table in {lake.root}: materialise lake/{table} first."
        )
    return lake.partition_path(source_table(table), SNAPSHOT_KEY, dates[-1])


def snapshot_version(agreement_sha256: str | None, product_sha256: str | None) -> str:
    """What the analytics read of a snapshot, named by content: agreement's hash / product's."""
    return f"{(agreement_sha256 or 'unknown')[:16]}/{(product_sha256 or 'unknown')[:16]}"


@dataclass(frozen=True)
class SnapshotInUse:
    """The latest snapshot of agreement and product, as the analytics read it."""

    relations: dict[str, str]  # agreement, product -> URI
    snapshot_date: str  # the agreement table's
    version: str  # snapshot_version of the two files' content hashes


def snapshot_in_use(lake: Lake) -> SnapshotInUse:
    paths = {table: latest_snapshot_path(lake, table) for table in ("agreement", "product")}
    hashes = {table: lake.file_metadata(path).get(CONTENT_SHA256) for table, path in paths.items()}
    return SnapshotInUse(
        relations={table: lake.uri(path) for table, path in paths.items()},
        snapshot_date=paths["agreement"].split(f"{SNAPSHOT_KEY}=")[1].split("/")[0],
        version=snapshot_version(hashes["agreement"], hashes["product"]),
    )


def readings_partition(lake: Lake, day: str) -> str | None:
    """The URI of a day's published readings, or None if the day was never built."""
    return lake.existing_partition(READINGS_TABLE, DAY_KEY, day)
