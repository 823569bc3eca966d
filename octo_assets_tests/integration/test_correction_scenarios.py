"""Back-dated corrections of the source over weeks of built days (a large input: 21 days rebuilt
by four corrections, then built again from scratch): each new snapshot records the days it moves,
and source_correction_sensor rebuilds exactly those days that were built, however old, leaving
every table as a from-scratch build gives it, and the independent computation; its range runs
through the sensor daemon's own code path. (One correction of a few days, in every quick run:
in_process/test_automation_corrections.py.)"""

import logging
import shutil
import textwrap

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.sensor import execute_sensor_iteration

from octo_assets.automation.jobs import DAILY_ASSETS
from octo_assets.resources import LakeStorage
from octo_assets_tests.support import expected
from octo_assets_tests.support.corrections import (
    AGREEMENT,
    AGREEMENTS,
    CUT,
    DAYS,
    METERPOINT_ADDED,
    RANGE,
    RENAMED,
    REORDERED,
    SOURCE,
    TABLES,
    analytics_tables,
    assert_tables_match_the_independent_computation,
    build,
    check_offenders,
    day_metadata,
    execute,
    land,
    rebuilt_since,
    requested_days,
    snapshot,
    tick,
    write,
)
from octo_assets_tests.support.runs import materialize
from octo_assets_tests.support.workspace import new_workspace


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
