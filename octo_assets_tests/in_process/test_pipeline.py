"""The whole graph on the case-study sample, checked against an independent computation, with the
lake, landing area and catalog on disk and on a real S3 server: the same answers on both."""

import hashlib
import shutil
from collections import Counter
from datetime import timezone

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from octo_assets import connect, definitions, descriptions
from octo_assets.analytics.tables import TABLES
from octo_assets.automation.freshness import FRESHNESS_CHECKS
from octo_assets.readings.checks import READINGS_CHECKS
from octo_assets.run import run_pipeline
from octo_assets_tests.support import expected
from octo_assets_tests.support.runs import check_evaluations
from octo_assets_tests.support.workspace import BACKENDS, SAMPLE, new_workspace

DAYS = ["2021-01-01", "2021-01-02", "2021-01-03"]
ANALYTICS = ["analytics/active_agreements", "analytics/half_hourly_consumption", "analytics/daily_product_consumption"]
UNPARTITIONED = {"lake/agreement", "lake/product", "lake/meterpoint"}


@pytest.fixture(scope="module", params=BACKENDS)
def built(request, tmp_path_factory):
    """The sample built by make run's run_pipeline: on disk, the session's (conftest.built_sample);
    on the S3 server, this module's own."""
    if request.param == "local":
        sample = request.getfixturevalue("built_sample")
        yield sample.ws, sample.instance, sample.days
        return
    ws = new_workspace(tmp_path_factory.mktemp("ws"), request.param, request)
    shutil.copytree(SAMPLE / "readings", ws.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", ws.source_db)
    ws.sync()
    with dg.DagsterInstance.ephemeral() as instance:
        days = run_pipeline(instance, ws.resources()).days
        yield ws, instance, days


def query(ws, sql: str) -> list[tuple]:
    with connect(ws.warehouse) as con:
        return con.execute(sql).fetchall()


def naive_utc(instant):
    return instant.astimezone(timezone.utc).replace(tzinfo=None)


def test_every_landed_day_is_materialised(built):
    ws, instance, days = built
    assert days == DAYS
    for key in [
        "lake/readings",
        "analytics/half_hourly_consumption",
        "analytics/daily_product_consumption",
        "analytics/active_agreements",
    ]:
        asset_key = dg.AssetKey(key.split("/"))
        assert instance.get_materialized_partitions(asset_key) == set(DAYS), key
    for key in ["lake/agreement", "lake/product", "lake/meterpoint", "warehouse/catalog"]:
        assert instance.get_latest_materialization_event(dg.AssetKey(key.split("/"))) is not None, key


def test_readings_match_the_raw_files(built):
    ws, _, _ = built
    want = expected.readings(ws.readings)
    got = query(
        ws,
        "SELECT meterpoint_id, interval_start_utc AT TIME ZONE 'UTC', consumption_kwh, reading_date, "
        "interval_start_local FROM lake.readings",
    )
    assert len(got) == len(want)
    for meterpoint, utc, kwh, day, local in got:
        want_kwh, want_day, want_local = want[(meterpoint, utc.replace(tzinfo=timezone.utc))]
        assert (kwh, day, local) == (want_kwh, want_day, want_local)


def test_half_hourly_consumption(built):
    ws, _, _ = built
    want = expected.half_hourly(expected.readings(ws.readings))
    got = query(
        ws,
        "SELECT interval_start_utc AT TIME ZONE 'UTC', meterpoint_count, consumption_kwh "
        "FROM analytics.half_hourly_consumption",
    )
    assert len(got) == len(want)  # one row per half hour
    for utc, count, kwh in got:
        want_count, want_kwh = want[utc.replace(tzinfo=timezone.utc)]
        assert (count, kwh) == (want_count, want_kwh)


def test_daily_product_consumption(built):
    ws, _, _ = built
    want = expected.product_day(expected.readings(ws.readings), ws.source_db)
    got = query(
        ws,
        "SELECT reading_date, product_display_name, meterpoint_count, consumption_kwh "
        "FROM analytics.daily_product_consumption",
    )
    assert {(d, n) for d, n, _, _ in got} == set(want)  # one row per product-day
    for day, name, count, kwh in got:
        assert (count, kwh) == want[(day, name)]
    # the sample's meterpoints without an agreement are kept, under a NULL product
    assert any(name is None for _, name, _, _ in got)
    totals = query(
        ws,
        "SELECT (SELECT sum(consumption_kwh) FROM analytics.daily_product_consumption), "
        "(SELECT sum(consumption_kwh) FROM analytics.half_hourly_consumption)",
    )[0]
    assert totals[0] == totals[1]


def test_active_agreements_on_the_briefs_date(built):
    ws, _, _ = built
    want = expected.active_agreements(ws.source_db, "2021-01-01")
    got = query(
        ws,
        "SELECT agreement_id, meterpoint_id, product_display_name, product_is_variable "
        "FROM analytics.active_agreements WHERE as_of_date = DATE '2021-01-01'",
    )
    assert len(got) == len(set(got))  # one row per agreement
    assert set(got) == want


def test_an_analyst_can_join_readings_to_the_source_tables(built):
    ws, _, _ = built
    rows = query(
        ws,
        """
        SELECT p.display_name, count(*) AS readings, count(DISTINCT m.region) AS regions
        FROM lake.readings r
        JOIN lake.meterpoint m USING (meterpoint_id)
        JOIN lake.agreement a ON a.meterpoint_id = r.meterpoint_id
             AND a.agreement_valid_from <= r.reading_date
             AND (a.agreement_valid_to IS NULL OR r.reading_date < a.agreement_valid_to)
        JOIN lake.product p USING (product_id)
        GROUP BY ALL""",
    )
    want = Counter(
        name
        for _, _, name in expected.with_products(expected.readings(ws.readings), ws.source_db).values()
        if name is not None
    )
    assert {name: n for name, n, _ in rows} == dict(want)
    assert all(regions >= 1 for _, _, regions in rows)


def partition_metadata(instance, key: str, day: str) -> dict:
    """The latest materialisation's metadata of a day's partition (or of an unpartitioned asset)."""
    asset_key = dg.AssetKey(key.split("/"))
    partitions = None if key in UNPARTITIONED else [day]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=1
    ).records
    return {name: value.value for name, value in records[0].asset_materialization.metadata.items()}


