"""A day's steps as processes that share nothing but the object store: `python -m octo_assets.run`
with OCTO_READINGS_STEPS=4 on SeaweedFS runs the readings day as four parse and four assembling
steps, each a process of Dagster's multiprocess executor with a staging folder of its own, and
publishes exactly what the same day built in one step in one process publishes."""

import os
import subprocess
import sys
from datetime import date

import dagster as dg
import pytest

from octo_assets.lake import CONFLICTS_TABLE, DAY_KEY, FILES_TABLE, QUARANTINE_TABLE, READINGS_TABLE, Lake
from octo_assets.readings.exchange import EXCHANGE
from octo_assets.resources import build_resources
from octo_assets.run.pipeline import run_pipeline
from octo_assets.storage import Storage
from octo_assets_tests.support.commands import quiet_dagster_home
from octo_assets_tests.support.workspace import PAIR_SOURCE, new_workspace

DAY = date(2021, 1, 1)
STEPS = 4


def half_hours(meterpoint: str, kwh: float) -> list:
    return [[f"{DAY} {h:02d}:{m:02d}:00", kwh, meterpoint] for h in range(24) for m in (0, 30)]


@pytest.fixture(scope="module")
def landed(request, tmp_path_factory):
    """16 meterpoints (m1 and m2 in the source), a file each, then a later folder: m1 corrected
    (3 readings disagree: its two files fall in different parse steps), m5 again (duplicates),
    and a file with a bad row."""
    ws = new_workspace(tmp_path_factory.mktemp("processes"), "s3", request)
    ws.write_source(PAIR_SOURCE["agreement"], PAIR_SOURCE["product"], PAIR_SOURCE["meterpoint"])
    for n in range(1, 17):
        path = ws.write_readings(f"2021-01-01/m{n}.json", half_hours(f"m{n}", n / 100))
        os.utime(path, (1_600_000_000, 1_600_000_000))
    fixed = half_hours("m1", 0.01)
    for row in fixed[:3]:
        row[1] = 7.5
    later = {
        "late/m1.json": fixed,
        "late/m5.json": half_hours("m5", 0.05),
        "late/bad.json": [[f"{DAY} 00:00:00", "x", "m9"]],
    }
    for name, rows in later.items():
        os.utime(ws.write_readings(name, rows), (1_600_000_100, 1_600_000_100))
    ws.sync()
    return ws


def tables(lake_url: str) -> dict:
    lake = Lake(Storage(lake_url))
    found = {}
    for table in (READINGS_TABLE, QUARANTINE_TABLE, CONFLICTS_TABLE, FILES_TABLE):
        frame = lake.read_day(table, DAY_KEY, DAY.isoformat())
        found[table] = sorted(frame.drop(DAY_KEY, strict=False).rows()) if frame is not None else None
    return found


def test_a_day_in_four_step_processes_is_the_day_in_one(landed, tmp_path, instance):
    one = f"{landed.s3}/lake-one-step"
    resources = build_resources(landed.readings_url, landed.source_db, one, f"{landed.s3}/one.duckdb")
    assert run_pipeline(instance, resources).days == [DAY.isoformat()]  # one step, in this process
    reference = tables(one)
    assert len(reference[READINGS_TABLE]) == 16 * 48
    assert sum(1 for row in reference[READINGS_TABLE] if row[3] == 7.5 or str(row[3]) == "7.500") == 3
    assert len(reference[CONFLICTS_TABLE]) == 3 and len(reference[QUARANTINE_TABLE]) == 1

    many = f"{landed.s3}/lake-four-steps"
    home = quiet_dagster_home(tmp_path / "home")
    staging = tmp_path / "staging"
    env = {
        **os.environ,
        "OCTO_READINGS_DIR": landed.readings_url,
        "OCTO_SOURCE_DB": str(landed.source_db),
        "OCTO_LAKE_DIR": many,
        "OCTO_WAREHOUSE": f"{landed.s3}/many.duckdb",
        "OCTO_READINGS_STEPS": str(STEPS),
        "OCTO_STAGING_DIR": str(staging),
        "DAGSTER_HOME": str(home),
    }
    # the first run: its pre-pass parses the new files (make run learns their days), four steps
    # assemble; the second rebuilds the day from its known files: four steps parse, four assemble
    for args, parse_steps in (([], 1), (["--from", DAY.isoformat(), "--to", DAY.isoformat()], STEPS)):
        done = subprocess.run(
            [sys.executable, "-m", "octo_assets.run", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert tables(many) == reference
        # the steps were processes of their own, each with a staging folder that ended with it
        # (nothing is left in the staging root, nor under the lake's exchange)
        started = step_processes(home)
        keys = [key for key, _ in started]
        assert sum("readings_parse[" in k for k in keys) == parse_steps
        assert sum("readings_assemble[" in k for k in keys) == STEPS
        assert len({pid for _, pid in started}) == len(started)  # a process each
        left = [p.name for p in staging.iterdir()] if staging.exists() else []
        assert [name for name in left if name.startswith("run-")] == []
        assert Storage(many).list_files(EXCHANGE) == []


def step_processes(home) -> list[tuple[str, int]]:
    """(step key, process id) of each step of the newest build run in the instance at `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = next(r for r in instance.get_runs() if r.job_name == "build_all")
        return [
            (e.step_key, e.dagster_event.pid)  # the process that started the step
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
        ]
