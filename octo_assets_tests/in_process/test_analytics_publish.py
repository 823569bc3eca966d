"""Write, audit, publish for the analytics: a day whose table fails a blocking check is not
published (the day served stays: no new commit of it, the same files and rows), is kept under
`_rejected/`, and its check says `published: false`; the run's other days are published.

Real SQL output cannot disagree with the readings it was computed from, so a fault is injected
into the query's result for one day of one table (a half hour counted twice, a product-day that
loses a reading); the checks and the publish decision are the real ones.
"""

import dagster as dg
import polars as pl
import pytest

from octo_assets.analytics import assets as analytics_assets
from octo_assets_tests.support.runs import failure_message, materialize

DAYS = ["2021-01-01", "2021-01-02"]
BAD, GOOD = DAYS
FAULTS = {
    "half_hourly_consumption": (
        lambda frame: pl.concat([frame, frame.head(1)]),
        {"half_hourly_matches_readings", "half_hourly_one_row_per_half_hour"},
    ),
    "daily_product_consumption": (
        lambda frame: frame.with_columns(reading_count=pl.col("reading_count") - 1),
        {"product_day_matches_readings"},
    ),
    "active_agreements": (lambda frame: pl.concat([frame, frame]), {"active_agreements_one_row_per_agreement"}),
}


def served(ws, table: str, day: str):
    """The day as the table's current version serves it (conftest.PublishedDay)."""
    key = "as_of_date" if table == "active_agreements" else "date"
    return ws.published_day(f"analytics/{table}", key, day)


@pytest.mark.parametrize("table", list(FAULTS))
def test_an_analytics_day_failing_a_blocking_check_is_kept_aside_and_says_so(sourced, instance, monkeypatch, table):  # noqa: F811
    ws = sourced
    for day in DAYS:
        ws.write_readings(f"m1-{day}.json", [[f"{day} 00:00:00", 1.0, "m1"], [f"{day} 00:30:00", 2.0, "m1"]])
    daily = dg.AssetSelection.groups("readings", "analytics").materializable()
    assert materialize(ws, instance, daily, DAYS).success
    before = served(ws, table, BAD)
    assert before is not None and before.rows, "the day must be published, with rows, before the fault"

    fault, failing = FAULTS[table]
    real = analytics_assets.run_query

    def faulty(connection, name, relations, parameters):
        frame = real(connection, name, relations, parameters)
        return fault(frame) if name == table and str(next(iter(parameters.values()))) == BAD else frame

    monkeypatch.setattr(analytics_assets, "run_query", faulty)
    ws.write_readings("m2.json", [[f"{day} 01:00:00", 4.0, "m2"] for day in DAYS])  # both days change
    result = materialize(ws, instance, dg.AssetSelection.assets(dg.AssetKey(["analytics", table])), DAYS)

    assert not result.success
    assert f"{BAD}: {table} not published, check(s) failed: " in failure_message(result)
    assert served(ws, table, BAD) == before  # the day served stays: no commit of it, same files, same rows
    assert served(ws, table, GOOD).run_id == result.run_id  # ... while the good day was replaced
    rejected = ws.lake_storage().list_files(f"_rejected/analytics/{table}")
    assert [e.path.rsplit("/", 1)[-1] for e in rejected] == [f"{result.run_id}.parquet"]
    assert [m.partition for m in result.asset_materializations_for_node(f"analytics__{table}")] == [GOOD]

    evaluations = {(e.partition, e.check_name): e for e in result.get_asset_check_evaluations()}
    assert {name for (day, name), e in evaluations.items() if day == BAD and not e.passed} == failing
    for name in failing:
        assert evaluations[(BAD, name)].metadata["published"].value is False
        assert evaluations[(GOOD, name)].passed and "published" not in evaluations[(GOOD, name)].metadata