def test_the_analytics_metadata_holds_charts_and_the_numbers_behind_them(built):
    ws, instance, _ = built
    want = expected.product_day(expected.readings(ws.readings), ws.source_db)
    for day in DAYS:
        half_hourly = partition_metadata(instance, "analytics/half_hourly_consumption", day)
        assert half_hourly["load_curve"].startswith("![kWh and meterpoints by half hour on " + day)
        assert half_hourly["half_hours"] == (47 if day == "2021-01-01" else 48)  # the sample lacks 1 January's 00:00
        products = partition_metadata(instance, "analytics/daily_product_consumption", day)
        assert products["consumption_by_product"].startswith("![kWh by product on " + day)
        wanted = {name: kwh for (d, name), (_, kwh) in want.items() if d.isoformat() == day}
        assert products["products"] == len(wanted) - (None in wanted)
        assert products["kwh_without_agreement"] == float(wanted[None])  # exact sums: one rounding, to float
        assert products["consumption_kwh"] == half_hourly["consumption_kwh"]
        for image in (half_hourly["load_curve"], products["consumption_by_product"]):
            assert len(image) < 40_000 * 4 / 3 + 100  # base64 of a PNG under 40 KB


def test_every_column_of_every_catalog_view_is_described(built):
    ws, _, _ = built
    columns = query(
        ws,
        "SELECT c.schema_name || '.' || c.table_name, c.column_name, c.comment FROM duckdb_columns() c "
        "JOIN duckdb_views() v ON v.schema_name = c.schema_name AND v.view_name = c.table_name WHERE NOT v.internal",
    )
    assert [(view, column) for view, column, comment in columns if not comment] == []
    # and no description is left over for a column that no longer exists
    assert {(view, column) for view, column, _ in columns} == {
        (view, column) for view, described in descriptions.VIEWS.items() for column in described
    }
    for view, column, comment in columns:
        assert comment == descriptions.VIEWS[view][column]


def test_every_materialisation_describes_its_columns_and_the_analytics_keep_their_schema(built):
    _, instance, _ = built
    for key in ["lake/readings", "lake/agreement", "lake/product", "lake/meterpoint", *ANALYTICS]:
        schema = partition_metadata(instance, key, DAYS[0])["dagster/column_schema"]
        assert all(column.description for column in schema.columns), key
    for table in TABLES:
        schema = partition_metadata(instance, f"analytics/{table.name}", DAYS[0])["dagster/column_schema"]
        expected = [(name, str(dtype)) for name, dtype in table.schema.items()]
        assert [(c.name, c.type) for c in schema.columns] == expected


def test_the_ui_lists_the_columns_analysts_query(built):
    """The asset's columns are the catalog view's, the day it is partitioned by among them, with
    the view's types; the analytics assets' are their tables' (above)."""
    ws, instance, _ = built
    schema = partition_metadata(instance, "lake/readings", DAYS[0])["dagster/column_schema"]
    view = query(
        ws,
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'lake' AND table_name = 'readings'",
    )
    assert sorted(c.name for c in schema.columns) == sorted(name for name, _ in view)
    assert {c.name: c.type for c in schema.columns}["reading_date"] == "Date"
    assert dict(view)["reading_date"] == "DATE"


