"""The landing sensor, on real files (on disk and on S3) and a real Dagster instance: every way
a sender delivers a file is seen, whatever its modification time, and a day is requested exactly
when the lake has not built it from the files now landed."""

import json
import os
import shutil
from datetime import date, timedelta
from importlib import import_module

import dagster as dg
import pytest

from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_ASSETS
from octo_assets.automation.landing_sensor import landing_sensor
from octo_assets.definitions import ASSETS, defs
from octo_assets.partitions import daily_partitions
from octo_assets.readings.assets import LANDING
from octo_assets.readings.landing import files_table
from octo_assets.resources import LakeStorage, LandingFolder
from octo_assets_tests.support.runs import materialize
from octo_assets_tests.support.workspace import BACKENDS

READINGS = dg.AssetSelection.assets(["lake", "readings"])
sensor_module = import_module("octo_assets.automation.landing_sensor")  # the package exports the sensor by that name
OLD = 1_000_000_000  # an mtime long ago, in seconds


def rows(day: str, meterpoint: str = "mp1", kwh: float = 0.5) -> list:
    return [[f"{day} {h:02d}:{m:02d}:00", kwh, meterpoint] for h in range(24) for m in (0, 30)]


def tick(ws, instance, cursor=None):
    ws.sync()
    resources = {"landing": LandingFolder(path=ws.readings_url), "lake": LakeStorage(root=ws.lake_url)}
    return landing_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
    )


def requested(result) -> list[str]:
    return [r.partition_key for r in result.run_requests]


def build(ws, instance, *days: str) -> None:
    for day in days:
        assert materialize(ws, instance, READINGS, [day]).success


@pytest.fixture
def watched(workspace, instance):
    """A landing area whose pipeline has its first source snapshot (the analytics need one)."""
    workspace.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    assert dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=workspace.resources()).success
    return workspace


# -- on both backends: a listing's version (ctime and inode on disk, the ETag on S3) ---------------


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_new_file_requests_its_day_until_the_day_is_built_from_it(watched, instance):
    watched.write_readings("mp1.json", rows("2021-01-02"))
    first = tick(watched, instance)
    assert requested(first) == ["2021-01-02"]
    assert landing_sensor.job_name == DAILY_JOB.name
    assert [e.asset_key for e in first.asset_events] == [LANDING.key]  # the landing area's freshness
    build(watched, instance, "2021-01-02")
    again = tick(watched, instance, first.cursor)
    assert again.run_requests == [] and "no new or changed files" in again.skip_message


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_correction_of_the_same_size_is_requested_under_a_new_run_key(watched, instance):
    watched.write_readings("mp1.json", rows("2021-01-02", kwh=0.5))
    first = tick(watched, instance)
    build(watched, instance, "2021-01-02")
    size = os.path.getsize(watched.readings / "mp1.json")
    watched.write_readings("mp1.json", rows("2021-01-02", kwh=0.7))  # same length of text: same size
    assert os.path.getsize(watched.readings / "mp1.json") == size
    second = tick(watched, instance, first.cursor)
    assert requested(second) == ["2021-01-02"]
    # the daemon drops a request whose run key it has seen: the correction's key is new
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_deleted_file_requests_nothing_and_leaves_the_index(watched, instance):
    watched.write_readings("mp1.json", rows("2021-01-02"))
    watched.write_readings("mp2.json", rows("2021-01-02", "mp2"))
    first = tick(watched, instance)
    build(watched, instance, "2021-01-02")
    (watched.readings / "mp2.json").unlink()  # archived by the operator
    second = tick(watched, instance, first.cursor)
    assert second.run_requests == []
    state = watched.lake_storage().read_bytes(files_table(""))
    assert b"mp2.json" not in state and b"mp1.json" in state


# -- on disk: deliveries that keep an old modification time ---------------------------------------


def deliver_elsewhere(ws, tmp_path, name: str, data: list):
    """A file written outside the landing area with an old mtime, as a sender's copy is."""
    staged = tmp_path / "outbox" / name
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_text(json.dumps({"columns": ["interval_start", "consumption_delta", "meterpoint_id"], "data": data}))
    os.utime(staged, (OLD, OLD))
    return staged


