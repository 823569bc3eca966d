"""The landing-folder and source-database sensors, on real files and a real Dagster instance."""

import json
import os
import time

import dagster as dg
import pytest

from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_ASSETS, SNAPSHOT_JOB
from octo_assets.automation.landing_sensor import DeliveryMark, landing_sensor
from octo_assets.automation.source_sensor import source_db_sensor
from octo_assets.definitions import ASSETS, defs
from octo_assets.readings.assets import LANDING
from octo_assets.resources import LandingFolder, SourceDatabase
from octo_assets.source.assets import SOURCE_DB

SECOND_NS = 1_000_000_000


def rows(day: str, meterpoint: str = "mp1", kwh: float = 0.5) -> list:
    return [[f"{day} {h:02d}:{m:02d}:00", kwh, meterpoint] for h in range(24) for m in (0, 30)]


def deliver(ws, name: str, data: list, at_s: int) -> None:
    """A file delivered at a chosen time: the sensor orders deliveries by mtime."""
    path = ws.write_readings(name, data)
    os.utime(path, ns=(at_s * SECOND_NS, at_s * SECOND_NS))


def tick(ws, instance, cursor=None):
    resources = {"landing": LandingFolder(path=str(ws.readings))}
    return landing_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
    )


def requested_days(result) -> list[str]:
    return [r.partition_key for r in result.run_requests]


def materialize(ws, instance, selection, **kwargs) -> None:
    assert dg.materialize(ASSETS, selection=selection, instance=instance, resources=ws.resources(), **kwargs).success


@pytest.fixture
def watched(workspace, instance):
    """A landing folder whose pipeline has its first source snapshot (the analytics need one)."""
    workspace.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    materialize(workspace, instance, SNAPSHOT_ASSETS)
    return workspace


def test_a_new_file_requests_its_day_and_an_unchanged_folder_nothing(watched, instance):
    deliver(watched, "mp1.json", rows("2021-01-02"), at_s=1_000)
    first = tick(watched, instance)
    assert requested_days(first) == ["2021-01-02"]
    assert landing_sensor.job_name == DAILY_JOB.name  # requests without a job name run the sensor's job
    assert [e.asset_key for e in first.asset_events] == [LANDING.key]  # the landing folder's freshness

    again = tick(watched, instance, first.cursor)
    assert again.run_requests == [] and "no new or changed files" in again.skip_message
    assert again.asset_events == []


def test_a_file_holding_several_days_requests_exactly_those_days(watched, instance):
    data = rows("2021-01-03") + rows("2021-01-01") + rows("2021-01-02", meterpoint="mp2")  # not in order
    deliver(watched, "2021-01-04/mp1.json", data, at_s=1_000)  # in a sub-folder
    deliver(watched, "mp9.json", rows("2021-01-02", meterpoint="mp9"), at_s=1_001)
    result = tick(watched, instance)
    assert requested_days(result) == ["2021-01-01", "2021-01-02", "2021-01-03"]
    assert [r.tags["octo/files"] for r in result.run_requests] == ["1", "2", "1"]


def test_a_redelivered_corrected_file_reruns_its_days_under_a_new_run_key(watched, instance):
    deliver(watched, "mp1.json", rows("2021-01-02"), at_s=1_000)
    deliver(watched, "mp2.json", rows("2021-01-05", meterpoint="mp2"), at_s=1_000)
    first = tick(watched, instance)

    deliver(watched, "mp1.json", rows("2021-01-02", kwh=0.75), at_s=2_000)  # the correction
    second = tick(watched, instance, first.cursor)
    assert requested_days(second) == ["2021-01-02"]  # mp2.json did not change
    # the daemon drops a request whose run key it has seen: the correction's key is new
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_days_outside_the_partitions_are_skipped_with_the_reason(watched, instance):
    deliver(watched, "old.json", rows("2020-12-31"), at_s=1_000)
    deliver(watched, "future.json", rows("2099-01-01"), at_s=1_001)
    result = tick(watched, instance)
    assert result.run_requests == []
    assert "2020-12-31: before the first partition 2021-01-01" in result.skip_message
    assert "2099-01-01: the day has not ended yet" in result.skip_message

    deliver(watched, "straddle.json", rows("2020-12-31") + rows("2021-01-01"), at_s=1_002)
    assert requested_days(tick(watched, instance, result.cursor)) == ["2021-01-01"]


