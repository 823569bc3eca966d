"""Two day runs of the daily job at once, each rebuilding the catalog, while an analyst holds
the catalog open read-only: no run fails, and the `duckdb_catalog` pool of the project's
dagster.yaml lets one catalog writer in at a time.

The runs are separate processes on one Dagster home, as `make ui` launches them."""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_ASSETS
from octo_assets.catalog.assets import CATALOG_POOL
from octo_assets.definitions import ASSETS

REPO_ROOT = Path(__file__).resolve().parents[2]
DAYS = ["2021-01-01", "2021-01-02"]
CATALOG_STEP = "warehouse__catalog"
RUN_DAY = f"""
import sys
import dagster as dg
from octo_assets.definitions import defs

job = defs.resolve_job_def({DAILY_JOB.name!r})
result = job.execute_in_process(partition_key=sys.argv[1], instance=dg.DagsterInstance.get(), raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


def environment(ws, home: Path) -> dict:
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OCTO_READINGS_DIR": str(ws.readings),
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_LAKE_DIR": str(ws.lake),
        "OCTO_WAREHOUSE": str(ws.warehouse),
    }


def catalog_step_windows(instance: dg.DagsterInstance) -> list[tuple[float, float]]:
    windows = []
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=DAILY_JOB.name)):
        logs = instance.all_logs(run.run_id)
        events = {e.dagster_event_type: e.timestamp for e in logs if e.step_key == CATALOG_STEP}
        windows.append((events[dg.DagsterEventType.STEP_START], events[dg.DagsterEventType.STEP_SUCCESS]))
    return sorted(windows)


def test_concurrent_day_runs_and_a_reader_never_fail(sample_workspace, tmp_path):
    ws = sample_workspace
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        catalog = dg.AssetSelection.assets(["warehouse", "catalog"])
        first = dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS | catalog, instance=instance, resources=ws.resources())
        assert first.success

        with duckdb.connect(str(ws.warehouse), read_only=True) as analyst:  # held open throughout
            runs = [
                subprocess.Popen(
                    [sys.executable, "-c", RUN_DAY, day],
                    env=environment(ws, home),
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for day in DAYS
            ]
            outputs = [run.communicate(timeout=120)[0].decode(errors="replace") for run in runs]
            assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
            assert analyst.execute("SELECT count(*) FROM lake.agreement").fetchone()[0] > 0  # still reading

        assert instance.event_log_storage.get_concurrency_info(CATALOG_POOL).slot_count == 1
        (first_start, first_end), (second_start, _) = catalog_step_windows(instance)
        assert second_start >= first_end  # one catalog writer at a time

    with duckdb.connect(str(ws.warehouse), read_only=True) as fresh:
        days = fresh.execute("SELECT DISTINCT reading_date::VARCHAR FROM lake.readings ORDER BY 1").fetchall()
    assert [d for (d,) in days] == DAYS


# -- two runs of one day around a corrected delivery -----------------------------------------------

ONE_DAY_RUN = """
import fcntl
import sys
import dagster as dg
import octo_assets.lake as lake_module
from octo_assets.definitions import ASSETS
from octo_assets.resources import build_resources

readings, db, lake, warehouse, home, gate = sys.argv[1:]
real_write = lake_module.write_deltalake


