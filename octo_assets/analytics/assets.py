"""The three analytics tables, one Parquet partition per day, computed by DuckDB SQL."""

from collections.abc import Callable
from datetime import date

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from octo_assets import descriptions
from octo_assets.analytics.checks import CHECKS, evaluate
from octo_assets.analytics.queries import run_query
from octo_assets.charts import image_markdown, load_curve_png, product_png
from octo_assets.checks import finish_days
from octo_assets.keys import AGREEMENT, PRODUCT, READINGS
from octo_assets.lake import Lake, MissingSnapshot, SnapshotInUse, analytics_table, readings_partition, snapshot_in_use
from octo_assets.metadata import column_lineage, column_schema, location, table_metadata
from octo_assets.partitions import backfill_policy, daily_partitions
from octo_assets.resources import LakeStorage

# the tags of a source_correction_sensor run: the run list, and each day it rebuilds, say why
TRIGGER_TAG, SNAPSHOT_TAG, CHANGE_TAG = "octo/trigger", "octo/snapshot", "octo/change"
SOURCE_CORRECTION = "source_correction"

ACTIVE_AGREEMENTS_LINEAGE = column_lineage(
    {
        "agreement_id": [(AGREEMENT, "agreement_id")],
        "meterpoint_id": [(AGREEMENT, "meterpoint_id")],
        "product_display_name": [(PRODUCT, "display_name"), (AGREEMENT, "product_id")],
        "product_is_variable": [(PRODUCT, "is_variable"), (AGREEMENT, "product_id")],
        "product_id": [(AGREEMENT, "product_id")],
        "account_id": [(AGREEMENT, "account_id")],
        "agreement_valid_from": [(AGREEMENT, "agreement_valid_from")],
        "agreement_valid_to": [(AGREEMENT, "agreement_valid_to")],
    }
)
HALF_HOURLY_LINEAGE = column_lineage(
    {
        "interval_start_utc": [(READINGS, "interval_start_utc")],
        "interval_start_local": [(READINGS, "interval_start_local")],
        "meterpoint_count": [(READINGS, "meterpoint_id")],
        "consumption_kwh": [(READINGS, "consumption_kwh")],
        "reading_count": [(READINGS, "meterpoint_id")],
    }
)
PRODUCT_DAY_LINEAGE = column_lineage(
    {
        "reading_date": [(READINGS, "interval_start_local")],
        "product_display_name": [
            (PRODUCT, "display_name"),
            (AGREEMENT, "product_id"),
            (AGREEMENT, "agreement_valid_from"),
            (AGREEMENT, "agreement_valid_to"),
            (READINGS, "meterpoint_id"),
        ],
        "meterpoint_count": [(READINGS, "meterpoint_id")],
        "consumption_kwh": [(READINGS, "consumption_kwh")],
        "reading_count": [(READINGS, "meterpoint_id")],
    }
)


# what each SQL file returns; test_pipeline holds the materialised tables to it
SCHEMAS = {
    "active_agreements": {
        "as_of_date": pl.Date,
        "agreement_id": pl.Int64,
        "meterpoint_id": pl.String,
        "product_display_name": pl.String,
        "product_is_variable": pl.Boolean,
        "product_id": pl.String,
        "account_id": pl.String,
        "agreement_valid_from": pl.Date,
        "agreement_valid_to": pl.Date,
    },
    "half_hourly_consumption": {
        "interval_start_utc": pl.Datetime("us", "UTC"),
        "interval_start_local": pl.Datetime("us"),
        "reading_date": pl.Date,
        "meterpoint_count": pl.Int64,
        "consumption_kwh": pl.Decimal(38, 3),  # an exact sum of DECIMAL(18,3) kWh
        "reading_count": pl.Int64,
    },
    "daily_product_consumption": {
        "reading_date": pl.Date,
        "product_display_name": pl.String,
        "meterpoint_count": pl.Int64,
        "consumption_kwh": pl.Decimal(38, 3),  # an exact sum of DECIMAL(18,3) kWh
        "reading_count": pl.Int64,
    },
}
DESCRIPTIONS = {
    "active_agreements": descriptions.ACTIVE_AGREEMENTS,
    "half_hourly_consumption": descriptions.HALF_HOURLY_CONSUMPTION,
    "daily_product_consumption": descriptions.DAILY_PRODUCT_CONSUMPTION,
}


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


