"""Back-dated corrections of the source, on real instances and lakes: each new snapshot records the
days it moves, and source_correction_sensor rebuilds exactly those days that were built, however
old, leaving every table as a from-scratch build gives it, and the independent computation."""

import logging
import shutil
import textwrap
from datetime import date, timedelta

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.sensor import execute_sensor_iteration

from octo_assets.automation.correction_sensor import Built, Rebuild, Snapshot, plan, run_requests
from octo_assets.automation.correction_sensor import source_correction_sensor as sensor
from octo_assets.automation.jobs import DAILY_ASSETS, SNAPSHOT_ASSETS, snapshot_run_config
from octo_assets.definitions import ASSET_CHECKS, ASSETS, defs
from octo_assets.resources import LakeStorage
from octo_assets_tests.support import expected
from octo_assets_tests.support.runs import materialize
from octo_assets_tests.support.workspace import BACKENDS, new_workspace

AGREEMENT = dg.AssetKey(["lake", "agreement"])
ACTIVE = dg.AssetKey(["analytics", "active_agreements"])
PRODUCT_DAY = dg.AssetKey(["analytics", "daily_product_consumption"])
HALF_HOURLY = dg.AssetKey(["analytics", "half_hourly_consumption"])
TABLES = {"active_agreements": ACTIVE, "daily_product_consumption": PRODUCT_DAY}
RANGE = ("asset_partition_range_start", "asset_partition_range_end")
DAYS = [(date(2021, 1, 1) + timedelta(days=n)).isoformat() for n in range(21)]
METERPOINTS = ["6e80fa8f56", "0123", "3674e80033", "5555", "09ab"]
PRODUCTS = [("Octopus 12M Fixed", 0, 1, "P1"), ("Flexible Octopus", 1, 2, "P2"), ("Octopus Go", 0, 3, "P3")]
AGREEMENTS = [
    (17, "2020-01-01", None, "P1", "6e80fa8f56", "A1"),
    (18, "2020-06-01", "2021-01-08", "P1", "0123", "A2"),
    (19, "2021-01-08", None, "P2", "0123", "A2"),  # a product switch inside the month
    (20, "2020-10-01", None, "P3", "3674e80033", "A3"),
    (21, "2021-01-05", "2021-01-15", "P3", "5555", "A5"),
]  # 09ab has readings, and no agreement or meterpoint row yet
SOURCE = {
    "agreement": AGREEMENTS,
    "product": PRODUCTS,
    "meterpoint": [("south", m) for m in METERPOINTS[:4]],
}


def land(ws, days: list[str] = DAYS, source: dict = SOURCE) -> None:
    for index, meterpoint in enumerate(METERPOINTS):
        rows = [
            [f"{day} {h:02d}:{m:02d}:00", round(0.05 + index * 0.01 + n * 0.001 + h * 0.002, 3), meterpoint]
            for n, day in enumerate(days)
            for h in range(24)
            for m in (0, 30)
        ]
        ws.write_readings(f"{meterpoint}.json", rows)
    write(ws, source)


def write(ws, source: dict) -> None:
    ws.write_source(source["agreement"], source["product"], source["meterpoint"])


def snapshot(ws, instance, snapshot_date: str = "2021-01-22") -> int:
    """A snapshot run; the storage id of its lake/agreement materialisation."""
    assert materialize(ws, instance, SNAPSHOT_ASSETS, run_config=snapshot_run_config(snapshot_date)).success
    return instance.fetch_materializations(AGREEMENT, limit=1).records[0].storage_id


def build(ws, instance, days: list[str] = DAYS) -> None:
    snapshot(ws, instance)
    assert materialize(ws, instance, DAILY_ASSETS, days).success


def tick(instance, cursor: str | None) -> dg.SensorResult:
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))


def requested_days(requests: list[dg.RunRequest]) -> dict[str, list[str]]:
    """Per table, the days the run requests rebuild (each once)."""
    found: dict[str, list[str]] = {table: [] for table in TABLES}
    for request in requests:
        first = request.partition_key or request.tags["dagster/asset_partition_range_start"]
        last = request.partition_key or request.tags["dagster/asset_partition_range_end"]
        for table, key in TABLES.items():
            if key in request.asset_selection:
                found[table] += [day for day in DAYS if first <= day <= last]
    return {table: sorted(days) for table, days in found.items()}


def execute(ws, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """What the daemon launches for a request: its assets and checks, its days, its tags."""
    selection = dg.AssetSelection.assets(*request.asset_selection) | dg.AssetSelection.checks(*request.asset_check_keys)
    return dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=selection,
        instance=instance,
        resources=ws.resources(),
        tags=request.tags,
        partition_key=request.partition_key,
    )


