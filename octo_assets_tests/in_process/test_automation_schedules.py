"""The schedules ticked at chosen Europe/London times, across both clock changes of 2021."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator  # what the scheduler iterates ticks with

from octo_assets.definitions import defs
from octo_assets.resources import LakeStorage, LandingFolder
from octo_assets_tests.support.runs import materialize

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def instance(tmp_path):
    """A schedule's tick opens its instance from a reference (as the daemon's does): one on disk."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        yield instance


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=LONDON)


def tick(name: str, instance, local: str, ws=None) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def(name)
    resources = {"lake": LakeStorage(root=str(instance.root_directory) + "/lake")}  # a lake of the test's own
    if ws is not None:
        resources = {"landing": LandingFolder(path=ws.readings_url), "lake": LakeStorage(root=ws.lake_url)}
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=at(local),
        resources=resources,
        repository_def=defs.get_repository_def(),
    ) as context:
        return schedule.evaluate_tick(context).run_requests


@pytest.mark.parametrize(
    ("tick_time", "day"),
    [
        ("2021-01-02 08:00", "2021-01-01"),
        ("2021-03-28 08:00", "2021-03-27"),  # clocks went forward at 01:00 today
        ("2021-03-29 08:00", "2021-03-28"),  # yesterday had 23 hours
        ("2021-10-31 08:00", "2021-10-30"),  # clocks went back at 02:00 today
        ("2021-11-01 08:00", "2021-10-31"),  # yesterday had 25 hours
    ],
)
def test_the_0800_tick_asks_for_the_day_before(workspace, instance, tick_time, day):
    [request] = tick("daily_readings_schedule", instance, tick_time, workspace)
    assert request.partition_key == day
    assert request.run_key == day  # one run per day, however often the tick is retried


def test_the_0800_tick_also_asks_for_days_whose_files_changed_since_they_were_built(workspace, instance):
    """With the landing sensor off, the daily run is the path every delivery takes."""
    workspace.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("s", "mp1")])
    materialize(workspace, instance, dg.AssetSelection.groups("source").materializable())
    rows = [["2021-01-10 00:00:00", 1.0, "mp1"]]
    workspace.write_readings("mp1.json", rows)
    assert materialize(workspace, instance, dg.AssetSelection.assets(["lake", "readings"]), ["2021-01-10"]).success
    requests = tick("daily_readings_schedule", instance, "2021-01-21 08:00", workspace)
    assert [r.partition_key for r in requests] == ["2021-01-20"]  # 10 January is built from what landed
    workspace.write_readings("late/mp1.json", [["2021-01-10 00:30:00", 2.0, "mp1"]])  # a late correction
    requests = tick("daily_readings_schedule", instance, "2021-01-22 08:00", workspace)
    assert [r.partition_key for r in requests] == ["2021-01-21", "2021-01-10"]


@pytest.mark.parametrize(
    "delivered",
    [
        {"2021-01-21/mp1.json": ["2021-01-21"]},  # yesterday's own file, in its own folder
        {"mp1.json": ["2021-01-21"], "mp2.json": ["2021-01-21"]},  # two files of yesterday
        {"2021-01-21/both.json": ["2021-01-21", "2021-01-15"]},  # yesterday and a late day, in one file
    ],
    ids=["one file", "two files", "with another day"],
)
def test_the_0800_tick_asks_for_yesterday_once_when_its_own_files_changed(workspace, instance, delivered):
    """Yesterday is asked for by date; its files changing too must not ask for a second build of it
    in the same tick (another run key: the daemon would launch both)."""
    for path, days in delivered.items():
        workspace.write_readings(path, [[f"{d} 00:00:00", 1.0, "mp1"] for d in days])
    requests = tick("daily_readings_schedule", instance, "2021-01-22 08:00", workspace)
    asked = [r.partition_key for r in requests]
    assert asked == ["2021-01-21", *sorted({d for days in delivered.values() for d in days} - {"2021-01-21"})]
    assert requests[0].run_key == "2021-01-21"


@pytest.mark.parametrize(
    ("name", "wall_clock"), [("daily_readings_schedule", "08:00"), ("source_snapshot_schedule", "00:30")]
)
def test_ticks_stay_on_london_wall_clock_across_the_clock_changes(name, wall_clock):
    schedule = defs.resolve_schedule_def(name)
    assert schedule.execution_timezone == "Europe/London"
    for first_day in ["2021-03-26", "2021-10-29"]:  # four days around each change
        ticks = cron_string_iterator(at(f"{first_day} 00:00").timestamp(), schedule.cron_schedule, "Europe/London")
        local = [next(ticks).astimezone(LONDON) for _ in range(4)]
        assert {t.strftime("%H:%M") for t in local} == {wall_clock}
        assert len({t.date() for t in local}) == 4  # one tick a day, none doubled or lost


def test_the_nightly_tick_snapshots_the_source_for_its_own_date(instance):
    schedule = defs.resolve_schedule_def("source_snapshot_schedule")
    assert schedule.cron_schedule == "30 0 * * *"  # after the midnight update, before the 01:00 deadline
    [request] = tick("source_snapshot_schedule", instance, "2021-03-28 00:30")
    assert request.run_config == {"ops": {"source_snapshot": {"config": {"snapshot_date": "2021-03-28"}}}}
    assert request.run_key == "2021-03-28"
    assert schedule.job_name == "source_snapshot_job"
