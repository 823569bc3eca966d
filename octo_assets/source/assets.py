"""The source snapshot: agreement, product and meterpoint, each a Delta table with one snapshot a day."""

import hashlib
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from octo_assets import keys
from octo_assets.checks import check_outputs, targeted
from octo_assets.descriptions import SOURCE_TABLES
from octo_assets.domain import FIRST_DAY, LOCAL_TZ
from octo_assets.lake import CONTENT_SHA256, REJECTED, SNAPSHOT_KEY, Lake, snapshot_version, source_table
from octo_assets.metadata import column_lineage, column_schema, location, table_metadata, version_metadata
from octo_assets.partitions import daily_partitions
from octo_assets.resources import LakeStorage, SourceDatabase
from octo_assets.source.changes import TABLES as ANALYTICS_TABLES
from octo_assets.source.changes import SnapshotChanges, snapshot_changes, unchanged
from octo_assets.source.checks import SOURCE_CHECKS, evaluate
from octo_assets.source.snapshot import TABLES, SourceError, read_source

# how the database stores each column: ids TEXT except the two INTEGER ones, dates as text
SQLITE_TYPES = {pl.Int64: "INTEGER", pl.String: "TEXT", pl.Date: "DATE (text YYYY-MM-DD)", pl.Boolean: "INTEGER 0/1"}


def source_db_schema() -> dg.TableSchema:
    """The database's columns, named `table.column` as the snapshot's column lineage names them."""
    types, texts = {}, {}
    for table, columns in TABLES.items():
        for column, dtype in columns.items():
            types[f"{table}.{column}"] = SQLITE_TYPES[dtype]
            texts[f"{table}.{column}"] = SOURCE_TABLES[table][column]
    return column_schema(types, texts)


SOURCE_DB = dg.AssetSpec(
    keys.SOURCE_DB,
    description="The SQLite database the business updates at midnight (external; read-only).",
    group_name="source",
    metadata={"dagster/column_schema": source_db_schema()},
)

# the lake/agreement materialisation metadata the source_correction_sensor reads
DAYS_TO_REFRESH = "days_to_refresh"  # {analytics table: [[first, last], ...]}
CHANGE_SUMMARY = "change_summary"  # one line: the first change, and how many more
SNAPSHOT_VERSION = "snapshot_version"  # what the analytics record of the snapshot they read


class SnapshotConfig(dg.Config):
    snapshot_date: str | None = None  # default: today in Europe/London


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["lake", table],
            deps=[SOURCE_DB],
            group_name="source",
            metadata={"dagster/column_schema": column_schema(TABLES[table], SOURCE_TABLES[table])},
            description=f"The source `{table}` table; every day's snapshot is kept, views use the latest.",
        )
        for table in TABLES
    ],
    check_specs=SOURCE_CHECKS,
)
def source_snapshot(
    context: dg.AssetExecutionContext, config: SnapshotConfig, source_db: SourceDatabase, lake: LakeStorage
):
    """Read, audit, publish: the three tables are published (together) only if every blocking check
    passes; otherwise they are kept under `_rejected/` and the previous snapshot stays in use."""
    snapshot_date = config.snapshot_date or datetime.now(ZoneInfo(LOCAL_TZ)).date().isoformat()
    try:
        snapshot = read_source(Path(source_db.path), source_db.busy_timeout_s)
    except SourceError as exc:
        raise dg.Failure(description=str(exc)) from None  # the message says it all
    store = lake.lake()
    evaluations = evaluate(snapshot.tables)
    failed = [e for e in evaluations if e.blocking and not e.passed]
    if failed:
        run_id = context.run.run_id
        rejected = {
            table: store.write(frame, store.rejected_path(source_table(table), SNAPSHOT_KEY, snapshot_date, run_id))
            for table, frame in snapshot.tables.items()
        }
        for evaluation in targeted(context, evaluations):
            if not evaluation.passed and evaluation.blocking:
                where = location(rejected[ASSET_TABLE[evaluation.asset_key]])
                evaluation = evaluation.with_metadata(
                    {**evaluation.metadata, "published": False, "rejected_version": where}
                )
            yield evaluation
        names = ", ".join(sorted({e.check_name for e in failed}))
        raise dg.Failure(
            description=f"The {snapshot_date} snapshot of {source_db.path} was not published: blocking check(s) "
            f"failed: {names}. The previous snapshot stays in use; the rejected tables are under "
            f"{store.uri(REJECTED + '/source')}."
        )
    hashes = {table: content_hash(frame) for table, frame in snapshot.tables.items()}
    # read before publishing: a snapshot of the same day replaces the one the analytics use now
    changes, compared = changes_from_published(store, snapshot.tables, snapshot_date)
    for table, frame in snapshot.tables.items():
        published = store.publish(
            source_table(table),
            SNAPSHOT_KEY,
            snapshot_date,
            frame,
            context.run.run_id,
            metadata={CONTENT_SHA256: hashes[table]},
        )
        lineage = column_lineage({column: [(SOURCE_DB.key, f"{table}.{column}")] for column in frame.columns})
        metadata = {
            **table_metadata(frame, lineage, SOURCE_TABLES[table]),
            "snapshot_date": snapshot_date,
            **version_metadata(published),
        }
        if table == "agreement":  # every snapshot run materialises it: the sensor reads the changes here
            version = snapshot_version(hashes["agreement"], hashes["product"])
            metadata |= changes_metadata(changes, compared, version)
        yield dg.MaterializeResult(
            asset_key=["lake", table],
            # content-addressed: a snapshot of unchanged content is the same version
            data_version=dg.DataVersion(hashes[table]),
            metadata=metadata,
        )
    yield from targeted(context, evaluations)  # after the materialisations they judged
    yield from check_outputs(context)