def rebuilt_since(instance, storage_id: int) -> dict[str, list[str]]:
    """Per analytics table, the days materialised after `storage_id`."""
    found = {}
    for table, key in {**TABLES, "half_hourly_consumption": HALF_HOURLY}.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=storage_id), limit=10_000
        ).records
        found[table] = sorted({record.partition_key for record in records})
    return found


def day_metadata(instance, key: dg.AssetKey, day: str | None) -> dict:
    """The metadata of the latest materialisation of a day (None: of an unpartitioned asset)."""
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day] if day else None), limit=1
    ).records
    return {name: value.value for name, value in record.asset_materialization.metadata.items()}


def assert_tables_match_the_independent_computation(ws, days: list[str] = DAYS) -> None:
    readings = expected.readings(ws.readings)
    products = ws.query_lake(
        "SELECT reading_date, product_display_name, meterpoint_count, consumption_kwh "
        "FROM {analytics/daily_product_consumption}"
    )
    assert {(d, n): (c, kwh) for d, n, c, kwh in products} == expected.product_day(readings, ws.source_db)
    for day in days:
        active = ws.query_lake(
            "SELECT agreement_id, meterpoint_id, product_display_name, product_is_variable "
            f"FROM {{analytics/active_agreements}} WHERE as_of_date = DATE '{day}'"
        )
        assert len(active) == len(set(active)) and set(active) == expected.active_agreements(ws.source_db, day), day


def analytics_tables(ws) -> dict[str, list[tuple]]:
    """Every row of the three analytics tables' current versions, in order."""
    return {
        table: ws.query_lake(f"SELECT * FROM {{analytics/{table}}} ORDER BY ALL")
        for table in ("active_agreements", "daily_product_consumption", "half_hourly_consumption")
    }


CUT = {  # an open agreement cut late, back-dated, and continued on another product
    **SOURCE,
    "agreement": [
        (17, "2020-01-01", "2021-01-10", "P1", "6e80fa8f56", "A1"),
        (42, "2021-01-10", None, "P2", "6e80fa8f56", "A1"),
        *AGREEMENTS[1:],
    ],
}
RENAMED = {**CUT, "product": [PRODUCTS[0], ("Flexible Octopus (2021)", 1, 2, "P2"), PRODUCTS[2]]}
METERPOINT_ADDED = {
    **RENAMED,
    "agreement": [*RENAMED["agreement"], (50, "2021-01-12", None, "P1", "09ab", "A9")],
    "meterpoint": [*SOURCE["meterpoint"], ("west", "09ab")],
}
REORDERED = {table: list(reversed(rows)) for table, rows in METERPOINT_ADDED.items()}


def test_back_dated_corrections_rebuild_exactly_the_days_they_move(workspace, instance, tmp_path, request):
    ws = workspace
    land(ws)
    build(ws, instance)
    first = tick(instance, None)  # the build itself: its days were built from its snapshot
    assert first.run_requests == [] and first.cursor

    cursor, before = first.cursor, SOURCE
    for after, want in [
        (CUT, {"daily_product_consumption": DAYS[9:], "active_agreements": DAYS}),
        # renamed: 19's days from the 8th, 42's from the 10th; active from the 9th (strict)
        (RENAMED, {"daily_product_consumption": DAYS[7:], "active_agreements": DAYS[8:]}),
        (METERPOINT_ADDED, {"daily_product_consumption": DAYS[11:], "active_agreements": DAYS[12:]}),
        (REORDERED, {"daily_product_consumption": [], "active_agreements": []}),
    ]:
        assert expected.moved_days(before, after, DAYS) == want  # the hand-reasoned days, independently
        write(ws, after)
        published = snapshot(ws, instance)
        result = tick(instance, cursor)
        assert requested_days(result.run_requests) == want, after
        assert all(r.tags["octo/trigger"] == "source_correction" for r in result.run_requests)
        for run in result.run_requests:
            assert execute(ws, instance, run).success
        # only the days the change moved were rebuilt, the half-hourly table never
        assert rebuilt_since(instance, published) == {**want, "half_hourly_consumption": []}
        assert_tables_match_the_independent_computation(ws)
        for table, days in want.items():
            for day in days:  # each rebuilt day says why, in the UI
                metadata = day_metadata(instance, TABLES[table], day)
                assert metadata["rebuilt_because"] == result.run_requests[0].tags["octo/change"]
                assert metadata["snapshot_version"] == day_metadata(instance, AGREEMENT, None)["snapshot_version"]
        cursor, before = result.cursor, after
        assert tick(instance, cursor).run_requests == []  # nothing twice

    # the meterpoint added: its readings are now covered from the 12th (the check re-evaluated)
    covered = check_offenders(instance, "readings_covered_by_agreement")
    assert [day for day in DAYS if "09ab" not in covered[day]] == DAYS[11:]

    # and a from-scratch build of the same inputs in a fresh lake gives the same tables
    fresh = new_workspace(tmp_path / "fresh", "local", request)
    shutil.copytree(ws.readings, fresh.readings, dirs_exist_ok=True)
    write(fresh, REORDERED)
    with dg.instance_for_test() as fresh_instance:
        build(fresh, fresh_instance)
    assert analytics_tables(ws) == analytics_tables(fresh)


