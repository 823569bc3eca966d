"""A day's steps as processes that share nothing but the object store, on SeaweedFS: `python -m
octo_assets.run` with OCTO_READINGS_STEPS runs the readings day as several parse and assembling
steps, each a process of Dagster's multiprocess executor with a staging folder of its own, and
publishes exactly what the same day built in one step in one process publishes; a step killed
outright costs a re-execution of that step (and what follows it); two runs of the day racing
leave it as either would."""

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

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


def make_run_env(ws, tmp_path, lake: str, steps: int, name: str) -> dict:
    """make run's environment on the workspace's landing area and `lake`, a DAGSTER_HOME and a
    staging root of its own (under tmp_path/name)."""
    return {
        **os.environ,
        "OCTO_READINGS_DIR": ws.readings_url,
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_LAKE_DIR": lake,
        "OCTO_WAREHOUSE": f"{lake}.duckdb",
        "OCTO_READINGS_STEPS": str(steps),
        "OCTO_STAGING_DIR": str(tmp_path / name / "staging"),
        "DAGSTER_HOME": str(quiet_dagster_home(tmp_path / name / "home")),
    }


def make_run(env: dict, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "octo_assets.run", *args], env=env, capture_output=True, text=True, timeout=300, cwd=cwd
    )


def reference(ws, lake: str, instance) -> dict:
    """The day built in one step, in this process: what every other way must publish."""
    resources = build_resources(ws.readings_url, ws.source_db, lake, f"{lake}.duckdb")
    assert run_pipeline(instance, resources).days == [DAY.isoformat()]
    return tables(lake)


def tables(lake_url: str) -> dict:
    lake = Lake(Storage(lake_url))
    found = {}
    for table in (READINGS_TABLE, QUARANTINE_TABLE, CONFLICTS_TABLE, FILES_TABLE):
        frame = lake.read_day(table, DAY_KEY, DAY.isoformat())
        found[table] = sorted(frame.drop(DAY_KEY, strict=False).rows()) if frame is not None else None
    return found


