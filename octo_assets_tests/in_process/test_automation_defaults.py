"""What a new deployment's daemon runs unasked, and that what it runs builds a day once: the landing
sensor and the 08:00 schedule are both on, and neither asks for a day the other's run is about to
build or has built from the files now landed."""

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster._core.utils import make_new_run_id

from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_ASSETS
from octo_assets.automation.landing_sensor import landing_sensor
from octo_assets.definitions import ASSETS, defs
from octo_assets.resources import LakeStorage, LandingFolder
from octo_assets_tests.support.automation import code_location, running
from octo_assets_tests.support.runs import materialize

REPO_ROOT = Path(__file__).resolve().parents[2]
# what a deployment needs ticking from its first day, and why each:
ON = {
    "landing_sensor",  # a delivery's days built within a minute
    "daily_readings_schedule",  # yesterday attempted at 08:00 even if nothing landed (its failure says so)
    "source_db_sensor",  # the midnight update and any correction snapshotted; the first snapshot at once
    "source_correction_sensor",  # a snapshot's moved days rebuilt
    "automation_condition_sensor",  # a day's readings materialised alone: its analytics follow
    "freshness_checks_sensor",  # yesterday missing at 08:30 is a failed check
    "lake_housekeeping_schedule",  # storage bounded; deletes nothing a reader within the retention needs
}
OFF = {"source_snapshot_schedule"}  # the same snapshot source_db_sensor took half an hour earlier
READINGS = dg.AssetSelection.assets(["lake", "readings"])
LONDON = ZoneInfo("Europe/London")
DAY = "2021-01-21"
MORNING = "2021-01-22 08:00"  # the schedule's tick that asks for DAY
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture
def instance(tmp_path):
    """On disk, as a deployment's: a schedule's tick opens its instance from a reference."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        yield instance


def test_a_new_instance_ticks_what_a_deployment_needs_and_only_that(instance):
    with code_location(instance) as repository:
        status = running(instance, repository)
    assert set(status) == ON | OFF  # every schedule and sensor decided here
    assert {name for name, on in status.items() if on} == ON


def test_one_turned_off_stays_off_and_one_turned_on_stays_on(instance):
    with code_location(instance) as repository:
        sensor = repository.get_sensor("landing_sensor")
        instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        schedule = repository.get_schedule("source_snapshot_schedule")
        instance.start_schedule(schedule)
        status = running(instance, repository)
    assert {name for name, on in status.items() if on} == ON - {"landing_sensor"} | {"source_snapshot_schedule"}


def test_the_readme_says_which_are_on_and_the_chart_runs_the_daemon():
    """The README's automation table has a row per schedule and sensor, its default as defined;
    the Helm values deploy the daemon that ticks them."""
    readme = (REPO_ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\s*\| `(\w+)` \| (on|off)\b", readme, flags=re.MULTILINE))
    assert rows == {**dict.fromkeys(ON, "on"), **dict.fromkeys(OFF, "off")}
    values = yaml.safe_load((REPO_ROOT / "deploy" / "values.yaml").read_text().split("\n---\n", 1)[1])
    assert values["dagsterDaemon"]["enabled"] is True


# -- the landing sensor and the 08:00 schedule, both on --------------------------------------------


@pytest.fixture
def watched(workspace, instance):
    """A landing area whose lake has its first source snapshot."""
    workspace.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    assert dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=workspace.resources()).success
    return workspace


def resources(ws) -> dict:
    return {"landing": LandingFolder(path=ws.readings_url), "lake": LakeStorage(root=ws.lake_url)}


def sensor_tick(ws, instance, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources(ws), definitions=defs)
    return landing_sensor.evaluate_tick(context)


def schedule_tick(ws, instance, local: str = MORNING):
    schedule = defs.resolve_schedule_def("daily_readings_schedule")
    at = datetime.fromisoformat(local).replace(tzinfo=LONDON)
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=at,
        resources=resources(ws),
        repository_def=defs.get_repository_def(),
    ) as context:
        return schedule.evaluate_tick(context)


def days(result) -> list[str]:
    return [r.partition_key for r in result.run_requests]


@pytest.fixture
def launched(instance):
    """launched(day, status, job): a run of the day (None: of a range) in the instance, as the
    daemon leaves a requested one: queued (the production instance queues every run), or started."""
    with code_location(instance) as repository:

        def launch(day: str | None, status=dg.DagsterRunStatus.QUEUED, job: str = DAILY_JOB.name) -> dg.DagsterRun:
            tags = {"dagster/partition": day} if day else {RANGE_START: "2021-01-01", RANGE_END: "2021-01-31"}
            origin = repository.get_full_job(job).get_remote_origin()
            run = dg.DagsterRun(
                job_name=job, run_id=make_new_run_id(), status=status, tags=tags, remote_job_origin=origin
            )
            return instance.add_run(run)

        yield launch


def rows(day: str, kwh: float = 0.5) -> list:
    return [[f"{day} {h:02d}:{m:02d}:00", kwh, "mp1"] for h in range(24) for m in (0, 30)]


def test_a_day_the_sensor_built_before_0800_is_not_built_again_by_the_schedule(watched, instance, launched):
    ws = watched
    ws.write_readings(f"{DAY}/mp1.json", rows(DAY))
    first = sensor_tick(ws, instance)
    assert days(first) == [DAY]
    queued = launched(DAY)  # the sensor's run, waiting in the queue at 08:00
    assert days(schedule_tick(ws, instance)) == []
    instance.delete_run(queued.run_id)
    assert materialize(ws, instance, READINGS, [DAY]).success  # the sensor's run of the day
    built = schedule_tick(ws, instance)
    assert days(built) == [] and "built from every file now landed" in built.skip_message

    # a correction of the day: the sensor asks again, and its run, queued or running, is the only one
    ws.write_readings(f"{DAY}/mp1-corrected.json", rows(DAY, 0.7))
    again = sensor_tick(ws, instance, first.cursor)
    assert days(again) == [DAY]
    run = launched(DAY)
    assert days(schedule_tick(ws, instance)) == []
    instance.delete_run(run.run_id)  # the run starts: still the schedule's to leave alone
    launched(DAY, dg.DagsterRunStatus.STARTED)
    assert days(schedule_tick(ws, instance)) == []


def test_a_day_the_schedule_queued_is_not_asked_for_again_by_the_sensor_until_its_run_started(
    watched, instance, launched
):
    ws = watched
    asked = schedule_tick(ws, instance)  # nothing landed for the day yet: asked for by date
    assert [(r.partition_key, r.run_key) for r in asked.run_requests] == [(DAY, DAY)]
    queued = launched(DAY)
    ws.write_readings(f"{DAY}/mp1.json", rows(DAY))  # lands while the run waits in the queue
    waiting = sensor_tick(ws, instance)
    assert days(waiting) == [] and "a run of it that has not started yet will read its files" in waiting.skip_message
    # a run that started may have listed the landing area before the file landed: asked for
    instance.delete_run(queued.run_id)
    launched(DAY, dg.DagsterRunStatus.STARTED)
    ws.write_readings(f"{DAY}/mp2.json", [[f"{DAY} 00:00:00", 1.0, "mp2"]])
    assert days(sensor_tick(ws, instance, waiting.cursor)) == [DAY]


def test_a_run_of_another_day_or_of_a_range_holds_nothing_back(watched, instance, launched):
    ws = watched
    ws.write_readings(f"{DAY}/mp1.json", rows(DAY))
    launched("2021-01-20")
    launched(None, job="build_all")  # a range run (make run's, a backfill's): no one day
    assert days(sensor_tick(ws, instance)) == [DAY]
    assert days(schedule_tick(ws, instance)) == [DAY]
