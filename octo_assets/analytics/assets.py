"""The analytics assets: each table of analytics.tables, a Delta table replaced day by day, computed
by its DuckDB SQL, checked, then published (write, audit, publish)."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from octo_assets.analytics.checks import CHECKS, evaluate
from octo_assets.analytics.queries import run_query
from octo_assets.analytics.tables import TABLES, AnalyticsTable
from octo_assets.checks import finish_days
from octo_assets.lake import Lake, MissingSnapshot, SnapshotInUse, analytics_table, readings_files, snapshot_in_use
from octo_assets.metadata import column_schema, table_metadata, version_metadata
from octo_assets.partitions import backfill_policy, daily_partitions
from octo_assets.resources import LakeStorage

# the tags of a source_correction_sensor run: the run list, and each day it rebuilds, say why
TRIGGER_TAG, SNAPSHOT_TAG, CHANGE_TAG = "octo/trigger", "octo/snapshot", "octo/change"
SOURCE_CORRECTION = "source_correction"


def latest_agreements_and_products(lake: Lake) -> SnapshotInUse:
    """The relations `agreement` and `product` of the analytics SQL: their latest snapshots."""
    try:
        return snapshot_in_use(lake)
    except MissingSnapshot as exc:
        raise dg.Failure(description=str(exc)) from None


def provenance(context: dg.AssetExecutionContext, snapshot: SnapshotInUse) -> dict:
    """Each day's metadata: the snapshot it was built from (the source_correction_sensor compares
    its version), and, in a correction run, the change that made it rebuild the day."""
    metadata = {"snapshot_date": snapshot.snapshot_date, "snapshot_version": snapshot.version}
    tags = context.run.tags
    if tags.get(TRIGGER_TAG) == SOURCE_CORRECTION:
        metadata["rebuilt_because"] = dg.MetadataValue.text(tags.get(CHANGE_TAG, ""))
        metadata["rebuilt_for_snapshot"] = tags.get(SNAPSHOT_TAG, "")
    return metadata


def snapshot_commit(snapshot: SnapshotInUse | None) -> dict[str, str]:
    """What a day's commit says it was built from, beside the run and the day."""
    return {"octo.snapshot_version": snapshot.version} if snapshot else {}


def materialise_days(context: dg.AssetExecutionContext, table: AnalyticsTable, lake: Lake, duckdb: DuckDBResource):
    """Run the table's SQL for each day of this run; check each day's table, then publish it, or
    keep it under `_rejected/` if a check fails (and fail the step once every day was tried)."""
    folder = analytics_table(table.name)
    snapshot = latest_agreements_and_products(lake) if table.reads_snapshot else None
    extra = provenance(context, snapshot) if snapshot else {}
    published, failures, checked = {}, [], []
    with duckdb.get_connection() as connection:
        for day in context.partition_keys:
            relations = {**(snapshot.relations if snapshot else {})}
            if table.reads_readings:
                relations["readings"] = readings_files(lake, day)
            frame = run_query(connection, table.name, relations, {table.day_parameter: day})
            totals = None
            if table.reads_readings:
                [totals] = connection.execute(
                    "SELECT coalesce(sum(consumption_kwh), 0), count(*) FROM readings"
                ).fetchall()
            evaluations = evaluate(table.name, frame, day, totals)
            checked += evaluations
            failed = [e.check_name for e in evaluations if not e.passed]
            if failed:
                rejected = lake.write(frame, lake.rejected_path(folder, table.partition_key, day, context.run.run_id))
                why = ", ".join(failed)
                failures.append(f"{day}: {table.name} not published, check(s) failed: {why}; see {rejected}")
                continue
            published_as = lake.publish(
                folder, table.partition_key, day, frame, context.run.run_id, metadata=snapshot_commit(snapshot)
            )
            metadata = {
                **table_metadata(frame, table.column_lineage, table.column_descriptions),
                **table.chart(frame, date.fromisoformat(day)),
                **version_metadata(published_as),
                **extra,
            }
            if "consumption_kwh" in frame.columns:
                metadata["consumption_kwh"] = float(frame["consumption_kwh"].sum() or 0.0)
            published[day] = metadata
    yield from finish_days(context, published, failures, checked)


def analytics_asset(table: AnalyticsTable) -> dg.AssetsDefinition:
    """The daily asset analytics/<name> of one declared table."""

    @dg.asset(
        name=table.name,
        key_prefix="analytics",
        deps=table.deps,
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy(),
        group_name="analytics",
        description=table.description,
        metadata={"dagster/column_schema": column_schema(table.schema, table.column_descriptions)},
        check_specs=CHECKS[table.name],
        output_required=False,  # a run whose day fails a check is recorded for the good days only
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeStorage, duckdb: DuckDBResource):
        yield from materialise_days(context, table, lake.lake(), duckdb)

    return _asset


active_agreements, half_hourly_consumption, daily_product_consumption = (analytics_asset(t) for t in TABLES)
