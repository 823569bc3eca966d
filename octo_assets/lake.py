"""The lake: Delta tables (delta-rs, the `deltalake` package) under one root, on disk or on S3.

Layout: one Delta table per folder, partitioned by day.
    <root>/readings/_delta_log/...             the table's transaction log
    <root>/readings/date=2021-01-01/part-*.parquet
A day is replaced in one commit: an overwrite whose predicate is that day, so a reader sees the
table before the commit or after it, never a part of a day, and a day may be many files. Old
files stay (time travel, readers holding an older version) until housekeeping vacuums them.

Each commit carries the Dagster run id and the partition it published. Where two runs may build
one day from different deliveries (the readings), the commit also records, as a Delta application
transaction (app id `<key>=<day>`), the newest delivery it was built from: the check "is the
published day newer?" and the commit are one optimistic transaction, since a concurrent commit of
the same day changes that transaction and makes ours fail and look again.

Only the landing state (`_state/`) and the audits' rejects (`_rejected/`) stay plain Parquet files.
"""

import json
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Schema, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from octo_assets.settings import DEFAULT_RETENTION_DAYS
from octo_assets.storage import ANY, Storage

# the tables (folders under the root) and the keys they are partitioned by: one home for the layout
READINGS_TABLE = "readings"
QUARANTINE_TABLE = "readings_quarantine"
CONFLICTS_TABLE = "readings_conflicts"
FILES_TABLE = "readings_files"  # each day's rows, file by file
DAY_KEY = "date"  # a readings or analytics day
SNAPSHOT_KEY = "snapshot_date"  # a source snapshot's day
REJECTED = "_rejected"  # what failed its audit, kept for inspection
DELTA_LOG = "_delta_log"
# commit metadata (Delta commitInfo): who published what
RUN_ID = "dagster_run_id"
PARTITION = "partition"
CONTENT_SHA256 = "octo.content_sha256"  # a source snapshot's content (its data version in Dagster)
WATERMARK = "octo.deliveries_seen_ns"  # the newest delivery a readings day was built from
COMMIT = "octo.commit"  # a commit's own id: how a writer finds the version it committed
CHECKPOINT_INTERVAL = 10  # commits between two checkpoints of a table's log
MAX_ATTEMPTS = 50  # commits lost to concurrent writers of the same table before giving up
SOURCE_TABLES = ("agreement", "product", "meterpoint")
WRITER = WriterProperties(compression="ZSTD")


def source_table(table: str) -> str:
    """The Delta table of a source table's daily snapshots (agreement, product, meterpoint)."""
    return f"source/{table}"


def analytics_table(name: str) -> str:
    return f"analytics/{name}"


def lake_tables(analytics: tuple[str, ...] = ()) -> list[str]:
    """Every Delta table of the lake, given the analytics tables' names."""
    return [
        READINGS_TABLE,
        QUARANTINE_TABLE,
        CONFLICTS_TABLE,
        FILES_TABLE,
        *(source_table(t) for t in SOURCE_TABLES),
        *(analytics_table(t) for t in analytics),
    ]


class CommitLost(Exception):
    """A day's commit kept losing to concurrent commits of the same table."""


@dataclass(frozen=True)
class Published:
    """What publishing a day did: the table version that holds it, or None if a newer run's stands."""

    version: int | None
    uri: str

    @property
    def replaced(self) -> bool:
        return self.version is not None


@dataclass(frozen=True)
class DataFile:
    """A Parquet file already written in a table's layout (Delta's types, no partition column),
    committed as it is: a day of readings is encoded once, by the workers that assembled it."""

    path: Path
    rows: int
    schema: pa.Schema  # the file's columns as the table stores them (delta_schema)
    stats: str  # Delta file statistics, JSON (file_stats)


@dataclass(frozen=True)
class Placed:
    """A Parquet file already in its table's day folder under a name of its own, awaiting the
    commit that names it (Lake.place). Written by the step that assembled it, committed by the
    step that publishes the day: a day's many files pass between them as these few hundred bytes."""

    rel: str  # inside the table: <key>=<day>/part-<uuid>.zstd.parquet
    size: int
    rows: int
    schema: pa.Schema
    stats: str


@dataclass(frozen=True)
class TableVersion:
    """One version of a table as a reader pins it: its files and when it was committed."""

    table: str
    version: int
    committed_at: datetime
    files: list[str]
    schema: pa.Schema