def check_offenders(instance, name: str) -> dict[str, str]:
    """Per day, the offenders markdown of the latest evaluation of a readings check."""
    results = {}
    for run in reversed(instance.get_runs()):
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data
            if evaluation.check_name == name:
                results[evaluation.partition] = evaluation.metadata["offenders"].value
    return results


def test_an_unchanged_snapshot_and_a_snapshot_dated_before_the_latest_rebuild_nothing(workspace, instance):
    ws = workspace
    land(ws, DAYS[:3])
    build(ws, instance, DAYS[:3])
    cursor = tick(instance, None).cursor
    snapshot(ws, instance, "2021-01-22")  # the same content, the same day
    snapshot(ws, instance, "2021-01-23")  # the same content, the next day
    write(ws, CUT)
    older = snapshot(ws, instance, "2021-01-20")  # the analytics keep reading the 2021-01-23 one
    metadata = day_metadata(instance, AGREEMENT, None)
    assert metadata["days_to_refresh"] == {"active_agreements": [], "daily_product_consumption": []}
    assert metadata["changes"].startswith("Dated before the 2021-01-23 snapshot")
    result = tick(instance, cursor)
    assert result.run_requests == [] and result.cursor == str(older)
    assert "no built day moved" in result.skip_message


def test_a_day_built_after_the_snapshot_from_it_is_skipped_and_one_built_from_an_older_is_not(
    workspace, instance, tmp_path
):
    ws = workspace
    days = DAYS[:12]
    land(ws, days)
    build(ws, instance, days)
    stale_lake = tmp_path / "lake_before_the_correction"
    shutil.copytree(ws.lake, stale_lake)
    cursor = tick(instance, None).cursor

    write(ws, CUT)  # moves product-days from the 10th, active agreements every day
    snapshot(ws, instance)
    # the 11th, built after the snapshot from it (a daily run): not rebuilt again
    assert materialize(ws, instance, DAILY_ASSETS, [days[10]]).success
    # the 12th, recorded after the snapshot but built from the lake as it was before (a run that
    # started before the snapshot was published and ended after): rebuilt
    stale = {**ws.resources(), "lake": LakeStorage(root=str(stale_lake))}
    assert materialize(ws, instance, dg.AssetSelection.assets(*TABLES.values()), [days[11]], resources=stale).success

    result = tick(instance, cursor)
    found = requested_days(result.run_requests)
    assert found == {
        "daily_product_consumption": [days[9], days[11]],
        "active_agreements": [d for d in days if d != days[10]],
    }
    stale_runs = [r for r in result.run_requests if r.run_key.startswith("stale")]
    assert {r.partition_key for r in stale_runs} == {days[11]}
    assert all("built from snapshot" in r.tags["octo/change"] for r in stale_runs)


# --- the daemon ---------------------------------------------------------------------------------

LOCATION = """
import dagster as dg
from octo_assets.automation.correction_sensor import source_correction_sensor
from octo_assets.definitions import ASSET_CHECKS, ASSETS
from octo_assets.resources import build_resources

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    sensors=[source_correction_sensor],
    resources=build_resources({readings!r}, {source_db!r}, {lake!r}, {warehouse!r}),
    executor=dg.in_process_executor,
)
"""


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_the_sensors_range_runs_run_through_the_daemon(workspace, tmp_path, monkeypatch):
    """The sensor daemon's own code path, its runs started as it submits them: range runs (at most
    OCTO_DAYS_PER_RUN days) and single-day runs of the sensor's requests succeed."""
    monkeypatch.setenv("OCTO_DAYS_PER_RUN", "2")
    ws = workspace
    days = DAYS[:8]
    land(ws, days)
    location = tmp_path / "location.py"
    location.write_text(
        textwrap.dedent(
            LOCATION.format(
                readings=ws.readings_url, source_db=str(ws.source_db), lake=ws.lake_url, warehouse=ws.warehouse
            )
        )
    )
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=str(location), attribute="defs"))
    with dg.instance_for_test(synchronous_run_coordinator=True, synchronous_run_launcher=True) as instance:
        build(ws, instance, days)
        before = instance.fetch_materializations(AGREEMENT, limit=1).records[0].storage_id
        write(ws, {**SOURCE, "agreement": [a for a in AGREEMENTS if a[0] != 21]})  # 5555's 5th..14th
        published = snapshot(ws, instance)
        with create_test_daemon_workspace_context(InProcessTestWorkspaceLoadTarget(origin), instance) as context:
            list(execute_sensor_iteration(context, logging.getLogger("sensor"), None, None))
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"octo/trigger": "source_correction"}))
        spans = [tuple(r.tags.get(f"dagster/{tag}", "") for tag in ("partition", *RANGE)) for r in runs]
        # the 5th: product-days only; the 6th..8th: both tables, at most two days a run
        assert sorted(spans) == [("", "2021-01-06", "2021-01-07"), ("2021-01-05", "", ""), ("2021-01-08", "", "")]
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert before < published
        assert rebuilt_since(instance, published) == {
            "daily_product_consumption": days[4:8],
            "active_agreements": days[5:8],
            "half_hourly_consumption": [],
        }
        assert_tables_match_the_independent_computation(ws, days)


