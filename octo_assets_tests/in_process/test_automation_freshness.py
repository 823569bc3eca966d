"""Freshness policies, evaluated at controlled Europe/London times by the evaluator Dagster's
freshness daemon runs (what the UI shows), against real materialisations in a real instance.

The evaluator and the clock control are Dagster internals (no public API evaluates a
FreshnessPolicy at a given time): `freeze_time` sets Dagster's clock, for the runs as well."""

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import FRESHNESS_EVALUATORS_BY_POLICY_TYPE
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time

from octo_assets.automation.freshness import FRESHNESS_CHECKS
from octo_assets.automation.jobs import DAILY_ASSETS, FRESHNESS, SNAPSHOT_ASSETS, snapshot_run_config
from octo_assets.automation.landing_sensor import LandingChanges, landing_event
from octo_assets.automation.source_sensor import database_files, source_event
from octo_assets.definitions import ASSET_CHECKS, ASSETS, defs

LONDON = ZoneInfo("Europe/London")
PASS, FAIL, UNKNOWN = FreshnessState.PASS, FreshnessState.FAIL, FreshnessState.UNKNOWN


DEADLINES = {
    "source/case_study_db": "00:30",  # the database's midnight update, reported by the source sensor
    "landing/readings_files": "08:00",  # files land before 08:00, reported by the landing sensor
    "lake/agreement": "01:00",
    "lake/product": "01:00",
    "lake/meterpoint": "01:00",
    "lake/readings": "08:30",
    "analytics/active_agreements": "09:00",
    "analytics/half_hourly_consumption": "09:00",
    "analytics/daily_product_consumption": "09:00",
    "warehouse/catalog": "09:00",
}


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=LONDON)


def freshness(instance, key: str, local: str) -> FreshnessState:
    node = defs.resolve_asset_graph().get(dg.AssetKey(key.split("/")))
    evaluator = FRESHNESS_EVALUATORS_BY_POLICY_TYPE[type(node.freshness_policy_or_from_metadata)]()
    with freeze_time(at(local)):
        return asyncio.run(evaluator.evaluate_freshness(LoadingContextForTest(instance), node))


def report_at(instance, local: str, event: dg.AssetMaterialization) -> None:
    """What the daemon does with a sensor's asset events."""
    with freeze_time(at(local)):
        instance.report_runless_asset_event(event)


def materialize_at(ws, instance, local: str, selection, **kwargs) -> None:
    with freeze_time(at(local)):
        result = dg.materialize(
            [*ASSETS, *ASSET_CHECKS],
            selection=selection - FRESHNESS,
            instance=instance,
            resources=ws.resources(),
            **kwargs,
        )
    assert result.success


DAILY = {"lake/readings", "analytics/active_agreements", "analytics/half_hourly_consumption",
         "analytics/daily_product_consumption"}  # fmt: skip
POLICIES = {key: deadline for key, deadline in DEADLINES.items() if key not in DAILY}


def test_every_asset_has_a_freshness_policy_or_a_check_on_its_last_partition():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(DEADLINES)
    with_policy = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy_or_from_metadata
    }
    assert with_policy == set(POLICIES)
    checked = {key.asset_key.to_user_string() for check in FRESHNESS_CHECKS for key in check.check_keys}
    assert checked == DAILY
    assert defs.resolve_sensor_def("freshness_checks_sensor").default_status == dg.DefaultSensorStatus.RUNNING


@pytest.fixture
def on_time(sample_workspace, instance):
    """The night of 1-2 January 2021 as it should go: the database updated at midnight and
    snapshotted at 00:30, the files in by 07:00, the 08:00 run done by 08:05."""
    report_at(instance, "2021-01-02 00:01", source_event(database_files(sample_workspace.source_db)))
    delivered = LandingChanges({date(2021, 1, 1): ["mp.json"]}, {date(2021, 1, 1): "digest"}, 1, 0, 0)
    report_at(instance, "2021-01-02 07:00", landing_event(delivered))
    snapshot_config = snapshot_run_config("2021-01-02")
    materialize_at(sample_workspace, instance, "2021-01-02 00:30", SNAPSHOT_ASSETS, run_config=snapshot_config)
    materialize_at(sample_workspace, instance, "2021-01-02 08:05", DAILY_ASSETS, partition_key="2021-01-01")
    return instance


def partition_fresh(ws, instance, key: str, local: str) -> bool:
    """The freshness check on `key`'s last partition, evaluated at `local` as its sensor would."""
    [check] = [k for c in FRESHNESS_CHECKS for k in c.check_keys if k.asset_key.to_user_string() == key]
    with freeze_time(at(local)):
        result = dg.materialize(
            [*ASSETS, *ASSET_CHECKS], selection=dg.AssetSelection.checks(check), instance=instance,
            resources=ws.resources(),
        )  # fmt: skip
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation.passed


def test_fresh_by_the_deadline_and_stale_when_the_next_day_is_missed(on_time, sample_workspace):
    for key, deadline in POLICIES.items():
        assert freshness(on_time, key, f"2021-01-02 {deadline}") == PASS, key
        assert freshness(on_time, key, "2021-01-02 23:59") == PASS, key
        assert freshness(on_time, key, f"2021-01-03 {deadline}") == FAIL, key  # nothing ran on the 3rd
    for key in DAILY:
        assert partition_fresh(sample_workspace, on_time, key, "2021-01-02 09:05"), key  # 1 January is there
        assert not partition_fresh(sample_workspace, on_time, key, "2021-01-03 09:05"), key  # 2 January is not


def test_a_backfill_of_an_old_day_does_not_make_a_missing_yesterday_look_fresh(on_time, sample_workspace):
    """The case a policy on the latest materialisation gets wrong: 2 January is missing at 08:45
    on the 3rd, though 1 January was materialised again at 03:00 that night."""
    materialize_at(sample_workspace, on_time, "2021-01-03 03:00", DAILY_ASSETS, partition_key="2021-01-01")
    assert not partition_fresh(sample_workspace, on_time, "lake/readings", "2021-01-03 08:45")
    materialize_at(sample_workspace, on_time, "2021-01-03 09:10", DAILY_ASSETS, partition_key="2021-01-02")
    assert partition_fresh(sample_workspace, on_time, "lake/readings", "2021-01-03 09:15")


def test_unknown_until_first_materialised(instance):
    assert freshness(instance, "source/case_study_db", "2021-01-02 09:00") == UNKNOWN