def test_a_day_in_four_step_processes_is_the_day_in_one(landed, tmp_path, instance):
    expected = reference(landed, f"{landed.s3}/lake-one-step", instance)
    assert len(expected[READINGS_TABLE]) == 16 * 48
    assert sum(1 for row in expected[READINGS_TABLE] if row[3] == 7.5 or str(row[3]) == "7.500") == 3
    assert len(expected[CONFLICTS_TABLE]) == 3 and len(expected[QUARANTINE_TABLE]) == 1

    many = f"{landed.s3}/lake-four-steps"
    env = make_run_env(landed, tmp_path, many, STEPS, "many")
    home, staging = Path(env["DAGSTER_HOME"]), Path(env["OCTO_STAGING_DIR"])
    # the first run: its pre-pass parses the new files in four steps (make run learns their days
    # from them: readings_prepass_job), four steps assemble; the second rebuilds the day from its
    # known files: four steps parse, four assemble
    for args, parse_steps in (([], 1), (["--from", DAY.isoformat(), "--to", DAY.isoformat()], STEPS)):
        done = make_run(env, *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert tables(many) == expected
        # the steps were processes of their own, each with a staging folder that ended with it
        # (nothing is left in the staging root, nor under the lake's exchange)
        if not args:
            prepass = step_processes(home, "readings_prepass_job")
            assert sum("readings_parse[" in k for k, _ in prepass) == STEPS
            assert len({pid for _, pid in prepass}) == len(prepass)
        started = step_processes(home)
        keys = [key for key, _ in started]
        assert sum("readings_parse[" in k for k in keys) == parse_steps
        assert sum("readings_assemble[" in k for k in keys) == STEPS
        assert len({pid for _, pid in started}) == len(started)  # a process each
        left = [p.name for p in staging.iterdir()] if staging.exists() else []
        assert [name for name in left if name.startswith("run-")] == []
        assert Storage(many).list_files(EXCHANGE) == []


def step_processes(home, job: str = "build_all") -> list[tuple[str, int]]:
    """(step key, process id) of each step of the newest run of `job` in the instance at `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = next(r for r in instance.get_runs() if r.job_name == job)
        return [
            (e.step_key, e.dagster_event.pid)  # the process that started the step
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
        ]


BIG_ROWS = 20_000 * 48  # a landing file that takes its parse step seconds: time to kill it


@pytest.fixture(scope="module")
def with_a_big_file(landed):
    """The landed files and, delivered last, one file of 20,000 meterpoints' day."""
    rows = [
        [f"{DAY} {h:02d}:{m:02d}:00", 0.001, f"big{n:05d}"] for n in range(20_000) for h in range(24) for m in (0, 30)
    ]
    os.utime(landed.write_readings("later/big.json", rows), (1_600_000_200, 1_600_000_200))
    landed.sync()
    yield landed
    (landed.readings / "later" / "big.json").unlink()
    landed.sync()


def watch(home, until, timeout_s: float = 120):
    """Poll the newest build run's events at `home` until `until(events)` returns something."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                runs = [r for r in instance.get_runs() if r.job_name == "build_all"]
                found = until(runs[0], instance.all_logs(runs[0].run_id)) if runs else None
        except Exception:  # the instance's storage is being written
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("never happened")


def test_a_step_killed_outright_costs_its_re_execution_and_nothing_counts_twice(with_a_big_file, tmp_path, instance):
    ws = with_a_big_file
    expected = reference(ws, f"{ws.s3}/lake-big-one-step", instance)
    assert len(expected[READINGS_TABLE]) == (16 + 20_000) * 48

    lake = f"{ws.s3}/lake-killed"
    env = make_run_env(ws, tmp_path, lake, 2, "killed")
    assert make_run(env, cwd=tmp_path).returncode == 0  # the day, once: its files known now
    before = Lake(Storage(lake)).delta(READINGS_TABLE).version()
    home = Path(env["DAGSTER_HOME"])
    rebuild = subprocess.Popen(
        [sys.executable, "-m", "octo_assets.run", "--from", DAY.isoformat(), "--to", DAY.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )

    def big_parse_started(run, events):
        if run.status.value == "STARTED" or run.status.value == "STARTING":
            started = {
                e.step_key: e.dagster_event.pid for e in events if e.dagster_event and e.dagster_event.is_step_start
            }
            parses = sorted((k for k in started if "readings_parse[" in k), key=lambda k: int(k.split("_")[-1][:-1]))
            if len(parses) == 2:  # the second holds the big file (delivered last)
                return run.run_id, parses[1], started[parses[1]]
        return None

    killed_run, step, pid = watch(home, big_parse_started)
    os.kill(pid, signal.SIGKILL)
    out, err = rebuild.communicate(timeout=300)
    assert rebuild.returncode == 1 and step in err + out, err
    # nothing of the rebuild is visible: the day is the first run's commit still
    assert Lake(Storage(lake)).delta(READINGS_TABLE).version() == before

    again = subprocess.run(
        [sys.executable, "-m", "octo_assets_tests.support.reexecute", killed_run],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert tables(lake) == expected  # nothing counted twice, nothing lost
    with dg.DagsterInstance.from_config(str(home)) as store:
        run_id = again.stdout.strip().splitlines()[-1]
        ran = {e.step_key for e in store.all_logs(run_id) if e.dagster_event and e.dagster_event.is_step_start}
    assert [k for k in ran if "readings_parse[" in k] == [step]  # the killed step only; the other's output reused
    assert {k for k in ran if "readings_assemble[" in k} and any("readings_publish" in k for k in ran)
    commits = [c for c in Lake(Storage(lake)).delta(READINGS_TABLE).history() if c.get("dagster_run_id")]
    assert commits[0]["dagster_run_id"] == run_id  # published by the re-execution
    assert Storage(lake).list_files(EXCHANGE) == []  # the killed run's exchange, used and cleared


def test_two_runs_of_the_same_day_racing_leave_it_as_either_would(landed, tmp_path, instance):
    expected = reference(landed, f"{landed.s3}/lake-race-one-step", instance)
    lake = f"{landed.s3}/lake-race"
    first = make_run_env(landed, tmp_path, lake, 2, "first")
    assert make_run(first, cwd=tmp_path).returncode == 0
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "octo_assets.run", "--from", DAY.isoformat(), "--to", DAY.isoformat()],
            env=make_run_env(landed, tmp_path, lake, 2, name),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for name in ("racer-a", "racer-b")
    ]
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err[-3000:]
    assert tables(lake) == expected
    assert Storage(lake).list_files(EXCHANGE) == []
