"""A readings run killed (SIGKILL, the whole process group) while it stages, while it publishes,
and at fixed moments, with the input changed since the day was built: the day is always the old
one or the new one, whole, and what the killed runs left behind never trips the next run. On
disk and on the S3 server, where a killed upload or commit is the store's own."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import dagster as dg
import pytest

from octo_assets_tests.support.runs import materialize
from octo_assets_tests.support.workspace import BACKENDS

DAY = "2021-01-01"
READINGS = dg.AssetSelection.assets(["lake", "readings"])

KILLED_RUN = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from octo_assets.definitions import ASSETS
    from octo_assets.resources import build_resources

    readings, db, lake, warehouse, home = sys.argv[1:]
    with dg.instance_for_test(temp_dir=home) as instance:
        dg.materialize(ASSETS, selection=dg.AssetSelection.assets(["lake", "readings"]), instance=instance,
                       resources=build_resources(readings, db, lake, warehouse), partition_key="2021-01-01")
    """
)
DAY_FOLDER = f"readings/date={DAY}"  # the readings table's folder of the day


def killed_run(ws, home) -> subprocess.Popen:
    arguments = [ws.readings_url, str(ws.source_db), ws.lake_url, ws.warehouse, str(home)]
    return subprocess.Popen([sys.executable, "-c", KILLED_RUN, *arguments], start_new_session=True)


def day_folder(ws) -> set[str]:
    """Every file in the day's folder of the readings table, those of no version yet included
    (on disk also the writer's temporary files, whose names start with a dot)."""
    if ws.s3:
        return {e.path for e in ws.lake_storage().list_files(DAY_FOLDER)}
    folder = ws.lake / DAY_FOLDER
    return set(os.listdir(folder)) if folder.is_dir() else set()


def publishing(ws, before: set[str]) -> bool:
    """The day is being published: a file the day's folder did not hold before the run (Delta
    writes a day's new files into the table, then commits them)."""
    return bool(day_folder(ws) - before)


def staging_runs(staging) -> bool:
    return any(staging.glob("run-*"))


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_run_killed_at_any_moment_leaves_the_old_or_the_new_partition_whole_and_nothing_in_the_way(
    sourced, instance, tmp_path, monkeypatch
):
    """Killed while it stages, while it publishes, or at fixed moments; the input changed since the
    partition was built, so the old and the new partition differ. After each kill the partition is
    one of them, whole; what the killed run left behind never trips the next one."""
    ws = sourced
    staging = tmp_path / "staging"
    monkeypatch.setenv("OCTO_STAGING_DIR", str(staging))  # the killed runs inherit it
    rows_per_file, files = 48, 400

    def deliver(kwh: float) -> None:
        for n in range(files):
            day_rows = [[f"{DAY} {h // 2:02d}:{30 * (h % 2):02d}:00", kwh, f"m{n:04d}"] for h in range(rows_per_file)]
            ws.write_readings(f"m{n:04d}.json", day_rows)

    deliver(0.25)
    assert materialize(ws, instance, READINGS, [DAY]).success
    old = ws.published_day("readings", "date", DAY)
    deliver(0.5)  # corrected: the new partition will differ
    ws.sync()
    new_total = [(files * rows_per_file, Decimal("0.5") * files * rows_per_file)]

    for attempt, moment in enumerate(["staging", "publishing", 1.0, 2.0, 3.0]):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        before = day_folder(ws)
        child = killed_run(ws, home)
        deadline = time.monotonic() + (60 if isinstance(moment, str) else moment)
        while child.poll() is None and time.monotonic() < deadline:
            if (moment == "publishing" and publishing(ws, before)) or (moment == "staging" and staging_runs(staging)):
                break
            time.sleep(0.001)
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:  # the run (and every process it started) had already ended
            pass
        child.wait()
        # whatever the moment, the day served is the old one (no commit of it since) or the new
        # one, whole; files a killed run wrote but never committed are in no version
        now = ws.published_day("readings", "date", DAY)
        totals = ws.query_lake(f"SELECT count(*), sum(consumption_kwh) FROM {{readings}} WHERE date = DATE '{DAY}'")
        assert now == old or totals == new_total, moment

    assert materialize(ws, instance, READINGS, [DAY]).success
    assert ws.query_lake(
        "SELECT count(*), count(DISTINCT (meterpoint_id, interval_start_utc)), sum(consumption_kwh) FROM {readings}",
    ) == [(files * rows_per_file, files * rows_per_file, new_total[0][1])]
    assert [p.name for p in staging.glob("run-*")] == []  # the killed runs' staging was swept
