"""Checks that the analytics tables agree with the readings and with each other."""

from datetime import date

import dagster as dg

from octo_assets.analytics.assets import readings_file
from octo_assets.checks.framework import check_result, offenders, per_day
from octo_assets.partitions import daily_partitions
from octo_assets.readings.clock import half_hours_in_day
from octo_assets.resources import LakeStorage

HALF_HOURLY = dg.AssetKey(["analytics", "half_hourly_consumption"])
PRODUCT_DAY = dg.AssetKey(["analytics", "daily_product_consumption"])
ACTIVE = dg.AssetKey(["analytics", "active_agreements"])
READINGS = dg.AssetKey(["lake", "readings"])


def _partition(lake: LakeStorage, table: str, key: str, day: str):
    return lake.lake().existing_partition(f"analytics/{table}", key, day)


def _totals_differ(days: list[str], this_file, other_file, other_count: str):
    """Days whose kWh or reading count differ between this table and another one."""

    def find(day: str):
        return offenders(
            f"""
            WITH here AS (SELECT coalesce(sum(consumption_kwh), 0) AS kwh,
                                 coalesce(sum(reading_count), 0) AS n FROM this),
                 there AS (SELECT coalesce(sum(consumption_kwh), 0) AS kwh, {other_count} AS n FROM other)
            SELECT here.kwh AS kwh_here, there.kwh AS kwh_there, here.n AS readings_here, there.n AS readings_there
            FROM here, there
            WHERE here.kwh <> there.kwh OR here.n <> there.n  -- DECIMAL sums: exact, in any order
            """,
            {"this": this_file(day), "other": other_file(day)},
        )

    return per_day(days, find)


@dg.asset_check(
    asset=HALF_HOURLY,
    partitions_def=daily_partitions,
    additional_deps=[READINGS],
    description="The day's half-hourly kWh and reading count equal the day's readings.",
)
def half_hourly_matches_readings(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _totals_differ(
        list(context.partition_keys),
        lambda day: _partition(lake, "half_hourly_consumption", "date", day),
        lambda day: readings_file(lake.lake(), day),
        "count(*)",
    )
    return check_result(found)


@dg.asset_check(
    asset=HALF_HOURLY,
    partitions_def=daily_partitions,
    description="One row per half hour, and no more half hours than the day has (46, 48 or 50).",
)
def half_hourly_one_row_per_half_hour(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    def find(day: str):
        return offenders(
            "SELECT interval_start_utc, count(*) AS copies, (SELECT count(*) FROM this) AS rows_in_day "
            "FROM this GROUP BY ALL HAVING count(*) > 1 OR (SELECT count(*) FROM this) > $half_hours",
            {"this": _partition(lake, "half_hourly_consumption", "date", day)},
            {"half_hours": half_hours_in_day(date.fromisoformat(day))},
        )

    return check_result(per_day(list(context.partition_keys), find))


@dg.asset_check(
    asset=PRODUCT_DAY,
    partitions_def=daily_partitions,
    additional_deps=[HALF_HOURLY],
    description="The day's product kWh (NULL product included) and reading count equal the half-hourly table's.",
)
def product_day_matches_half_hourly(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _totals_differ(
        list(context.partition_keys),
        lambda day: _partition(lake, "daily_product_consumption", "date", day),
        lambda day: _partition(lake, "half_hourly_consumption", "date", day),
        "coalesce(sum(reading_count), 0)",
    )
    return check_result(found)


@dg.asset_check(
    asset=PRODUCT_DAY,
    partitions_def=daily_partitions,
    description="One row per product display name and day.",
)
def product_day_one_row_per_product(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    return _repeated(context, lake, "daily_product_consumption", "date", "product_display_name")


@dg.asset_check(
    asset=ACTIVE,
    partitions_def=daily_partitions,
    description="One row per agreement on each as-of date.",
)
def active_agreements_one_row_per_agreement(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    return _repeated(context, lake, "active_agreements", "as_of_date", "agreement_id")


def _repeated(context, lake: LakeStorage, table: str, partition_key: str, column: str) -> dg.AssetCheckResult:
    """Offenders: values of `column` on more than one row of a partition."""

    def find(day: str):
        return offenders(
            f"SELECT {column}, count(*) AS copies FROM this GROUP BY ALL HAVING count(*) > 1",
            {"this": _partition(lake, table, partition_key, day)},
        )

    return check_result(per_day(list(context.partition_keys), find))


ANALYTICS_CHECKS = [
    half_hourly_matches_readings,
    half_hourly_one_row_per_half_hour,
    product_day_matches_half_hourly,
    product_day_one_row_per_product,
    active_agreements_one_row_per_agreement,
]