def materialise_days(
    context: dg.AssetExecutionContext,
    lake: Lake,
    duckdb: DuckDBResource,
    query: str,
    partition_key: str,
    relations: Callable[[str], dict[str, str | None]],
    parameter: str,
    lineage: dg.TableColumnLineage,
    chart: Callable[[pl.DataFrame, date], dict] = lambda frame, day: {},
    extra: dict | None = None,
):
    """Run `query` for each day of this run; check each day's table, then publish it, or keep it
    under `_rejected/` if a check fails (and fail the step once every day was tried)."""
    table = analytics_table(query)
    published, failures, checked = {}, [], []
    with duckdb.get_connection() as connection:
        for day in context.partition_keys:
            bound = relations(day)
            frame = run_query(connection, query, bound, {parameter: day})
            totals = None
            if "readings" in bound:
                [totals] = connection.execute(
                    "SELECT coalesce(sum(consumption_kwh), 0), count(*) FROM readings"
                ).fetchall()
            evaluations = evaluate(query, frame, day, totals)
            checked += evaluations
            failed = [e.check_name for e in evaluations if not e.passed]
            if failed:
                rejected = lake.write(frame, lake.rejected_path(table, partition_key, day, context.run.run_id))
                failures.append(f"{day}: {query} not published, check(s) failed: {', '.join(failed)}; see {rejected}")
                continue
            uri = lake.write(frame, lake.partition_path(table, partition_key, day))
            metadata = {
                **table_metadata(frame, lineage, DESCRIPTIONS[query]),
                **chart(frame, date.fromisoformat(day)),
                "path": location(uri),
                **(extra or {}),
            }
            if "consumption_kwh" in frame.columns:
                metadata["consumption_kwh"] = float(frame["consumption_kwh"].sum() or 0.0)
            published[day] = metadata
    yield from finish_days(context, published, failures, checked)


def load_curve(frame: pl.DataFrame, day: date) -> dict:
    """The day's load curve as an image, and its number of half hours as a number to plot."""
    image = image_markdown(load_curve_png(frame, day), f"kWh and meterpoints by half hour on {day}")
    return {"load_curve": dg.MetadataValue.md(image), "half_hours": frame.height}


def consumption_by_product(frame: pl.DataFrame, day: date) -> dict:
    """The day's kWh by product as an image, and the numbers behind it for Dagster's Plots tab."""
    image = image_markdown(product_png(frame, day), f"kWh by product on {day}")
    uncovered = frame.filter(pl.col("product_display_name").is_null())["consumption_kwh"].sum()
    return {
        "consumption_by_product": dg.MetadataValue.md(image),
        "products": frame["product_display_name"].drop_nulls().n_unique(),
        "kwh_without_agreement": float(uncovered or 0.0),
    }


def _daily_asset(name: str, deps: list[dg.AssetKey], description: str, **kwargs):
    return dg.asset(
        key=["analytics", name],
        deps=deps,
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy(),
        group_name="analytics",
        description=description,
        metadata={"dagster/column_schema": column_schema(SCHEMAS[name], DESCRIPTIONS[name])},
        check_specs=CHECKS[name],
        output_required=False,  # a run whose day fails a check is recorded for the good days only
        **kwargs,
    )


@_daily_asset(
    "active_agreements",
    [AGREEMENT, PRODUCT],
    "Agreements active on the partition's date (valid_from < date < valid_to or open), with their product.",
)
def active_agreements(context: dg.AssetExecutionContext, lake: LakeStorage, duckdb: DuckDBResource):
    store = lake.lake()
    snapshot = latest_agreements_and_products(store)
    return materialise_days(
        context,
        store,
        duckdb,
        "active_agreements",
        "as_of_date",
        lambda day: snapshot.relations,
        "as_of_date",
        ACTIVE_AGREEMENTS_LINEAGE,
        extra=provenance(context, snapshot),
    )


@_daily_asset(
    "half_hourly_consumption",
    [READINGS],
    "Per half hour: meterpoints with a reading and their total kWh.",
)
def half_hourly_consumption(context: dg.AssetExecutionContext, lake: LakeStorage, duckdb: DuckDBResource):
    store = lake.lake()
    return materialise_days(
        context,
        store,
        duckdb,
        "half_hourly_consumption",
        "date",
        lambda day: {"readings": readings_partition(store, day)},
        "reading_date",
        HALF_HOURLY_LINEAGE,
        load_curve,
    )


@_daily_asset(
    "daily_product_consumption",
    [READINGS, AGREEMENT, PRODUCT],
    "Per product display name and day: meterpoints with readings and their total kWh; "
    "readings no agreement covers sit under a NULL display name.",
)
def daily_product_consumption(context: dg.AssetExecutionContext, lake: LakeStorage, duckdb: DuckDBResource):
    store = lake.lake()
    snapshot = latest_agreements_and_products(store)
    return materialise_days(
        context,
        store,
        duckdb,
        "daily_product_consumption",
        "date",
        lambda day: {"readings": readings_partition(store, day), **snapshot.relations},
        "reading_date",
        PRODUCT_DAY_LINEAGE,
        consumption_by_product,
        provenance(context, snapshot),
    )