@pytest.mark.parametrize(
    "how",
    [
        "cp -p",  # a copy keeping the old mtime
        "mv",  # moved in: same inode, old mtime
        "rsync -t",  # written to a temporary name, mtime set back, renamed over the target
        "upload then rename",  # a partial upload renamed when complete
    ],
)
def test_a_file_delivered_with_an_old_mtime_is_seen(watched, instance, tmp_path, how):
    watched.write_readings("mp1.json", rows("2021-01-02"))
    first = tick(watched, instance)
    build(watched, instance, "2021-01-02")
    late = deliver_elsewhere(watched, tmp_path, "mp9.json", rows("2021-01-03", "mp9"))
    target = watched.readings / "mp9.json"
    if how == "cp -p":
        shutil.copy2(late, target)
    elif how == "mv":
        os.rename(late, target)
    else:
        partial = watched.readings / ".mp9.json.partial" if how == "rsync -t" else watched.readings / "mp9.json.part"
        shutil.copy2(late, partial)
        os.rename(partial, target)
    assert os.stat(target).st_mtime == OLD  # older than anything the sensor has seen
    assert requested(tick(watched, instance, first.cursor)) == ["2021-01-03"]


def test_a_correction_copied_over_a_file_keeping_size_and_mtime_is_seen(watched, instance, tmp_path):
    """`cp -p` of a corrected file onto one of the same size and mtime: only the version tells."""
    original = watched.write_readings("mp1.json", rows("2021-01-02", kwh=0.5))
    os.utime(original, (OLD, OLD))
    first = tick(watched, instance)
    build(watched, instance, "2021-01-02")
    corrected = deliver_elsewhere(watched, tmp_path, "mp1.json", rows("2021-01-02", kwh=0.7))
    shutil.copy2(corrected, original)
    assert (os.stat(original).st_size, os.stat(original).st_mtime) == (os.stat(corrected).st_size, OLD)
    assert requested(tick(watched, instance, first.cursor)) == ["2021-01-02"]


def test_a_touch_or_chmod_delivers_nothing(watched, instance):
    path = watched.write_readings("mp1.json", rows("2021-01-02"))
    first = tick(watched, instance)
    build(watched, instance, "2021-01-02")
    os.chmod(path, 0o600)  # the version token changes, the content does not
    os.utime(path, (OLD, OLD))
    assert tick(watched, instance, first.cursor).run_requests == []


def test_a_file_in_a_sub_folder_holding_several_days_requests_exactly_those_days(watched, instance):
    data = rows("2021-01-03") + rows("2021-01-01") + rows("2021-01-02", meterpoint="mp2")  # days not in order
    watched.write_readings("2021-01-04/mp1.json", data)
    watched.write_readings("mp9.json", rows("2021-01-02", meterpoint="mp9"))
    result = tick(watched, instance)
    assert requested(result) == ["2021-01-01", "2021-01-02", "2021-01-03"]
    assert [r.tags["octo/files"] for r in result.run_requests] == ["1", "2", "1"]


def test_a_late_correction_for_a_day_weeks_old_reruns_that_day(watched, instance):
    watched.write_readings("2021-01-02/mp1.json", rows("2021-01-02"))
    cursor = tick(watched, instance).cursor
    build(watched, instance, "2021-01-02")
    for day in ("2021-01-20", "2021-01-21", "2021-01-22"):  # weeks of deliveries later
        watched.write_readings(f"{day}/mp1.json", rows(day))
        result = tick(watched, instance, cursor)
        assert requested(result) == [day]
        cursor = result.cursor
        build(watched, instance, day)
    late = watched.write_readings("2021-02-01/mp1-fix.json", [["2021-01-02 10:00:00", 9.9, "mp1"]])
    os.utime(late, (OLD, OLD))
    assert requested(tick(watched, instance, cursor)) == ["2021-01-02"]


def test_a_file_the_0800_run_read_for_another_day_is_requested_for_its_own(watched, instance):
    cursor = tick(watched, instance).cursor
    both = rows("2021-01-02") + rows("2021-01-05")
    watched.write_readings("mp1.json", both)
    build(watched, instance, "2021-01-02")  # the 08:00 run read it first, and learnt it holds 5 January too
    assert requested(tick(watched, instance, cursor)) == ["2021-01-05"]


