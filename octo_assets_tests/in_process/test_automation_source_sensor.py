"""The source-database sensor, on a real SQLite file and a real Dagster instance."""

import os
import time

import dagster as dg
import pytest

from octo_assets.automation.jobs import SNAPSHOT_ASSETS, SNAPSHOT_JOB
from octo_assets.automation.source_sensor import source_db_sensor
from octo_assets.definitions import ASSETS, defs
from octo_assets.resources import LakeStorage, SourceDatabase
from octo_assets.source.assets import SOURCE_DB

SECOND_NS = 1_000_000_000


@pytest.fixture
def watched(workspace, instance):
    """A source database the pipeline has snapshotted once."""
    workspace.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    assert dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=workspace.resources()).success
    return workspace


def source_tick(ws, instance, cursor=None):
    resources = {"source_db": SourceDatabase(path=str(ws.source_db)), "lake": LakeStorage(root=ws.lake_url)}
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
