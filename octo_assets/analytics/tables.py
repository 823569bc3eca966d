"""The three analytics tables as data: one declaration each, built into an asset by
analytics.assets.analytics_asset. A fourth table is a SQL file in sql/ and one entry here (and its
checks in analytics/checks.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import polars as pl

from octo_assets import descriptions
from octo_assets.charts import image_markdown, load_curve_png, product_png
from octo_assets.keys import AGREEMENT, PRODUCT, READINGS
from octo_assets.lake import DAY_KEY
from octo_assets.metadata import column_lineage


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


@dataclass(frozen=True)
class AnalyticsTable:
    """One analytics table: `sql/<name>.sql` run for each day, one Parquet partition a day."""

    name: str  # the asset analytics/<name>, its SQL file, its lake folder and view
    description: str
    schema: dict[str, pl.DataType]  # what the SQL returns; test_pipeline holds the tables to it
    lineage: dict[str, list[tuple[dg.AssetKey, str]]]  # column -> the upstream columns it comes from
    day_parameter: str  # the SQL's parameter that takes the day
    partition_key: str = DAY_KEY  # its lake folders: <partition_key>=<day>
    reads_readings: bool = False  # the relation `readings`: the day's readings
    reads_snapshot: bool = False  # the relations `agreement` and `product`: their latest snapshots
    chart: Callable[[pl.DataFrame, date], dict] = field(default=lambda frame, day: {})

    @property
    def deps(self) -> list[dg.AssetKey]:
        return [READINGS] * self.reads_readings + [AGREEMENT, PRODUCT] * self.reads_snapshot

    @property
    def column_descriptions(self) -> dict[str, str]:
        return COLUMN_DESCRIPTIONS[self.name]

    @property
    def column_lineage(self) -> dg.TableColumnLineage:
        return column_lineage(self.lineage)


COLUMN_DESCRIPTIONS = {
    "active_agreements": descriptions.ACTIVE_AGREEMENTS,
    "half_hourly_consumption": descriptions.HALF_HOURLY_CONSUMPTION,
    "daily_product_consumption": descriptions.DAILY_PRODUCT_CONSUMPTION,
}
KWH = pl.Decimal(38, 3)  # an exact sum of DECIMAL(18,3) kWh

ACTIVE_AGREEMENTS = AnalyticsTable(
    name="active_agreements",
    description="Agreements active on the partition's date (valid_from < date < valid_to or open), with their product.",
    schema={
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
    lineage={
        "agreement_id": [(AGREEMENT, "agreement_id")],
        "meterpoint_id": [(AGREEMENT, "meterpoint_id")],
        "product_display_name": [(PRODUCT, "display_name"), (AGREEMENT, "product_id")],
        "product_is_variable": [(PRODUCT, "is_variable"), (AGREEMENT, "product_id")],
        "product_id": [(AGREEMENT, "product_id")],
        "account_id": [(AGREEMENT, "account_id")],
        "agreement_valid_from": [(AGREEMENT, "agreement_valid_from")],
        "agreement_valid_to": [(AGREEMENT, "agreement_valid_to")],
    },
    day_parameter="as_of_date",
    partition_key="as_of_date",
    reads_snapshot=True,
)

HALF_HOURLY_CONSUMPTION = AnalyticsTable(
    name="half_hourly_consumption",
    description="Per half hour: meterpoints with a reading and their total kWh.",
    schema={
        "interval_start_utc": pl.Datetime("us", "UTC"),
        "interval_start_local": pl.Datetime("us"),
        "reading_date": pl.Date,
        "meterpoint_count": pl.Int64,
        "consumption_kwh": KWH,
        "reading_count": pl.Int64,
    },
    lineage={
        "interval_start_utc": [(READINGS, "interval_start_utc")],
        "interval_start_local": [(READINGS, "interval_start_local")],
        "meterpoint_count": [(READINGS, "meterpoint_id")],
        "consumption_kwh": [(READINGS, "consumption_kwh")],
        "reading_count": [(READINGS, "meterpoint_id")],
    },
    day_parameter="reading_date",
    reads_readings=True,
    chart=load_curve,
)

DAILY_PRODUCT_CONSUMPTION = AnalyticsTable(
    name="daily_product_consumption",
    description="Per product display name and day: meterpoints with readings and their total kWh; "
    "readings no agreement covers sit under a NULL display name.",
    schema={
        "reading_date": pl.Date,
        "product_display_name": pl.String,
        "meterpoint_count": pl.Int64,
        "consumption_kwh": KWH,
        "reading_count": pl.Int64,
    },
    lineage={
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
    },
    day_parameter="reading_date",
    reads_readings=True,
    reads_snapshot=True,
    chart=consumption_by_product,
)

TABLES = [ACTIVE_AGREEMENTS, HALF_HOURLY_CONSUMPTION, DAILY_PRODUCT_CONSUMPTION]