ASSET_TABLE = {dg.AssetKey(["lake", table]): table for table in TABLES}


def content_hash(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()


def changes_from_published(
    lake: Lake, tables: dict[str, pl.DataFrame], snapshot_date: str
) -> tuple[SnapshotChanges | None, str]:
    """What publishing `tables` as the `snapshot_date` snapshot changes in the analytics (None:
    no day, not compared), and a sentence saying what it was compared with. The analytics read
    the latest snapshot: one dated before it moves nothing they use; the first moves no day built."""
    published = {table: lake.partition_values(source_table(table), SNAPSHOT_KEY) for table in TABLES}
    if not published["agreement"]:
        return None, "The first snapshot: no analytics were built before it"
    latest = published["agreement"][-1]
    if snapshot_date < latest:
        return None, f"Dated before the {latest} snapshot, which the analytics keep using: no day moves"
    previous = {
        table: (
            lake.read_day(source_table(table), SNAPSHOT_KEY, dates[-1]).select(list(schema))
            if dates
            else pl.DataFrame(schema=schema)
        ).cast(schema)
        for (table, schema), dates in zip(TABLES.items(), published.values())
    }
    last_day = daily_partitions.get_last_partition_key()
    if last_day is None:
        return None, "No day has ended yet"
    changes = snapshot_changes(previous, tables, date.fromisoformat(FIRST_DAY), date.fromisoformat(last_day))
    return changes, f"Compared with the {latest} snapshot"


def changes_metadata(changes: SnapshotChanges | None, compared: str, version: str) -> dict:
    """What the snapshot changed, and the analytics days it moves (inclusive ranges)."""
    said = f"{compared}.\n\n{changes.description()}" if changes else f"{compared}."
    changes = changes or unchanged()
    days = "; ".join(f"{table}: {changes.day_count(table):,} day(s)" for table in ANALYTICS_TABLES)
    return {
        "changes": dg.MetadataValue.md(f"{said}\n\nDays moved: {days}."),
        CHANGE_SUMMARY: changes.summary(),
        DAYS_TO_REFRESH: dg.MetadataValue.json(
            {
                table: [[first.isoformat(), last.isoformat()] for first, last in changes.days[table]]
                for table in ANALYTICS_TABLES
            }
        ),
        SNAPSHOT_VERSION: version,
        **{f"{what}_changed": n for what, n in changes.counts.items()},
        **{f"{table}_days_moved": changes.day_count(table) for table in ANALYTICS_TABLES},
    }
