"""Faults the feed and the source really produce, and what the pipeline does with each. On the S3
server too where the store is part of the fault: bad files read from it, and deliveries ordered
by it. (A run killed while it works: integration/test_killed_runs.py.)"""

import os
import sqlite3
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from octo_assets.analytics import checks as analytics_checks
from octo_assets.lake import Lake
from octo_assets.resources import SourceDatabase
from octo_assets.source.snapshot import schema_problem
from octo_assets_tests.support.runs import check_outcomes, failure_message, materialize, snapshot
from octo_assets_tests.support.workspace import BACKENDS, SMALL_SOURCE

ON_BOTH = pytest.mark.parametrize("workspace", BACKENDS, indirect=True)

DAY = "2021-01-01"
READINGS = dg.AssetSelection.assets(["lake", "readings"])
PRODUCTS = SMALL_SOURCE["product"]


# -- readings files --------------------------------------------------------------------------


@ON_BOTH
def test_bad_files_and_rows_are_quarantined_and_the_good_ones_load(sourced, instance):
    ws = sourced
    good = ws.write_readings("good.json", [["2021-01-01 00:00:00", 1.0, "m1"], ["2021-01-01 00:30:00", 2.0, "m1"]])
    ws.write_readings(
        "rows.json",
        [
            ["2021-01-01 01:00:00", 1.0, "m1"],
            ["2021-01-01 01:30:00", "n/a", "m1"],
            ["2021-01-01 02:00:00", 1.0],
            ["2021-01-01 02:30:00", 1.0, None],
            ["2021-01-01 03:00:00", -3.0, "m1"],
            ["2021-01-01 03:3", 1.0, "m1"],
        ],
    )
    (ws.readings / "truncated.json").write_bytes(good.read_bytes()[:40])
    (ws.readings / "empty.json").write_bytes(b"")
    ws.write_readings(
        "renamed.json", [["2021-01-01 04:00:00", 1.0, "m1"]], columns=["interval_start", "kwh", "meterpoint_id"]
    )
    (ws.readings / "no_data.json").write_text(
        '{"columns": ["interval_start", "consumption_delta", "meterpoint_id"], '
        '"rows": [["2021-01-01 05:00:00", 1.0, "m1"]]}'
    )
    result = materialize(ws, instance, READINGS, [DAY])
    assert result.success  # bad input never fails the run: it is quarantined and reported

    loaded = ws.query_lake("SELECT source_file, consumption_kwh FROM {readings} ORDER BY ALL")
    assert loaded == [("good.json", 1.0), ("good.json", 2.0), ("rows.json", 1.0)]
    quarantined = ws.query_lake(
        "SELECT source_file, row_number, reason FROM {readings_quarantine} ORDER BY source_file, row_number",
    )
    assert quarantined == [
        ("empty.json", None, "file is empty"),  # no day in it: the run that read it reports it
        ("no_data.json", None, 'no "data" array'),
        (
            "renamed.json",
            None,
            "columns are ['interval_start', 'kwh', 'meterpoint_id'], "
            "expected ['interval_start', 'consumption_delta', 'meterpoint_id']",
        ),
        ("rows.json", 2, "consumption_delta is not a number: 'n/a'"),
        ("rows.json", 3, "row has 2 values, expected 3"),
        ("rows.json", 4, "meterpoint_id is missing"),
        ("rows.json", 5, "consumption_delta is negative"),
        ("rows.json", 6, "interval_start is not a YYYY-MM-DD HH:MM:SS time"),
        ("truncated.json", None, "invalid JSON: unexpected end of data: line 1 column 41 (char 40)"),
    ]
    metadata = result.asset_materializations_for_node("lake__readings")[0].metadata
    counts = {k: metadata[k].value for k in ["rows_read", "rows_loaded", "duplicates", "rows_quarantined"]}
    assert counts == {"rows_read": 8, "rows_loaded": 3, "duplicates": 0, "rows_quarantined": 5}

    passed, severity, details = check_outcomes(result)["readings_nothing_quarantined"]
    assert (passed, severity, details["files_rejected"]) == (False, "ERROR", 4)
    assert "truncated.json" in details["offenders"] and "invalid JSON" in details["offenders"]


