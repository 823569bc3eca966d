"""The schedules and sensors as Dagster's daemons see them: the project's code location loaded as
workspace.yaml names it, and each one's status on an instance as the scheduler and the sensor
daemon decide it (the state stored in the instance, else the definition's default)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.external import RemoteRepository
from dagster._core.test_utils import (
    InProcessTestWorkspaceLoadTarget,
    create_test_daemon_workspace_context,
    load_remote_repo,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

LOCATION = "octo_assets"  # workspace.yaml's location_name: the selectors the daemons key states by
REPOSITORY = "__repository__"


@contextmanager
def code_location(instance: dg.DagsterInstance) -> Iterator[RemoteRepository]:
    """The project's repository, loaded in this process as a daemon loads it from workspace.yaml."""
    target = LoadableTargetOrigin(module_name="octo_assets.definitions", attribute="defs")
    origin = InProcessCodeLocationOrigin(target, location_name=LOCATION)
    with create_test_daemon_workspace_context(InProcessTestWorkspaceLoadTarget(origin), instance) as context:
        yield load_remote_repo(context, REPOSITORY)


def running(instance: dg.DagsterInstance, repository: RemoteRepository) -> dict[str, bool]:
    """Name -> whether the daemons tick it: dagster._scheduler.scheduler and dagster._daemon.sensor
    ask each one's get_current_instigator_state with the state stored under its selector."""
    stored = {state.selector_id: state for state in instance.all_instigator_state()}
    return {
        one.name: one.get_current_instigator_state(stored.get(one.selector_id)).is_running
        for one in [*repository.get_schedules(), *repository.get_sensors()]
    }


def stop(instance: dg.DagsterInstance, names: set[str]) -> None:
    """Turn these schedules and sensors off in `instance`, as the UI's switch does (the state is
    stored by selector, so a daemon started later, on workspace.yaml, finds them off)."""
    with code_location(instance) as repository:
        for schedule in repository.get_schedules():
            if schedule.name in names:
                instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        for sensor in repository.get_sensors():
            if sensor.name in names:
                instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        assert not any(is_on for name, is_on in running(instance, repository).items() if name in names)
