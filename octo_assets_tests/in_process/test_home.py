"""A Dagster instance serves one lake (octo_assets.home): it records the lake on first use, and
then `make run` stops, every schedule and sensor skips and every run fails before it touches
anything, with one sentence naming both lakes, when pointed at another lake. The same lake spelt
another way is the same lake."""

import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from octo_assets import definitions
from octo_assets.automation.jobs import SNAPSHOT_ASSETS
from octo_assets.definitions import ASSETS, defs
from octo_assets.home import InstanceLake, homed, lake_location, recorded_lake, refusal
from octo_assets.resources import LakeStorage
from octo_assets.run import pipeline

SENSORS = ["landing_sensor", "source_db_sensor", "source_correction_sensor"]
SCHEDULES = ["daily_readings_schedule", "source_snapshot_schedule", "lake_housekeeping_schedule"]


@pytest.fixture
def home(tmp_path):
    """A Dagster home on disk, as `make run` and `make ui` use one."""
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return folder


@pytest.fixture
def instance(home):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture
def other_lake(tmp_path) -> str:
    """A lake the instance was made for (recorded by its first use), other than the workspace's."""
    lake = tmp_path / "other" / "lake"
    lake.mkdir(parents=True)
    return str(lake)


def refused_with(said: str, home, served: str, asked: str) -> bool:
    """`said` is the one sentence naming the home, both lakes and the fix (a home of its own for
    the asked lake, beside this one, or the served lake back)."""
    return re.fullmatch(
        re.escape(f"The Dagster home {home} holds the runs of the lake {served}, not of OCTO_LAKE_DIR {asked}: ")
        + re.escape(f"give that lake a home of its own (make run DAGSTER_HOME={Path(home).parent}/.dagster-")
        + "[0-9a-f]{8}"
        + re.escape(f", and the same for make ui), or set OCTO_LAKE_DIR back to {served}."),
        said,
    )


def tick(name: str, instance, ws) -> tuple[list[dg.RunRequest], str | None]:
    """(run requests, skip message) of one tick of a schedule or sensor, on the workspace."""
    resources = homed(ws.resources())  # as the code location gives them
    if name in SCHEDULES:
        at = datetime(2021, 1, 24, 8, 0, tzinfo=ZoneInfo("Europe/London"))
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at,
            resources=resources,
            repository_def=defs.get_repository_def(),
        ) as context:
            result = defs.resolve_schedule_def(name).evaluate_tick(context)
    else:
        context = dg.build_sensor_context(instance=instance, resources=resources, definitions=defs)
        result = defs.resolve_sensor_def(name).evaluate_tick(context)
    return result.run_requests, result.skip_message


@pytest.mark.parametrize("name", SENSORS + SCHEDULES)
def test_a_tick_on_an_instance_made_for_another_lake_skips_naming_both(name, workspace, instance, other_lake):
    ws = workspace
    ws.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    ws.write_readings("mp1.json", [["2021-01-20 00:00:00", 1.0, "mp1"]])
    assert refusal(instance, LakeStorage(root=other_lake)) is None  # its first use
    requests, skipped = tick(name, instance, ws)
    assert requests == []
    assert refused_with(skipped, instance.root_directory, other_lake, str(ws.lake)), skipped
    assert not ws.lake.exists()  # nothing of the tick reached the workspace's lake


def test_the_first_tick_records_its_lake(workspace, instance):
    ws = workspace
    ws.write_source([], [], [])
    assert recorded_lake(instance) is None
    tick("source_db_sensor", instance, ws)
    assert recorded_lake(instance) == str(ws.lake)


def test_a_mistyped_lake_is_not_recorded(workspace, instance, tmp_path):
    """A first use with an OCTO_LAKE_DIR that cannot be a lake (here a file) records nothing: the
    setting's own sentence reports it where the lake is used, and the fixed setting is then the lake."""
    typo = tmp_path / "lake.txt"
    typo.write_text("not a folder")
    assert refusal(instance, LakeStorage(root=str(typo))) is None
    assert recorded_lake(instance) is None
    assert refusal(instance, LakeStorage(root=str(workspace.lake))) is None
    assert recorded_lake(instance) == str(workspace.lake)


