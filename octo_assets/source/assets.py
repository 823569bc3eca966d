"""The source snapshot: agreement, product and meterpoint, one Parquet snapshot a day."""

import hashlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from octo_assets.checks.framework import check_outputs, targeted
from octo_assets.checks.source import SOURCE_CHECKS, evaluate
from octo_assets.descriptions import SOURCE_TABLES
from octo_assets.metadata import column_lineage, column_schema, location, table_metadata
from octo_assets.partitions import LOCAL_TZ
from octo_assets.resources import LakeStorage, SourceDatabase
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
    ["source", "case_study_db"],
    description="The SQLite database the business updates at midnight (external; read-only).",
    group_name="source",
    metadata={"dagster/column_schema": source_db_schema()},
)

SNAPSHOT_KEY = "snapshot_date"


class SnapshotConfig(dg.Config):
    snapshot_date: str | None = None  # default: today in Europe/London


def snapshot_table_dir(table: str) -> str:
    return f"source/{table}"


def rejected_path(table: str, snapshot_date: str, run_id: str) -> str:
    """Where a snapshot that failed its audit is kept, for inspection."""
    return f"_rejected/{snapshot_table_dir(table)}/{SNAPSHOT_KEY}={snapshot_date}/{run_id}.parquet"


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
            table: store.write(
                frame, f"_rejected/{snapshot_table_dir(table)}/{SNAPSHOT_KEY}={snapshot_date}/{run_id}.parquet"
            )
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
            f"{store.uri('_rejected/source')}."
        )
    for table, frame in snapshot.tables.items():
        uri = store.write(frame, store.partition_path(snapshot_table_dir(table), SNAPSHOT_KEY, snapshot_date))
        lineage = column_lineage({column: [(SOURCE_DB.key, f"{table}.{column}")] for column in frame.columns})
        yield dg.MaterializeResult(
            asset_key=["lake", table],
            # an unchanged table is no change downstream: automation refreshes nothing for it
            data_version=dg.DataVersion(hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()),
            metadata={
                **table_metadata(frame, lineage, SOURCE_TABLES[table]),
                "snapshot_date": snapshot_date,
                "path": location(uri),
            },
        )
    yield from targeted(context, evaluations)  # after the materialisations they judged
    yield from check_outputs(context)


ASSET_TABLE = {dg.AssetKey(["lake", table]): table for table in TABLES}