class Lake:
    def __init__(self, storage: Storage | str, retention_days: int = DEFAULT_RETENTION_DAYS):
        self.storage = storage if isinstance(storage, Storage) else Storage(storage)
        self.retention_days = retention_days

    @property
    def root(self) -> str:
        return self.storage.url

    def uri(self, rel: str) -> str:
        return self.storage.uri(rel)

    # -- Delta tables ----------------------------------------------------------------------------

    @property
    def storage_options(self) -> dict[str, str] | None:
        """delta-rs reads the standard AWS_* variables itself; an http:// endpoint (a local S3
        server) must be allowed explicitly."""
        if self.storage.is_local:
            return None
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        return {"AWS_ALLOW_HTTP": "true"} if endpoint.startswith("http://") else {}

    def table_uri(self, table: str) -> str:
        return self.storage.uri(table)

    def delta(self, table: str, version: int | None = None) -> DeltaTable | None:
        """The table (latest, or at a version number), or None if it does not exist."""
        try:
            return DeltaTable(self.table_uri(table), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def publish(
        self,
        table: str,
        key: str,
        value: str,
        data: pl.DataFrame | Path | list[Placed],
        run_id: str,
        watermark_ns: int | None = None,
        force: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> Published:
        """Replace the day `key = value` of `table` with `data` in one commit, creating the table on
        first use. `data` is a frame or a staged Parquet file, which delta-rs encodes, or files
        already placed in the day's folder (`place`), committed as they are (a large day: no second
        encoding, and no copy).

        With `watermark_ns` (the newest delivery the day was built from), a day published from
        newer deliveries is kept (returns version None) unless `force` (an operator's rebuild).
        """
        app_id = f"{key}={value}"
        info = {RUN_ID: run_id, PARTITION: value, **(metadata or {})}
        transactions = []
        if watermark_ns is not None:
            info[WATERMARK] = str(watermark_ns)
            transactions = [Transaction(app_id, watermark_ns)]
        for attempt in range(MAX_ATTEMPTS):
            # the comparison and the commit go through one table object: a commit of the same day
            # since it was read changed the day's application transaction, and makes ours fail
            current = self.delta(table)
            if current is not None and watermark_ns is not None and not force:
                published = current.transaction_version(app_id)
                if published is not None and published > watermark_ns:
                    return Published(None, self.table_uri(table))
            try:
                if isinstance(data, list):
                    now = int(time.time() * 1000)
                    added = [AddAction(f.rel, f.size, {key: value}, now, True, f.stats) for f in data]
                    schema = _table_schema(data, key)
                    version = self._commit(current, table, key, value, schema, added, info, transactions)
                    return Published(version, self.table_uri(table))
                if current is None:
                    self._create(table, key, _with_key(data, key, value), info, transactions)
                    return Published(0, self.table_uri(table))
                write_deltalake(
                    current,
                    _with_key(data, key, value),
                    mode="overwrite",
                    predicate=f"{key} = '{value}'",
                    partition_by=[key],
                    schema_mode="merge",  # a column the code adds joins the table (older days: null)
                    commit_properties=CommitProperties(custom_metadata=info, app_transactions=transactions),
                    writer_properties=WRITER,
                )
                # the table object is moved to the version its write committed (whatever came since)
                return Published(current.version(), self.table_uri(table))
            except CommitFailedError:
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # a concurrent commit won: look again
            except Exception:
                if current is not None or self.delta(table) is None:
                    raise
                # another writer created the table first: compare with what it committed
        raise CommitLost(f"{self.table_uri(table)}: the commit of {app_id} lost to {MAX_ATTEMPTS} concurrent commits")

    def _create(self, table: str, key: str, rows: pa.RecordBatchReader, info: dict, transactions: list) -> None:
        """The table's first commit, holding the day: fails if another writer created it first
        (delta-rs would otherwise retry it as a second creation over the winner's commit)."""
        write_deltalake(
            self.table_uri(table),
            rows,
            mode="error",
            partition_by=[key],
            storage_options=self.storage_options,
            configuration=self.table_configuration(),
            commit_properties=CommitProperties(
                custom_metadata=info, app_transactions=transactions, max_commit_retries=0
            ),
            writer_properties=WRITER,
        )

    def place(self, table: str, key: str, value: str, file: DataFile) -> Placed:
        """Put a file in the day's folder of the table, under a name of its own; nothing reads it
        until a commit names it (a commit that never comes leaves it to housekeeping)."""
        rel = f"{key}={value}/part-{uuid.uuid4()}.zstd.parquet"
        self.storage.put_file(f"{table}/{rel}", file.path)
        return Placed(rel, file.path.stat().st_size, file.rows, file.schema, file.stats)

    def _commit(
        self,
        current: DeltaTable | None,
        table: str,
        key: str,
        value: str,
        schema: pa.Schema,
        added: list[AddAction],
        info: dict,
        transactions: list,
    ) -> int:
        """Commit `added` as the whole day `key = value` (the files it had are removed); returns
        the version committed."""
        if current is None:
            create_table_with_add_actions(
                self.table_uri(table),
                Schema.from_arrow(schema),
                added,
                mode="error",
                partition_by=[key],
                configuration=self.table_configuration(),
                storage_options=self.storage_options,
                commit_properties=CommitProperties(
                    custom_metadata=info, app_transactions=transactions, max_commit_retries=0
                ),
            )
            return 0
        before, commit = current.version(), str(uuid.uuid4())
        current.create_write_transaction(
            added,
            mode="overwrite",
            schema=schema,
            partition_by=[key],
            partition_filters=[(key, "=", value)],
            commit_properties=CommitProperties(custom_metadata={**info, COMMIT: commit}, app_transactions=transactions),
        )
        # the binding does not say which version it committed (concurrent commits may precede it)
        return committed_version(current, before, commit)

    def table_configuration(self) -> dict[str, str]:
        """Time travel reaches back `retention_days`: neither the log nor replaced files go sooner.
        A checkpoint every CHECKPOINT_INTERVAL commits: opening a table reads it and at most that
        many commits, however long its history (a day is a commit: Delta's default, 100, made a
        year's `make run` with nothing new twice as slow as a day's)."""
        interval = f"interval {self.retention_days} days"
        return {
            "delta.logRetentionDuration": interval,
            "delta.deletedFileRetentionDuration": interval,
            "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
        }

    def commit_info(self, table: str, value: str, limit: int = 200) -> dict | None:
        """The newest commit (within the last `limit`) that published the partition `value`."""
        found = self.delta(table)
        if found is None:
            return None
        for depth in (5, limit):  # usually the latest commits: each one is a read on S3
            for entry in history(found, limit=depth):
                if entry.get(PARTITION) == value:
                    return entry
        return None

    def day_files(self, table: str, key: str, value: str, current: DeltaTable | None = None) -> list[str]:
        """The files of the day `key = value` in the table's latest version ([]: none, or no table)."""
        current = current or self.delta(table)
        if current is None:
            return []
        return current.file_uris(file_pruning_predicate=[(key, "=", value)])

    def read_day(self, table: str, key: str, value: str) -> pl.DataFrame | None:
        """The day's rows (without the partition column), or None if the table does not exist."""
        current = self.delta(table)
        if current is None:
            return None
        files = self.day_files(table, key, value, current)
        schema = pa.schema([f for f in pa.schema(current.schema().to_arrow()) if f.name != key])
        if not files:
            return pl.from_arrow(schema.empty_table())
        frames = [pl.read_parquet(self.readable(uri)) for uri in files]
        return pl.concat(frames, how="vertical_relaxed").select(schema.names)

    def readable(self, uri: str):
        """A file of a table's, as Polars and pyarrow read it: its path on disk, a stream on S3."""
        return uri if self.storage.is_local else self.storage.fs.open(uri)

    def partition_values(self, table: str, key: str) -> list[str]:
        """The partition values that hold at least one file in the latest version, sorted."""
        current = self.delta(table)
        if current is None:
            return []
        values = {str(p[key]) for p in current.partitions() if p.get(key) is not None}
        return sorted(values)

    def pin(self, table: str, at: datetime | None = None) -> TableVersion | None:
        """The table's latest version, or the version it had at the moment `at` (None: the table
        did not exist then), as a reader reads it."""
        latest = self.delta(table)
        if latest is None:
            return None
        commits = history(latest, limit=None if at is not None else 1)
        if at is not None:
            moment = at.timestamp() * 1000
            commits = [c for c in commits if c["timestamp"] <= moment]
            if not commits:
                return None
        commit = max(commits, key=lambda c: int(c["version"]))
        found = latest if at is None else self.delta(table, int(commit["version"]))
        return TableVersion(
            table=table,
            version=found.version(),
            committed_at=datetime.fromtimestamp(commit["timestamp"] / 1000, timezone.utc),
            files=found.file_uris(),
            schema=pa.schema(found.schema().to_arrow()),
        )

    # -- plain files: the landing state and the audits' rejects ------------------------------------

    def rejected_path(self, table: str, key: str, value: str, run_id: str) -> str:
        """Where a run keeps a partition that failed its audit, for inspection."""
        return f"{REJECTED}/{table}/{key}={value}/{run_id}.parquet"

    def write(self, frame: pl.DataFrame, rel: str, expect: str | None = ANY) -> str:
        """Replace the plain Parquet file `rel` with `frame`; returns its URI."""
        with self.storage.publish(rel, expect) as path:
            frame.write_parquet(path, compression="zstd", statistics=True)
        return self.storage.uri(rel)

    def read(self, rel: str) -> pl.DataFrame:
        with self.storage.open(rel) as file:
            return pl.read_parquet(file)


def history(found: DeltaTable, limit: int | None = None, since: int | None = None) -> list[dict]:
    """`found.history(limit)`, numbered right, `found` left at the version it describes; with
    `since`, every commit after that version instead of the newest `limit`.

    delta-rs (1.6.6) lists the commits up to the newest one in storage but numbers them down from
    the version loaded: a commit landing after the load shifts every number. Look again until none did.
    """
    for _ in range(MAX_ATTEMPTS):
        version = found.version()
        # counted again each time: a window fixed before a commit landed would miss its oldest entries
        entries = found.history(limit if since is None else max(version - since, 1))
        found.update_incremental()
        if found.version() == version:
            return entries
    raise CommitLost(f"{found.table_uri}: commits kept landing while its history was read")


def committed_version(found: DeltaTable, before: int, commit: str) -> int:
    """The version of the commit whose `octo.commit` id is `commit`, made after version `before`
    (`found` may be loaded at any version since; it is left at the newest)."""
    found.update_incremental()
    if found.version() == before + 1:
        return found.version()
    for entry in history(found, since=before):
        if entry.get(COMMIT) == commit:
            return int(entry["version"])
    raise CommitLost(f"{found.table_uri}: commit {commit} is not among the commits after version {before}")


# Delta has no unsigned integers, dictionaries or nanosecond timestamps: what a table stores
_DELTA_TYPES = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(), pa.uint64(): pa.int64()}


def delta_schema(schema: pa.Schema) -> pa.Schema:
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_large_string(kind) or kind == pa.string_view():
            kind = pa.string()
        if pa.types.is_timestamp(kind) and kind.unit == "ns":
            kind = pa.timestamp("us", kind.tz)
        fields.append(pa.field(field.name, _DELTA_TYPES.get(kind, kind)))
    return pa.schema(fields)


def _table_schema(files: list[Placed], key: str) -> pa.Schema:
    """The table's schema for a day of `files`: theirs, and the partition column."""
    schemas = {file.schema for file in files}
    if not schemas:
        raise ValueError("no files to commit: publish an empty frame for a day without rows")
    if len(schemas) > 1:
        raise ValueError(f"the files of one day have different schemas: {schemas}")
    return delta_schema(files[0].schema).append(pa.field(key, pa.date32()))


# A Delta reader may skip a file on its statistics, so each bound must be exact and spelt as Delta
# spells it (test_delta_lake compares with what delta-rs writes). Longer strings get no bounds:
# delta-rs truncates them, a reader then only knows a prefix.
STATS_STRING_CHARS = 32


def data_file(path: Path) -> DataFile:
    """A Parquet file as a table commits it: its schema and statistics, from its footer alone."""
    footer = pq.read_metadata(path)
    schema = footer.schema.to_arrow_schema()
    low, high, nulls = {}, {}, {}
    for column, field in enumerate(schema):
        chunks = [footer.row_group(g).column(column).statistics for g in range(footer.num_row_groups)]
        if any(stats is None for stats in chunks):
            continue
        nulls[field.name] = sum(stats.null_count for stats in chunks)
        bounded = [stats for stats in chunks if stats.has_min_max]
        if not bounded:
            continue
        least, most = min(s.min for s in bounded), max(s.max for s in bounded)
        if pa.types.is_string(field.type) and max(len(least), len(most)) > STATS_STRING_CHARS:
            continue
        low[field.name], high[field.name] = _stat(least, field.type), _stat(most, field.type, upper=True)
    stats = {"numRecords": footer.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls}
    return DataFile(path, footer.num_rows, delta_schema(schema), json.dumps(stats))


def _stat(value, kind: pa.DataType, upper: bool = False):
    """One bound as Delta's statistics spell it (times to the millisecond: rounded outwards)."""
    if pa.types.is_timestamp(kind):
        utc = kind.tz is not None
        spare = value.microsecond % 1000
        if spare:
            value -= timedelta(microseconds=spare - (1000 if upper else 0))
        text = value.strftime("%Y-%m-%dT%H:%M:%S" if utc else "%Y-%m-%d %H:%M:%S")
        text += f".{value.microsecond // 1000:03d}" if value.microsecond else ""
        return text + ("Z" if utc else "")
    if pa.types.is_decimal(kind):
        return float(value)
    if pa.types.is_date(kind):
        return value.isoformat()
    return value


def _with_key(data: pl.DataFrame | Path, key: str, value: str) -> pa.RecordBatchReader:
    """The rows with the partition column added, in Delta's types, as a stream of batches."""
    day = pa.scalar(datetime.strptime(value, "%Y-%m-%d").date(), pa.date32())
    if isinstance(data, pl.DataFrame):
        source = data.drop(key, strict=False).to_arrow()
        schema, batches = source.schema, source.to_batches()
    else:
        parquet = pq.ParquetFile(data)
        schema, batches = parquet.schema_arrow, parquet.iter_batches(batch_size=256_000)
    target = delta_schema(schema).append(pa.field(key, pa.date32()))

    def converted():
        for batch in batches:
            columns = [batch.column(i).cast(target.field(i).type) for i in range(batch.num_columns)]
            yield pa.RecordBatch.from_arrays([*columns, pa.repeat(day, batch.num_rows)], schema=target)

    return pa.RecordBatchReader.from_batches(target, converted())


class MissingSnapshot(Exception):
    """No source snapshot yet; the message says what to materialise."""


def latest_snapshot_date(lake: Lake, table: str) -> str:
    dates = lake.partition_values(source_table(table), SNAPSHOT_KEY)
    if not dates:
        raise MissingSnapshot(
            f"No snapshot of the source `{table}` table in {lake.root}: materialise lake/{table} first."
        )
    return dates[-1]


def latest_snapshot(lake: Lake, table: str) -> list[str]:
    """The files of the latest snapshot of a source table (agreement, product, meterpoint)."""
    return lake.day_files(source_table(table), SNAPSHOT_KEY, latest_snapshot_date(lake, table))


def snapshot_version(agreement_sha256: str | None, product_sha256: str | None) -> str:
    """What the analytics read of a snapshot, named by content: agreement's hash / product's."""
    return f"{(agreement_sha256 or 'unknown')[:16]}/{(product_sha256 or 'unknown')[:16]}"


@dataclass(frozen=True)
class SnapshotInUse:
    """The latest snapshot of agreement and product, as the analytics read it."""

    relations: dict[str, list[str]]  # agreement, product -> the snapshot's files
    snapshot_date: str  # the agreement table's
    version: str  # snapshot_version of the two snapshots' content hashes


def snapshot_in_use(lake: Lake) -> SnapshotInUse:
    dates = {table: latest_snapshot_date(lake, table) for table in ("agreement", "product")}
    hashes = {}
    for table, day in dates.items():
        info = lake.commit_info(source_table(table), day) or {}
        hashes[table] = info.get(CONTENT_SHA256)
    return SnapshotInUse(
        relations={t: lake.day_files(source_table(t), SNAPSHOT_KEY, day) for t, day in dates.items()},
        snapshot_date=dates["agreement"],
        version=snapshot_version(hashes["agreement"], hashes["product"]),
    )


def readings_files(lake: Lake, day: str) -> list[str]:
    """The files of a day's published readings ([]: never built, or built empty)."""
    return lake.day_files(READINGS_TABLE, DAY_KEY, day)
