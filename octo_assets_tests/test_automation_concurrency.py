"""Two day runs of the daily job at once, each rebuilding the catalog, while an analyst holds
the catalog open read-only: no run fails, and the `duckdb_catalog` pool of the project's
dagster.yaml lets one catalog writer in at a time.

The runs are separate processes on one Dagster home, as `make ui` launches them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_ASSETS
from octo_assets.catalog.assets import CATALOG_POOL
from octo_assets.definitions import ASSETS

REPO_ROOT = Path(__file__).resolve().parents[1]
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