def test_turned_on_over_a_built_lake_it_requests_nothing_but_what_is_not_built(watched, instance):
    watched.write_readings("mp1.json", rows("2021-01-02"))
    watched.write_readings("mp2.json", rows("2021-01-03", "mp2"))
    build(watched, instance, "2021-01-02")
    assert requested(tick(watched, instance)) == ["2021-01-03"]  # no cursor: compares everything


def test_the_work_of_a_tick_is_bounded_and_resumes_on_the_next(watched, instance, monkeypatch):
    monkeypatch.setattr(sensor_module, "FILES_PER_READ", 5)
    monkeypatch.setattr(sensor_module, "READ_BUDGET_S", 0.0)  # one batch of 5 files a tick
    for n in range(12):
        watched.write_readings(f"mp{n:02d}.json", rows("2021-01-02", f"mp{n:02d}"))
    cursor, skips = None, 0
    while True:
        result = tick(watched, instance, cursor)
        if result.run_requests:
            break
        assert "left to read on the next ticks" in result.skip_message
        assert result.cursor == cursor  # nothing is compared until every new file is read
        skips += 1
    assert skips == 2  # 12 files, 5 a tick
    assert requested(result) == ["2021-01-02"]
    assert result.run_requests[0].tags["octo/files"] == "12"


def test_the_cursor_stays_one_number_as_files_pile_up(watched, instance):
    cursor = None
    for day in range(1, 15):  # two weeks of daily deliveries, 5 files a day
        for meterpoint in range(5):
            watched.write_readings(f"{day:02d}/mp{meterpoint}.json", rows(f"2021-02-{day:02d}", f"mp{meterpoint}"))
        result = tick(watched, instance, cursor)
        assert requested(result) == [f"2021-02-{day:02d}"]
        cursor = result.cursor
    assert list(json.loads(cursor)) == ["seen_through_ns"] and len(cursor) <= 48


def test_a_day_not_ended_is_skipped_with_the_reason_and_rows_of_no_day_are_reported_by_the_newest(watched, instance):
    """Today's rows wait for their day (its schedule builds it). Rows of a day that is never built,
    before the first partition or after their file's delivery, are rows of no day of their own:
    like an unreadable file, their file requests the newest day, whose run quarantines them."""
    yesterday = daily_partitions.get_last_partition_key()
    today = (date.fromisoformat(yesterday) + timedelta(days=1)).isoformat()
    watched.write_readings("today.json", rows(today))
    first = tick(watched, instance)
    assert first.run_requests == [] and f"{today}: the day has not ended yet" in first.skip_message
    watched.write_readings("old.json", rows("2020-12-31"))
    watched.write_readings("future.json", rows("2099-01-01"))
    result = tick(watched, instance, first.cursor)
    assert requested(result) == [yesterday]
    build(watched, instance, yesterday)
    quarantined = watched.query_lake(
        "SELECT source_file, count(*), min(reason) FROM {readings_quarantine} GROUP BY 1 ORDER BY 1"
    )
    assert quarantined == [
        ("future.json", 48, "reading dated 2099-01-01, more than a day after its file was first seen "
         f"({today}): a half hour cannot be read before it has begun"),
        ("old.json", 48, "reading dated 2020-12-31, before the first partition 2021-01-01"),
    ]  # fmt: skip
    assert tick(watched, instance, result.cursor).run_requests == []  # reported: nothing more to ask


def test_a_file_with_no_readable_day_requests_the_newest_day_whose_run_reports_it(watched, instance):
    (watched.readings / "broken.json").write_bytes(b'{"columns": [')
    yesterday = daily_partitions.get_last_partition_key()
    first = tick(watched, instance)
    assert requested(first) == [yesterday]
    result = materialize(watched, instance, READINGS, [yesterday], {"ops": {"lake__readings": {"config": {}}}})
    [quarantined] = [e for e in result.get_asset_check_evaluations() if e.check_name == "readings_nothing_quarantined"]
    assert not quarantined.passed and quarantined.metadata["files_rejected"].value == 1
    assert tick(watched, instance, first.cursor).run_requests == []  # reported: nothing more to ask


def test_without_a_first_snapshot_the_sensor_waits_and_keeps_its_place(workspace, instance):
    workspace.write_readings("mp1.json", rows("2021-01-02"))
    result = tick(workspace, instance)
    assert result.run_requests == [] and "waiting for the first source snapshot" in result.skip_message
    assert result.cursor is None
