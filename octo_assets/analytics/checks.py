"""Checks that the analytics tables agree with the readings, and hold one row per key, evaluated
in each analytics step on the day's table before it is published (write, audit, publish). A day
failing one is not published: the previous version stays, and the failed one is kept under
`_rejected/` for inspection. Each result is recorded against its day.
"""

from datetime import date
from decimal import Decimal

import dagster as dg
import polars as pl

from octo_assets.checks import check_evaluation, daily_check_spec
from octo_assets.domain import half_hours_in_day
from octo_assets.keys import ACTIVE_AGREEMENTS, HALF_HOURLY, PRODUCT_DAY, READINGS


def _spec(asset: dg.AssetKey, name: str, description: str, deps=()) -> dg.AssetCheckSpec:
    return daily_check_spec(asset, name, description, blocking=True, deps=deps)


CHECKS = {
    "half_hourly_consumption": [
        _spec(
            HALF_HOURLY,
            "half_hourly_matches_readings",
            "The day's kWh and reading count equal the day's readings.",
            [READINGS],
        ),
        _spec(
            HALF_HOURLY,
            "half_hourly_one_row_per_half_hour",
            "One row per half hour, and no more half hours than the day has (46, 48 or 50).",
        ),
    ],
    "daily_product_consumption": [
        _spec(
            PRODUCT_DAY,
            "product_day_matches_readings",
            "The day's kWh (the NULL product included) and reading count equal the day's readings, so "
            "they equal the half-hourly table's too.",
            [READINGS],
        ),
        _spec(PRODUCT_DAY, "product_day_one_row_per_product", "One row per product display name and day."),
    ],
    "active_agreements": [
        _spec(
            ACTIVE_AGREEMENTS, "active_agreements_one_row_per_agreement", "One row per agreement on each as-of date."
        ),
    ],
}
KEYS = {
    "half_hourly_consumption": "interval_start_utc",
    "daily_product_consumption": "product_display_name",
    "active_agreements": "agreement_id",
}


def evaluate(table: str, frame: pl.DataFrame, day: str, readings: tuple[Decimal, int] | None) -> list:
    """Every check of one analytics table on one day; `readings` are the day's (kWh, rows)."""
    asset = CHECKS[table][0].asset_key
    results = []
    repeated = frame.group_by(KEYS[table]).len("copies").filter(pl.col("copies") > 1)
    if table == "half_hourly_consumption":
        expected = half_hours_in_day(date.fromisoformat(day))
        too_many = pl.DataFrame({"half_hours": [frame.height], "expected_at_most": [expected]}).filter(
            pl.col("half_hours") > pl.col("expected_at_most")
        )
        found = pl.concat([repeated.cast({"copies": pl.Int64}), too_many], how="diagonal_relaxed")
        results += [
            ("half_hourly_matches_readings", _totals_differ(frame, readings)),
            ("half_hourly_one_row_per_half_hour", found),
        ]
    elif table == "daily_product_consumption":
        results += [
            ("product_day_matches_readings", _totals_differ(frame, readings)),
            ("product_day_one_row_per_product", repeated),
        ]
    else:
        results.append(("active_agreements_one_row_per_agreement", repeated))
    return [
        check_evaluation(asset, name, found.height, found, dg.AssetCheckSeverity.ERROR, day, True)
        for name, found in results
    ]


def _totals_differ(frame: pl.DataFrame, readings: tuple[Decimal, int]) -> pl.DataFrame:
    """One row if this table's kWh or reading count differ from the readings' (exact DECIMAL sums)."""
    kwh = frame["consumption_kwh"].sum() if frame.height else Decimal(0)
    rows = int(frame["reading_count"].sum() or 0)
    want_kwh, want_rows = readings
    found = pl.DataFrame(
        {"kwh_here": [str(kwh)], "kwh_in_readings": [str(want_kwh)], "readings_here": [rows], "readings": [want_rows]}
    )
    return found if (Decimal(kwh), rows) != (Decimal(want_kwh), want_rows) else found.clear()
