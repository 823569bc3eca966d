"""Backfills: the partitioned assets run a date range as one run, through Dagster's own asset
backfill daemon (what a backfill launched in the UI goes through)."""

import logging
import textwrap
import time

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.backfill import execute_backfill_iteration

from octo_assets.automation.jobs import SNAPSHOT_ASSETS
from octo_assets.definitions import ASSETS, defs

DAYS = ["2021-01-01", "2021-01-02", "2021-01-03"]
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# the project's assets and checks on the test's folders; in-process steps keep the test fast
LOCATION = """
import dagster as dg
from octo_assets.definitions import ASSET_CHECKS, ASSETS
from octo_assets.resources import build_resources

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    resources=build_resources({readings!r}, {source_db!r}, {lake!r}, {warehouse!r}),
    executor=dg.in_process_executor,
)
"""


def partitioned_assets() -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return sorted(key for key in graph.materializable_asset_keys if graph.get(key).is_partitioned)


def test_every_partitioned_asset_backfills_in_a_single_run():
    graph = defs.resolve_asset_graph()
    assert len(partitioned_assets()) == 4  # readings and the three analytics tables
    assert all(graph.get(key).backfill_policy == dg.BackfillPolicy.single_run() for key in partitioned_assets())


@pytest.fixture
def daemon(sample_workspace, tmp_path):
    """A daemon's workspace over a code location of the project, and its instance."""
    ws = sample_workspace
    location = tmp_path / "location.py"
    paths = {"readings": ws.readings, "source_db": ws.source_db, "lake": ws.lake, "warehouse": ws.warehouse}
    location.write_text(textwrap.dedent(LOCATION.format(**{name: str(path) for name, path in paths.items()})))
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=str(location), attribute="defs"))
    # runs start as the daemon submits them, in this process: the backfill logic is Dagster's own
    with dg.instance_for_test(synchronous_run_coordinator=True, synchronous_run_launcher=True) as instance:
        assert dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=ws.resources()).success
        with create_test_daemon_workspace_context(InProcessTestWorkspaceLoadTarget(origin), instance) as context:
            yield context


def launch_backfill(context, keys: list[dg.AssetKey], days: list[str]) -> str:
    """What the UI's backfill dialog submits for a selection and a range of days."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id="three_days",
        asset_graph=context.create_request_context().asset_graph,
        partition_names=days,
        asset_selection=keys,
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=context.instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    context.instance.add_backfill(backfill)
    return backfill.backfill_id


def run_daemon_until_done(context, backfill_id: str) -> BulkActionStatus:
    for _ in range(10):
        list(execute_backfill_iteration(context, logging.getLogger("backfill")))
        status = context.instance.get_backfill(backfill_id).status
        if status != BulkActionStatus.REQUESTED:
            return status
    return status


def test_a_three_day_backfill_is_one_run_that_materialises_every_day(daemon):
    instance = daemon.instance
    daily = partitioned_assets()
    backfill_id = launch_backfill(daemon, daily, DAYS)
    assert run_daemon_until_done(daemon, backfill_id) == BulkActionStatus.COMPLETED_SUCCESS

    [run] = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == (DAYS[0], DAYS[-1])
    for key in daily:
        assert instance.get_materialized_partitions(key) == set(DAYS), key