def test_running_twice_gives_identical_tables(built, tmp_path):
    """A second run with nothing new commits nothing (in_process/test_up_to_date.py), and a rebuild
    of the same inputs gives the same tables: each current version with the same columns and rows,
    and the same plain Parquet files (the audits' rejects) byte for byte. On disk the copy is run
    again: its folders are new to the landing state, its files new versions of the same content."""
    ws, instance, _ = built
    if not ws.s3:  # the session's shared build stays as it is: run again on a copy, as a new session would
        ws, instance = ws.copy_to(tmp_path / "copy"), dg.DagsterInstance.ephemeral()
    before = _lake_digest(ws)
    run_pipeline(instance, ws.resources())
    assert _lake_digest(ws) == before


def _lake_digest(ws) -> dict[str, object]:
    lake = ws.lake_storage()
    files = [e.path for e in lake.list_files() if not e.path.startswith("_state/")]
    tables = sorted({path.split("/_delta_log/")[0] for path in files if "/_delta_log/" in path})
    assert {"readings", "source/agreement", *ANALYTICS} <= set(tables)
    digest: dict[str, object] = {}
    for table in tables:
        source = ws.table_sql(table)
        columns = ws.query_lake(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})")
        digest[table] = (columns, ws.query_lake(f"SELECT * FROM {source} ORDER BY ALL"))
    for path in files:  # plain files: neither in a table's folder nor the landing state
        if path.endswith(".parquet") and not any(path.startswith(f"{table}/") for table in tables):
            digest[path] = hashlib.sha256(lake.read_bytes(path)).hexdigest()
    return digest


def test_catalog_opens_from_any_working_directory(built, tmp_path, monkeypatch):
    ws, _, _ = built
    monkeypatch.chdir(tmp_path)
    assert query(ws, "SELECT count(*) FROM lake.readings")[0][0] == len(expected.readings(ws.readings))


def test_each_check_result_is_counted_against_the_materialisation_it_judged(built):
    """What the UI's check list and a check's Partitions tab count: a day's latest result, if it
    targets the day's latest materialisation (else the day shows "Missing"). Checks run before a
    day is published (write-audit-publish), so the step must record them after it."""
    _, instance, days = built
    graph = definitions.defs.resolve_asset_graph()
    freshness = {key for check in FRESHNESS_CHECKS for key in check.check_keys}  # judged on a clock, not a run
    keys = sorted(graph.asset_check_keys - freshness, key=str)
    infos = instance.event_log_storage.get_asset_check_partition_info(keys)
    seen = {(info.check_key, info.partition_key): info for info in infos}
    for key in keys:
        daily = graph.get(key.asset_key).partitions_def is not None
        for day in days if daily else [None]:
            info = seen[(key, day)]
            assert info.latest_target_materialization_storage_id is not None, (key, day)
            assert info.is_current, (key, day)
    failed = {
        (key.name, day)
        for (key, day), info in seen.items()
        if info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
    }
    assert failed == {("readings_complete_days", "2021-01-01")} | {
        ("readings_covered_by_agreement", day) for day in days
    }


def test_the_checks_report_exactly_the_samples_real_issues(built):
    ws, instance, days = built
    evaluations = check_evaluations(instance)
    freshness = {key for check in FRESHNESS_CHECKS for key in check.check_keys}  # their own sensor runs them
    every_check = {key.name for key in definitions.defs.resolve_asset_graph().asset_check_keys - freshness}
    assert {name for name, _ in evaluations} == every_check  # all ran
    readings_checks = {spec.name for spec in READINGS_CHECKS}
    assert {(name, day) for name, day in evaluations if name in readings_checks} == {
        (name, day) for name in readings_checks for day in days
    }  # the readings checks ran day by day, each result recorded against its day
    failed = {key: e for key, e in evaluations.items() if not e.passed}
    assert {name for name, _ in failed} == {"readings_complete_days", "readings_covered_by_agreement"}
    assert {e.severity for e in failed.values()} == {dg.AssetCheckSeverity.WARN}

    readings = expected.readings(ws.readings)
    half_hours = Counter((meterpoint, day) for (meterpoint, _), (_, day, _) in readings.items())
    short_days = Counter(day.isoformat() for (_, day), n in half_hours.items() if n != 48)  # no clock change here
    assert short_days == {"2021-01-01": 100}
    incomplete = failed[("readings_complete_days", "2021-01-01")]
    assert incomplete.metadata["offending_rows"].value == 100
    assert incomplete.metadata["offenders"].value.count("| 47 | 48 | 00:00 |") == 20  # shown
    assert ("readings_complete_days", "2021-01-02") not in failed

    uncovered = Counter(
        day.isoformat()
        for day in {
            (m, day)
            for (m, _), (_, day, name) in expected.with_products(readings, ws.source_db).items()
            if name is None
        }
        for day in [day[1]]
    )
    assert uncovered == {day: 6 for day in days}
    for day in days:
        assert failed[("readings_covered_by_agreement", day)].metadata["offending_rows"].value == 6
