"""The Dagster UI as an operator meets it: `dg dev` (what `make ui` runs) on a copy of the sample, driven
through the webserver's GraphQL API (what the UI itself calls), from the asset graph to a
materialised partition."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from octo_assets import automation, definitions
from octo_assets_tests.support import automation as automation_support
from octo_assets_tests.support.dagster_dev import LOCATION, REPOSITORY, DagsterDev, dagster_home, running_dagster_dev
from octo_assets_tests.support.workspace import SAMPLE

ASSET_JOB = "__ASSET_JOB"
DAY = "2021-01-01"
BUDGET_S = 90  # the whole module: start, both runs and every query

DEPENDENCIES = {
    "landing/readings_files": set(),
    "source/case_study_db": set(),
    "lake/readings": {"landing/readings_files"},
    "lake/agreement": {"source/case_study_db"},
    "lake/product": {"source/case_study_db"},
    "lake/meterpoint": {"source/case_study_db"},
    "analytics/active_agreements": {"lake/agreement", "lake/product"},
    "analytics/half_hourly_consumption": {"lake/readings"},
    "analytics/daily_product_consumption": {"lake/readings", "lake/agreement", "lake/product"},
    "warehouse/catalog": {
        "lake/readings",
        "lake/agreement",
        "lake/product",
        "lake/meterpoint",
        "analytics/active_agreements",
        "analytics/half_hourly_consumption",
        "analytics/daily_product_consumption",
    },
}
DAILY = {
    "lake/readings",
    "analytics/half_hourly_consumption",
    "analytics/active_agreements",
    "analytics/daily_product_consumption",
}
SOURCE_SNAPSHOT = ["lake/agreement", "lake/product", "lake/meterpoint"]
ONE_DAY = ["lake/readings", "analytics/half_hourly_consumption"]
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
BUILDS_BY_ITSELF = {"landing_sensor", "source_db_sensor", "daily_readings_schedule", "lake_housekeeping_schedule"}
REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}


def key_input(key: str) -> dict:
    return {"path": key.split("/")}


def key_str(key: dict) -> str:
    return "/".join(key["path"])


@pytest.fixture(scope="module")
def dev(module_workspace, tmp_path_factory) -> Iterator[DagsterDev]:
    ws = module_workspace
    shutil.copytree(SAMPLE / "readings", ws.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", ws.source_db)
    root = tmp_path_factory.mktemp("ui")
    # an operator who builds by hand: what would build by itself (on by default) is turned off first
    with dg.DagsterInstance.from_config(str(dagster_home(root))) as instance:
        automation_support.stop(instance, BUILDS_BY_ITSELF)
    with running_dagster_dev(root, ws, BUDGET_S) as server:
        yield server


ASSET_GRAPH = """
{ assetNodes {
    assetKey { path }
    dependencyKeys { path }
    isPartitioned
    partitionDefinition { type description }
    assetChecksOrError { ... on AssetChecks { checks { name assetKey { path } } } }
} }
"""


def test_the_ui_shows_the_asset_graph_and_its_checks(dev):
    nodes = {key_str(n["assetKey"]): n for n in dev.query(ASSET_GRAPH)["assetNodes"]}
    assert set(DEPENDENCIES) <= set(nodes)
    for key, deps in DEPENDENCIES.items():
        assert {key_str(d) for d in nodes[key]["dependencyKeys"]} == deps, key
    for key in DAILY:
        assert nodes[key]["isPartitioned"], key
        assert nodes[key]["partitionDefinition"]["type"] == "TIME_WINDOW", key
        assert "Europe/London" in nodes[key]["partitionDefinition"]["description"], key
    shown = {
        (key_str(c["assetKey"]), c["name"])
        for node in nodes.values()
        for c in node["assetChecksOrError"].get("checks", [])
    }
    defined = {(c.asset_key.to_user_string(), c.name) for c in definitions.defs.resolve_asset_graph().asset_check_keys}
    assert shown == defined


AUTOMATION = """
query($repo: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repo) {
    __typename ... on Schedules { results { name cronSchedule executionTimezone } }
  }
  sensorsOrError(repositorySelector: $repo) {
    __typename ... on Sensors { results { name sensorType minIntervalSeconds } }
  }
}
"""


def test_the_ui_shows_the_schedules_and_sensors(dev):
    data = dev.query(AUTOMATION, {"repo": REPOSITORY_SELECTOR})
    assert data["schedulesOrError"]["__typename"] == "Schedules"
    assert data["sensorsOrError"]["__typename"] == "Sensors"
    schedules = data["schedulesOrError"]["results"]
    sensors = data["sensorsOrError"]["results"]
    repository = definitions.defs.get_repository_def()
    assert {s["name"] for s in schedules} == {s.name for s in repository.schedule_defs}
    assert {s["name"] for s in sensors} == {s.name for s in repository.sensor_defs}
    if automation.SCHEDULES:  # the daily work: at least a schedule and the landing-folder sensor
        assert schedules and sensors
    for schedule in schedules:
        assert schedule["cronSchedule"], schedule
        assert schedule["executionTimezone"] == "Europe/London", schedule  # days are London days
    for sensor in sensors:
        assert sensor["minIntervalSeconds"] > 0, sensor


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
RUN_FAILURE = """
query($id: ID!) {
  logsForRun(runId: $id) {
    ... on EventConnection { events { ... on ExecutionStepFailureEvent { stepKey error { message } } } }
  }
}
"""


def launch(dev: DagsterDev, assets: list[str], tags: dict | None = None) -> str:
    """What the UI's Materialize button sends: the implicit asset job, subset to `assets`
    (with their checks), tagged with the partition."""
    params = {
        "selector": {**REPOSITORY_SELECTOR, "jobName": ASSET_JOB, "assetSelection": [key_input(k) for k in assets]},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    result = dev.query(LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def wait_for_run(dev: DagsterDev, run_id: str) -> None:
    """Queued runs are started by the daemon that `dg dev` runs beside the webserver."""

    def finished():
        status = dev.query(RUN, {"id": run_id})["runOrError"]["status"]
        return status if status in TERMINAL else None

    status = dev.wait_for(f"run {run_id}", finished)
    if status != "SUCCESS":
        events = dev.query(RUN_FAILURE, {"id": run_id})["logsForRun"].get("events", [])
        failures = [f"{e['stepKey']}: {e['error']['message']}" for e in events if e.get("error")]
        pytest.fail(f"run {run_id} ended {status}: {failures or dev.log_tail()}")


MATERIALISED = """
query($keys: [AssetKeyInput!], $day: String!) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetMaterializations(limit: 1) { runId }
    partitionStats { numMaterialized numFailed }
    assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } }
    latestMaterializationByPartition(partitions: [$day]) {
      runId partition
      metadataEntries { label ... on IntMetadataEntry { intValue } ... on PathMetadataEntry { path } }
    }
    assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { runId status } } } }
  }
}
"""


def materialised(dev: DagsterDev, keys: list[str]) -> dict[str, dict]:
    data = dev.query(MATERIALISED, {"keys": [key_input(k) for k in keys], "day": DAY})
    return {key_str(n["assetKey"]): n for n in data["assetNodes"]}


def metadata(materialisation: dict) -> dict:
    return {e["label"]: e.get("intValue", e.get("path")) for e in materialisation["metadataEntries"]}


def assert_checks_ran(node: dict, run_id: str) -> None:
    """Every check of the asset ran in that run; a failed check is data news, a crashed one a bug."""
    for check in node["assetChecksOrError"].get("checks", []):
        execution = check["executionForLatestMaterialization"]
        assert execution and execution["runId"] == run_id, check
        assert execution["status"] in {"SUCCEEDED", "FAILED"}, check


def test_an_operator_materialises_the_snapshot_then_one_day(dev):
    source_run = launch(dev, SOURCE_SNAPSHOT)
    wait_for_run(dev, source_run)
    for key, node in materialised(dev, SOURCE_SNAPSHOT).items():
        assert node["assetMaterializations"] == [{"runId": source_run}], key
        assert_checks_ran(node, source_run)

    day_run = launch(dev, ONE_DAY, {"dagster/partition": DAY})
    wait_for_run(dev, day_run)
    nodes = materialised(dev, ONE_DAY)
    for key, node in nodes.items():
        assert node["partitionStats"] == {"numMaterialized": 1, "numFailed": 0}, key
        ranges = node["assetPartitionStatuses"]["ranges"]
        assert ranges == [{"startKey": DAY, "endKey": DAY, "status": "MATERIALIZED"}], key
        [latest] = node["latestMaterializationByPartition"]
        assert (latest["runId"], latest["partition"]) == (day_run, DAY), key
        assert_checks_ran(node, day_run)

    readings = metadata(nodes["lake/readings"]["latestMaterializationByPartition"][0])
    assert readings["rows_loaded"] > 0
    # the server wrote into the test's workspace, not the repository's data/
    assert Path(readings["path"]).is_relative_to(dev.workspace.lake)
    # the path is the readings Delta table; its version in the metadata is the commit of this run's day
    assert Path(readings["path"]) == dev.workspace.lake / "readings"
    [commit] = [c for c in dev.workspace.delta("readings").history() if c["version"] == readings["delta_version"]]
    assert (commit["dagster_run_id"], commit["partition"]) == (day_run, DAY)