def test_the_same_lake_spelt_another_way_is_served(workspace, instance, tmp_path, monkeypatch):
    ws = workspace
    ws.lake.mkdir(parents=True)
    (tmp_path / "alias").symlink_to(ws.root)
    monkeypatch.chdir(ws.root)
    assert refusal(instance, LakeStorage(root="./lake/")) is None  # its first use, relative
    for spelling in [str(ws.lake), f"{ws.lake}/", str(tmp_path / "alias" / "lake")]:
        assert refusal(instance, LakeStorage(root=spelling)) is None, spelling
    assert recorded_lake(instance) == str(ws.lake)


def test_a_home_made_for_a_folder_refuses_an_s3_lake_and_the_other_way_round(instance, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    folder = tmp_path / "lake"
    folder.mkdir()
    assert refusal(instance, LakeStorage(root=str(folder))) is None
    said = refusal(instance, LakeStorage(root="s3://lake/lake/"))
    assert said.startswith(
        f"The Dagster home {instance.root_directory} holds the runs of the lake {folder}, not of OCTO_LAKE_DIR "
        "s3://lake/lake: "
    )
    with dg.DagsterInstance.ephemeral() as second:
        second.run_storage.set_cursor_values({"octo/lake": lake_location("s3://lake/lake")})  # made for S3
        assert refusal(second, LakeStorage(root="s3://lake/lake/")) is None
        assert "holds the runs of the lake s3://lake/lake, not of OCTO_LAKE_DIR" in refusal(
            second, LakeStorage(root=str(folder))
        )


def test_a_run_on_an_instance_made_for_another_lake_fails_before_touching_either(workspace, instance, other_lake):
    ws = workspace
    ws.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    assert refusal(instance, LakeStorage(root=other_lake)) is None
    result = dg.materialize(
        ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=homed(ws.resources()), raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_failure]
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert error.message.endswith(f"or set OCTO_LAKE_DIR back to {other_lake}.\n")
    assert f"not of OCTO_LAKE_DIR {ws.lake}" in error.message
    assert not ws.lake.exists()
    assert instance.get_latest_materialization_event(dg.AssetKey(["lake", "agreement"])) is None
    # the run of the lake it serves claims and succeeds
    with dg.instance_for_test() as fresh:
        assert dg.materialize(
            ASSETS, selection=SNAPSHOT_ASSETS, instance=fresh, resources=homed(ws.resources())
        ).success
        assert recorded_lake(fresh) == str(ws.lake)


def test_the_code_locations_runs_check_their_instance():
    assert isinstance(definitions.defs.resources["lake"], InstanceLake)


def test_make_run_stops_on_a_home_made_for_another_lake_naming_both(workspace, home, other_lake, monkeypatch):
    """Two lakes, one home: `make run` (pipeline.dagster_home) of the second stops before reading
    or writing anything, and a run of the first still goes."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    def lake_is(root: str) -> None:
        monkeypatch.setattr(definitions, "defs", SimpleNamespace(resources={"lake": InstanceLake(root=root)}))

    lake_is(other_lake)
    instance = pipeline.dagster_home()
    assert recorded_lake(instance) is None  # checked only: a run records the lake, after its settings
    assert refusal(instance, InstanceLake(root=other_lake)) is None  # the first run's
    lake_is(str(workspace.lake))
    with pytest.raises(pipeline.RunError) as refused:
        pipeline.dagster_home()
    assert refused_with(str(refused.value), home, other_lake, str(workspace.lake)), str(refused.value)
    lake_is(other_lake + "/")
    assert pipeline.dagster_home().root_directory == str(home)
