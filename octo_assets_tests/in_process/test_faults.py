"""Faults the feed and the source really produce, and what the pipeline does with each: with the
lake and landing area on disk and on a real S3 server, with the same answers."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from octo_assets.analytics import checks as analytics_checks
from octo_assets.lake import Lake
from octo_assets.resources import SourceDatabase
from octo_assets_tests.support.runs import check_outcomes, failure_message, materialize, snapshot
from octo_assets_tests.support.workspace import BACKENDS, SMALL_SOURCE

# slow: the module takes ~45 s even without S3
pytestmark = pytest.mark.parametrize("workspace", BACKENDS, indirect=True)

DAY = "2021-01-01"
READINGS = dg.AssetSelection.assets(["lake", "readings"])
PRODUCTS = SMALL_SOURCE["product"]


# -- readings files --------------------------------------------------------------------------


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
    ],
)
def test_a_database_missing_a_table_or_column_fails_clearly(sourced, instance, damage, expected):
    ws = sourced
    with sqlite3.connect(ws.source_db) as con:
        con.execute(damage)
    con.close()
    result = snapshot(ws, instance, "2021-01-02")
    assert not result.success
    assert f"{ws.source_db}: {expected}" in failure_message(result)
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


# -- crashes -----------------------------------------------------------------------------------

KILLED_RUN = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from octo_assets.definitions import ASSETS
    from octo_assets.resources import build_resources

    readings, db, lake, warehouse, home = sys.argv[1:]
    with dg.instance_for_test(temp_dir=home) as instance:
        dg.materialize(ASSETS, selection=dg.AssetSelection.assets(["lake", "readings"]), instance=instance,
                       resources=build_resources(readings, db, lake, warehouse), partition_key="2021-01-01")
    """
)
DAY_FOLDER = f"readings/date={DAY}"  # the readings table's folder of the day


def killed_run(ws, home) -> subprocess.Popen:
    arguments = [ws.readings_url, str(ws.source_db), ws.lake_url, ws.warehouse, str(home)]
    return subprocess.Popen([sys.executable, "-c", KILLED_RUN, *arguments], start_new_session=True)


def day_folder(ws) -> set[str]:
    """Every file in the day's folder of the readings table, those of no version yet included
    (on disk also the writer's temporary files, whose names start with a dot)."""
    if ws.s3:
        return {e.path for e in ws.lake_storage().list_files(DAY_FOLDER)}
    folder = ws.lake / DAY_FOLDER
    return set(os.listdir(folder)) if folder.is_dir() else set()


def publishing(ws, before: set[str]) -> bool:
    """The day is being published: a file the day's folder did not hold before the run (Delta
    writes a day's new files into the table, then commits them)."""
    return bool(day_folder(ws) - before)


def staging_runs(staging) -> bool:
    return any(staging.glob("run-*"))


def test_a_run_killed_at_any_moment_leaves_the_old_or_the_new_partition_whole_and_nothing_in_the_way(
    sourced, instance, tmp_path, monkeypatch
):
    """Killed while it stages, while it publishes, or at fixed moments; the input changed since the
    partition was built, so the old and the new partition differ. After each kill the partition is
    one of them, whole; what the killed run left behind never trips the next one."""
    ws = sourced
    staging = tmp_path / "staging"
    monkeypatch.setenv("OCTO_STAGING_DIR", str(staging))  # the killed runs inherit it
    rows_per_file, files = 48, 400

    def deliver(kwh: float) -> None:
        for n in range(files):
            day_rows = [[f"{DAY} {h // 2:02d}:{30 * (h % 2):02d}:00", kwh, f"m{n:04d}"] for h in range(rows_per_file)]
            ws.write_readings(f"m{n:04d}.json", day_rows)

    deliver(0.25)
    assert materialize(ws, instance, READINGS, [DAY]).success
    old = ws.published_day("readings", "date", DAY)
    deliver(0.5)  # corrected: the new partition will differ
    ws.sync()
    new_total = [(files * rows_per_file, Decimal("0.5") * files * rows_per_file)]

    for attempt, moment in enumerate(["staging", "publishing", 1.0, 2.0, 3.0]):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        before = day_folder(ws)
        child = killed_run(ws, home)
        deadline = time.monotonic() + (60 if isinstance(moment, str) else moment)
        while child.poll() is None and time.monotonic() < deadline:
            if (moment == "publishing" and publishing(ws, before)) or (moment == "staging" and staging_runs(staging)):
                break
            time.sleep(0.001)
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:  # the run (and every process it started) had already ended
            pass
        child.wait()
        # whatever the moment, the day served is the old one (no commit of it since) or the new
        # one, whole; files a killed run wrote but never committed are in no version
        now = ws.published_day("readings", "date", DAY)
        totals = ws.query_lake(f"SELECT count(*), sum(consumption_kwh) FROM {{readings}} WHERE date = DATE '{DAY}'")
        assert now == old or totals == new_total, moment

    assert materialize(ws, instance, READINGS, [DAY]).success
    assert ws.query_lake(
        "SELECT count(*), count(DISTINCT (meterpoint_id, interval_start_utc)), sum(consumption_kwh) FROM {readings}",
    ) == [(files * rows_per_file, files * rows_per_file, new_total[0][1])]
    assert [p.name for p in staging.glob("run-*")] == []  # the killed runs' staging was swept


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