# --- the sensor's plan, on its own ----------------------------------------------------------------


def snap(storage_id: int, version: str, days: dict | None = None) -> Snapshot:
    return Snapshot(storage_id, "2021-01-22", version, days, f"change {storage_id}")


def test_the_plan_rebuilds_moved_days_built_before_the_snapshot_and_days_built_from_another():
    baseline = snap(10, "v1")
    correction = snap(20, "v2", {"active_agreements": [], "daily_product_consumption": [["2021-01-02", "2021-01-04"]]})
    latest = {
        "active_agreements": {},
        "daily_product_consumption": {"2021-01-01": 5, "2021-01-02": 6, "2021-01-03": 25, "2021-01-04": 26},
    }
    built = {
        "active_agreements": [],
        "daily_product_consumption": [Built(25, "2021-01-03", "v2"), Built(26, "2021-01-04", "v1")],
    }
    rebuild = plan([correction], baseline, built, latest)
    assert sorted(rebuild) == [("daily_product_consumption", "2021-01-02"), ("daily_product_consumption", "2021-01-04")]
    assert rebuild[("daily_product_consumption", "2021-01-02")].cause == "snapshot20"
    assert rebuild[("daily_product_consumption", "2021-01-04")].cause == "stale26"
    # a day built from a snapshot whose event comes later: that snapshot's own turn
    assert (
        plan(
            [],
            baseline,
            {"daily_product_consumption": [Built(12, "2021-01-01", "v3")]},
            {"daily_product_consumption": {"2021-01-01": 12}},
        )
        != {}
    )
    later = snap(30, "v3", {"active_agreements": [], "daily_product_consumption": []})
    assert (
        plan(
            [later],
            baseline,
            {"daily_product_consumption": [Built(12, "2021-01-01", "v3")]},
            {"daily_product_consumption": {"2021-01-01": 12}},
        )
        == {}
    )
    # snapshots and days from before versions were recorded request nothing
    assert (
        plan(
            [snap(20, None, None)],
            None,
            {"active_agreements": [Built(25, "2021-01-01", None)]},
            {"active_agreements": {"2021-01-01": 5}},
        )
        == {}
    )


def test_requests_group_consecutive_days_of_the_same_tables_within_the_days_per_run():
    why = Rebuild("snapshot20", "2021-01-22", "agreement 17 (meterpoint m): valid_to none -> 2021-01-10")
    days = ["2021-01-01", "2021-01-02", "2021-01-03", "2021-01-04", "2021-01-05", "2021-01-07"]
    rebuild = {("daily_product_consumption", day): why for day in days} | {("active_agreements", "2021-01-05"): why}
    requests = run_requests(rebuild, 3)
    spans = sorted(
        (
            r.partition_key or r.tags["dagster/asset_partition_range_start"],
            r.partition_key or r.tags["dagster/asset_partition_range_end"],
            tuple(k.path[-1] for k in r.asset_selection),
        )
        for r in requests
    )
    assert spans == [  # each run rebuilds the catalog too: its views are pinned to versions
        ("2021-01-01", "2021-01-03", ("daily_product_consumption", "catalog")),
        ("2021-01-04", "2021-01-04", ("daily_product_consumption", "catalog")),
        ("2021-01-05", "2021-01-05", ("active_agreements", "daily_product_consumption", "catalog")),
        ("2021-01-07", "2021-01-07", ("daily_product_consumption", "catalog")),
    ]
    single = next(r for r in requests if r.partition_key == "2021-01-05")
    assert {k.name for k in single.asset_check_keys} == {
        "active_agreements_one_row_per_agreement",
        "product_day_matches_readings",
        "product_day_one_row_per_product",
        "readings_covered_by_agreement",
        "readings_meterpoints_known",
    }
    assert single.tags["octo/change"] == why.change and single.tags["octo/snapshot"] == "2021-01-22"
    assert len({r.run_key for r in requests}) == len(requests)
    assert run_requests(rebuild, None)[0].tags["dagster/asset_partition_range_end"] == "2021-01-04"
