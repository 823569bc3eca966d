"""Running the asset graph through Dagster in the test's process, as the UI would, and reading
what a run said: its one failure's sentence, its checks' outcomes."""

import dagster as dg

from octo_assets.automation.jobs import FRESHNESS
from octo_assets.definitions import ASSET_CHECKS, ASSETS
from octo_assets_tests.support.workspace import Workspace


def materialize(
    ws: Workspace,
    instance,
    selection,
    partition_keys: list[str] | None = None,
    run_config=None,
    resources: dict | None = None,
):
    """Materialise a selection (with its checks) through Dagster, as the UI would; never raises."""
    ws.sync()
    if isinstance(selection, dg.AssetSelection):
        selection = selection - FRESHNESS  # judged on a clock by its own sensor, not by runs
    tags = {}
    if partition_keys:
        tags = {
            "dagster/asset_partition_range_start": partition_keys[0],
            "dagster/asset_partition_range_end": partition_keys[-1],
        }
    return dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=selection,
        instance=instance,
        resources=resources or ws.resources(),
        tags=tags,
        run_config=run_config,
        raise_on_error=False,
    )


def snapshot(ws: Workspace, instance, snapshot_date: str, resources: dict | None = None):
    """A run of the source snapshot (lake/agreement, product, meterpoint) for `snapshot_date`."""
    return materialize(
        ws,
        instance,
        dg.AssetSelection.groups("source").materializable(),
        run_config={"ops": {"source_snapshot": {"config": {"snapshot_date": snapshot_date}}}},
        resources=resources,
    )


def failure_message(result) -> str:
    """The sentence of a run's one failed step: the user's error, not Dagster's wrapper."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message.removeprefix("dagster._core.definitions.events.Failure: ").strip()


def check_outcomes(result) -> dict[str, tuple[bool, str, dict]]:
    """check name -> (passed, severity, metadata values)"""
    return {
        e.check_name: (e.passed, e.severity.value, {k: v.value for k, v in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }


def check_evaluations(instance) -> dict[tuple[str, str | None], object]:
    """(check name, partition) -> its latest evaluation, over every run on the instance."""
    evaluations = {}
    for run in reversed(instance.get_runs()):
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data
            evaluations[(evaluation.check_name, evaluation.partition)] = evaluation
    return evaluations