def test_the_cursor_stays_bounded_as_files_pile_up(watched, instance):
    cursor = None
    for day in range(1, 29):  # four weeks of daily deliveries, 5 files a day
        for meterpoint in range(5):
            name, data = f"{day:02d}/mp{meterpoint}.json", rows(f"2021-02-{day:02d}", f"mp{meterpoint}")
            deliver(watched, name, data, at_s=day * 10_000 + meterpoint)
        result = tick(watched, instance, cursor)
        assert requested_days(result) == [f"2021-02-{day:02d}"]
        cursor = result.cursor
    newest = "28/mp4.json"  # 140 files later the cursor holds one
    assert json.loads(cursor) == {
        "mtime_ns": (28 * 10_000 + 4) * SECOND_NS,
        "at_mark": {newest: os.path.getsize(watched.readings / newest)},
    }


def test_files_delivered_at_the_same_instant_are_each_seen_once():
    mark = DeliveryMark(-1).advance([("a.json", 10, 5), ("b.json", 20, 5)])
    assert mark.at_mark == {"a.json": 10, "b.json": 20}
    assert not mark.is_new(("a.json", 10, 5))
    assert mark.is_new(("c.json", 30, 5))  # a third file in the same instant
    assert mark.is_new(("a.json", 11, 5))  # rewritten within the instant: its size changed
    assert not mark.is_new(("z.json", 10, 4))  # older than the mark: the documented limit
    assert DeliveryMark.from_cursor(mark.to_cursor()) == mark


def test_without_a_first_snapshot_the_sensor_waits_and_keeps_its_place(workspace, instance):
    deliver(workspace, "mp1.json", rows("2021-01-02"), at_s=1_000)
    result = tick(workspace, instance)
    assert result.run_requests == [] and "waiting for the first source snapshot" in result.skip_message
    assert result.cursor is None


def test_turned_on_over_a_built_folder_it_requests_only_later_deliveries(watched, instance):
    deliver(watched, "mp1.json", rows("2021-01-02"), at_s=1_000)
    materialize(watched, instance, dg.AssetSelection.assets(["lake", "readings"]), partition_key="2021-01-02")
    first = tick(watched, instance)
    assert first.run_requests == []

    now = int(time.time()) + 5
    deliver(watched, "mp2.json", rows("2021-01-03", meterpoint="mp2"), at_s=now)
    assert requested_days(tick(watched, instance, first.cursor)) == ["2021-01-03"]


def source_tick(ws, instance, cursor=None):
    resources = {"source_db": SourceDatabase(path=str(ws.source_db))}
    return source_db_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
    )


def test_a_new_or_changed_database_requests_a_snapshot(workspace, instance):
    assert "does not exist" in source_tick(workspace, instance).skip_message

    workspace.write_source([], [], [])
    first = source_tick(workspace, instance)  # never snapshotted
    [request] = first.run_requests
    assert source_db_sensor.job_name == SNAPSHOT_JOB.name
    assert [e.asset_key for e in first.asset_events] == [SOURCE_DB.key]

    unchanged = source_tick(workspace, instance, first.cursor)
    assert unchanged.run_requests == [] and "unchanged" in unchanged.skip_message

    workspace.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [], [])  # the midnight update
    os.utime(workspace.source_db, ns=(time.time_ns() + SECOND_NS,) * 2)
    [changed] = source_tick(workspace, instance, unchanged.cursor).run_requests
    assert changed.run_key != request.run_key


def test_turned_on_after_a_snapshot_of_the_same_database_it_requests_nothing(watched, instance):
    os.utime(watched.source_db, ns=(time.time_ns() - 60 * SECOND_NS,) * 2)  # written before the snapshot
    result = source_tick(watched, instance)
    assert result.run_requests == [] and result.cursor