def test_a_clocks_forward_time_that_does_not_exist_is_quarantined(sourced, instance):
    ws = sourced
    ws.write_readings(
        "m1.json",
        [["2021-03-28 00:30:00", 1.0, "m1"], ["2021-03-28 01:30:00", 1.0, "m1"], ["2021-03-28 02:00:00", 1.0, "m1"]],
    )
    assert materialize(ws, instance, READINGS, ["2021-03-28"]).success
    assert ws.query_lake("SELECT row_number, reason FROM {readings_quarantine}") == [
        (2, "interval_start does not exist in Europe/London (clocks go forward)")
    ]
    assert ws.query_lake("SELECT count(*) FROM {readings}") == [(2,)]


@ON_BOTH
def test_a_corrected_redelivery_wins_and_the_conflict_check_names_it(sourced, instance):
    ws = sourced
    first = ws.write_readings("m1.json", [["2021-01-01 00:00:00", 1.0, "m1"], ["2021-01-01 00:30:00", 1.0, "m1"]])
    os.utime(first, (1_000, 1_000))
    ws.write_readings("2021-01-02/m1.json", [["2021-01-01 00:30:00", 7.5, "m1"]])
    result = materialize(ws, instance, READINGS, [DAY])
    assert ws.query_lake("SELECT consumption_kwh FROM {readings} ORDER BY interval_start_utc") == [
        (1.0,),
        (7.5,),
    ]
    passed, severity, details = check_outcomes(result)["readings_no_conflicting_deliveries"]
    assert (passed, severity) == (False, "WARN")
    assert "2021-01-02/m1.json" in details["offenders"]


def test_readings_for_a_meterpoint_the_database_lacks_are_kept_and_reported(sourced, instance):
    ws = sourced
    ws.write_readings("ghost.json", [["2021-01-01 00:00:00", 1.0, "ghost"]])
    result = materialize(ws, instance, READINGS, [DAY])
    outcomes = check_outcomes(result)
    assert outcomes["readings_meterpoints_known"][0] is False
    assert "ghost" in outcomes["readings_meterpoints_known"][2]["offenders"]
    assert outcomes["readings_covered_by_agreement"][2]["uncovered_share"] == 1.0


def test_gaps_in_a_day_are_reported_with_the_missing_half_hours(sourced, instance):
    ws = sourced
    rows = [[f"2021-01-01 {h:02d}:{m:02d}:00", 0.5, "m1"] for h in range(24) for m in (0, 30)]
    del rows[10]  # 05:00
    ws.write_readings("m1.json", rows)
    passed, _, details = check_outcomes(materialize(ws, instance, READINGS, [DAY]))["readings_complete_days"]
    assert passed is False
    assert "| 47 | 48 | 05:00 |" in details["offenders"]


# -- the source database ---------------------------------------------------------------------


def latest_agreements(ws):
    return ws.query_lake(
        "SELECT snapshot_date::VARCHAR, count(*) FROM {source/agreement} GROUP BY ALL ORDER BY ALL",
    )


def test_a_corrupt_database_fails_clearly_and_the_previous_snapshot_stays(sourced, instance):
    ws = sourced
    ws.source_db.write_bytes(b"this is not a database" * 100)
    result = snapshot(ws, instance, "2021-01-02")
    assert not result.success
    message = failure_message(result)
    assert str(ws.source_db) in message and "not a readable SQLite database" in message
    assert latest_agreements(ws) == [("2021-01-01", 1)]


def test_a_database_locked_by_a_writer_fails_clearly(sourced, instance):
    ws = sourced
    writer = sqlite3.connect(ws.source_db)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        resources = ws.resources()
        resources["source_db"] = SourceDatabase(path=str(ws.source_db), busy_timeout_s=0.2)
        result = snapshot(ws, instance, "2021-01-02", resources)
    finally:
        writer.rollback()
        writer.close()
    assert not result.success
    assert "locked by a writer" in failure_message(result)
    assert latest_agreements(ws) == [("2021-01-01", 1)]


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("DROP TABLE product", "table 'product' is missing"),
        (
            "ALTER TABLE agreement DROP COLUMN agreement_valid_to",
            "table 'agreement' lacks column(s) agreement_valid_to",
        ),
        (
            "DROP TABLE agreement; DROP TABLE product; DROP TABLE meterpoint",
            "tables 'agreement', 'product', 'meterpoint' are missing",
        ),
    ],
)
def test_a_database_missing_a_table_or_column_fails_clearly(sourced, instance, damage, expected):
    """The step fails with the very sentence `make run` says before it starts (schema_problem),
    and the previous snapshot stays the one in use."""
    ws = sourced
    with sqlite3.connect(ws.source_db) as con:
        con.executescript(damage)
    con.close()
    result = snapshot(ws, instance, "2021-01-02")
    assert not result.success
    sentence = failure_message(result)
    assert sentence == schema_problem(ws.source_db)
    assert sentence.startswith(f"OCTO_SOURCE_DB: {ws.source_db}: {expected}")
    assert latest_agreements(ws) == [("2021-01-01", 1)]