def gated_write(target, *args, **kwargs):
    # the readings commit passes the test's gate first: it waits while the test holds the gate
    uri = target if isinstance(target, str) else target.table_uri
    if uri.rstrip("/").endswith("/readings"):
        with open(gate, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            fcntl.flock(handle, fcntl.LOCK_UN)
    return real_write(target, *args, **kwargs)


def gated_commit(lake, current, table, *args, **kwargs):
    # a day of files (the readings' usual way) is committed by Lake._commit: the same gate
    if table == "readings":
        with open(gate, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            fcntl.flock(handle, fcntl.LOCK_UN)
    return real_commit(lake, current, table, *args, **kwargs)


real_commit = lake_module.Lake._commit
lake_module.write_deltalake = gated_write
lake_module.Lake._commit = gated_commit
with dg.instance_for_test(temp_dir=home) as instance:
    result = dg.materialize(ASSETS, selection=dg.AssetSelection.assets(["lake", "readings"]), instance=instance,
                            resources=build_resources(readings, db, lake, warehouse), partition_key="2021-01-02",
                            raise_on_error=False)
sys.exit(0 if result.success else 1)
"""
RACE_DAY = "2021-01-02"


def start_day_run(ws, home: Path, gate: "PublishGate") -> subprocess.Popen:
    home.mkdir()
    arguments = [ws.readings_url, str(ws.source_db), ws.lake_url, ws.warehouse, str(home), str(gate.path)]
    return subprocess.Popen(
        [sys.executable, "-c", ONE_DAY_RUN, *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


class PublishGate:
    """A lock the day runs take just before they commit the readings day (the run's script wraps
    the lake's commit of the day's files, and its call of deltalake's write_deltalake for a day
    without rows, after the lake has compared the deliveries the published day was built from
    with its own), held by the test.

    A run that reaches its commit waits for it; the kernel lists it as a waiter in /proc/locks.
    That pins runs between their check and their commit, in an order the test chooses, with no
    hook in the pipeline's code.
    """

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        self.inode = os.fstat(self.handle.fileno()).st_ino

    def waiting(self, run: subprocess.Popen) -> bool:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "->" in fields and str(run.pid) in fields and fields[-3].endswith(f":{self.inode}"):
                return True
        return False

    def wait_for(self, run: subprocess.Popen, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and run.poll() is None:
            if self.waiting(run):
                return
            time.sleep(0.02)
        output = run.communicate()[0].decode()[-3000:]
        raise AssertionError(f"run {run.pid} never reached the readings commit: {output}")

    def stop_waiter(self, run: subprocess.Popen) -> None:
        """SIGSTOP a waiting run: a stopped process leaves the lock's queue (it asks again once
        continued), so the lock goes to whoever asks next."""
        os.kill(run.pid, signal.SIGSTOP)
        while self.waiting(run) or Path(f"/proc/{run.pid}/stat").read_text().split(")")[1].split()[0] != "T":
            time.sleep(0.01)

    def release(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def finished(run: subprocess.Popen) -> None:
    output = run.communicate(timeout=120)[0].decode(errors="replace")
    assert run.returncode == 0, output[-3000:]


def day_kwh(ws) -> list:
    return ws.query_lake(f"SELECT consumption_kwh::VARCHAR FROM {{readings}} WHERE date = DATE '{RACE_DAY}'")


@pytest.fixture(params=["new table", "table exists"])
def racing(workspace, instance, request):
    """The race day's first delivery; the readings table is either made by the racing runs'
    first commit, or already holds another day."""
    ws = workspace
    ws.write_source([(1, "2020-06-01", None, "P1", "mp1", "A1")], [("Fixed", 0, 1, "P1")], [("south", "mp1")])
    if request.param == "table exists":
        ws.write_readings("mp1-before.json", [["2021-01-01 00:00:00", 0.5, "mp1"]])
        readings = dg.AssetSelection.assets(["lake", "readings"])  # as the racing runs build it: no checks
        ws.sync()
        before = dg.materialize(
            ASSETS, selection=readings, instance=instance, resources=ws.resources(), partition_key="2021-01-01"
        )
        assert before.success
    ws.write_readings("mp1.json", [[f"{RACE_DAY} 00:00:00", 1.0, "mp1"]])
    return ws


def correct(ws) -> None:
    ws.write_readings("mp1.json", [[f"{RACE_DAY} 00:00:00", 7.5, "mp1"]])


def test_an_older_run_that_finishes_last_does_not_overwrite_the_correction(racing, tmp_path):
    ws = racing
    gate = PublishGate(tmp_path / "gate.lock")
    older = start_day_run(ws, tmp_path / "older", gate)
    gate.wait_for(older)  # it built the first delivery, found no newer day published, and is about to commit
    gate.stop_waiter(older)  # and it stays there until the newer run has finished
    gate.release()
    correct(ws)
    newer = start_day_run(ws, tmp_path / "newer", gate)
    finished(newer)
    assert day_kwh(ws) == [("7.500",)]

    os.kill(older.pid, signal.SIGCONT)
    finished(older)  # it ends well: its commit lost to the newer one, it looked again, and kept it
    assert day_kwh(ws) == [("7.500",)]


def test_a_newer_run_that_finishes_last_replaces_the_older_one(racing, tmp_path):
    ws = racing
    gate = PublishGate(tmp_path / "gate.lock")
    older = start_day_run(ws, tmp_path / "older", gate)
    gate.wait_for(older)
    correct(ws)
    newer = start_day_run(ws, tmp_path / "newer", gate)
    gate.wait_for(newer)  # both runs wait to commit, the older one first in line
    gate.stop_waiter(newer)
    gate.release()
    finished(older)
    assert day_kwh(ws) == [("1.000",)]
    os.kill(newer.pid, signal.SIGCONT)
    finished(newer)
    assert day_kwh(ws) == [("7.500",)]