def test_the_source_database_is_never_written(sourced, instance):
    before = sourced.source_db.read_bytes(), sourced.source_db.stat().st_mtime_ns
    assert snapshot(sourced, instance, "2021-01-03").success
    assert (sourced.source_db.read_bytes(), sourced.source_db.stat().st_mtime_ns) == before


def test_source_checks_name_overlaps_missing_products_and_bad_dates(workspace, instance):
    workspace.write_source(
        [
            (1, "2020-01-01", None, "p1", "m1", "a1"),
            (2, "2020-06-01", "2021-06-01", "p1", "m1", "a1"),  # overlaps 1
            (3, "2020-01-01", "2020-01-01", "p1", "m1", "a1"),  # zero length: fine
            (4, "2020-01-01", None, "p_gone", "m2", "a2"),  # product missing
            (5, "2020-02-01", "2020-01-01", "p1", "m3", "a3"),  # ends before it starts
        ],
        PRODUCTS,
        [("Eastern", "m1"), ("Eastern", "m2"), ("Eastern", "m3")],
    )
    result = snapshot(workspace, instance, "2021-01-01")
    assert not result.success  # blocking checks failed: the snapshot is not published
    outcomes = check_outcomes(result)
    assert outcomes["agreement_no_overlaps"][0] is False
    assert "| m1 | 1 |" in outcomes["agreement_no_overlaps"][2]["offenders"]
    assert outcomes["agreement_product_exists"][0] is False
    assert "p_gone" in outcomes["agreement_product_exists"][2]["offenders"]
    assert outcomes["agreement_valid_dates"][0] is False
    assert outcomes["agreement_valid_dates"][2]["zero_length_agreements"] == 1
    assert outcomes["product_id_unique"][0] is True
    assert outcomes["agreement_schema"][0] is True


# -- analytics that disagree -------------------------------------------------------------------


def test_analytics_checks_pass_on_a_true_day_and_catch_tables_that_disagree(sourced, instance):
    ws = sourced
    ws.write_readings("m1.json", [["2021-01-01 00:00:00", 1.0, "m1"], ["2021-01-01 00:30:00", 2.0, "m1"]])
    daily = dg.AssetSelection.groups("readings", "analytics").materializable()
    result = materialize(ws, instance, daily, [DAY])
    names = {spec.name for specs in analytics_checks.CHECKS.values() for spec in specs}
    outcomes = check_outcomes(result)
    assert {name: outcomes[name][0] for name in names} == dict.fromkeys(names, True)

    lake = ws.lake_storage()
    half_hourly = Lake(lake).read_day("analytics/half_hourly_consumption", "date", DAY)
    readings = (Decimal("3.000"), 2)  # the day's kWh and rows
    evaluate = analytics_checks.evaluate
    doubled = pl.concat([half_hourly, half_hourly.head(1)])  # a half hour twice: kWh too high
    found = {
        e.check_name: e.passed for e in analytics_checks.evaluate("half_hourly_consumption", doubled, DAY, readings)
    }
    assert found == {"half_hourly_matches_readings": False, "half_hourly_one_row_per_half_hour": False}
    short = half_hourly.with_columns(consumption_kwh=pl.col("consumption_kwh") - Decimal("0.001"))
    found = {e.check_name: e.passed for e in evaluate("half_hourly_consumption", short, DAY, readings)}
    assert found == {"half_hourly_matches_readings": False, "half_hourly_one_row_per_half_hour": True}
    product_day = Lake(lake).read_day("analytics/daily_product_consumption", "date", DAY)
    lost = product_day.with_columns(reading_count=pl.col("reading_count") - 1)
    found = {
        e.check_name: e.passed for e in analytics_checks.evaluate("daily_product_consumption", lost, DAY, readings)
    }
    assert found == {"product_day_matches_readings": False, "product_day_one_row_per_product": True}
