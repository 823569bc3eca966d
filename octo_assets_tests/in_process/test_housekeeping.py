"""The weekly housekeeping job (automation.housekeeping) on a lake whose history is days long
(support.aged): OCTO_RETENTION_DAYS reaches the vacuum as days, and nothing widens what it may
remove. A retention of one day keeps every version of the last day, hours old or not; past a
retention of two days only what no retained version, and not the version the catalog reads,
needs goes; a file no commit names goes once older than the retention. (The rule itself, on fresh
versions with any `now`: engine/test_delta_lake.py.)"""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from octo_assets.automation.housekeeping import lake_housekeeping_job
from octo_assets.automation.landing_sensor import landing_sensor
from octo_assets.catalog.views import build_catalog
from octo_assets.definitions import defs
from octo_assets.lake import Lake
from octo_assets.readings.ingest import LAKE_SCHEMA
from octo_assets.resources import LakeStorage, LandingFolder, Warehouse
from octo_assets.run.pipeline import RunError, run_pipeline
from octo_assets.storage import Storage
from octo_assets_tests.support.aged import age, stray
from octo_assets_tests.support.runs import failure_message

TABLE, D1, D2 = "readings", "2021-01-01", "2021-01-02"


def reading(k: int, day: str) -> pl.DataFrame:
    """One reading of meterpoint m<k>: publish k's rows (its kWh is k)."""
    start = datetime.fromisoformat(f"{day} 00:00")
    return pl.DataFrame(
        {
            "meterpoint_id": [f"m{k}"],
            "interval_start_utc": [start.replace(tzinfo=UTC)],
            "interval_start_local": [start],
            "consumption_kwh": [k],
            "source_file": [f"m{k}.json"],
        },
        schema=LAKE_SCHEMA,
    )


def versions(tmp_path, catalog_at: int) -> tuple[Lake, str]:
    """Version 0 holds D1 (m0); versions 1-4 each replace D2 with publish k's reading (m1 .. m4).
    The analysts' catalog is built when version `catalog_at` is the latest: its views read it."""
    lake = Lake(str(tmp_path / "lake"))
    for k in range(5):
        lake.publish(TABLE, "date", D1 if k == 0 else D2, reading(k, D1 if k == 0 else D2), f"run-{k}")
        if k == catalog_at:
            build_catalog(lake, Storage(str(tmp_path)), "warehouse.duckdb")
    return lake, str(tmp_path / "warehouse.duckdb")


def housekeep(lake: Lake, warehouse: str, retention_days: int) -> dict:
    result = lake_housekeeping_job.execute_in_process(
        resources={
            "lake": LakeStorage(root=lake.root, retention_days=retention_days),
            "warehouse": Warehouse(path=warehouse),
        }
    )
    assert result.success
    [output] = [e for e in result.all_events if e.is_successful_output]
    return {k: v.value for k, v in output.event_specific_data.metadata.items()}


def d2_of(lake: Lake, version: int) -> list[str] | None:
    """The meterpoints of version `version`'s D2, read from its files; None if a file of it is gone."""
    files = lake.delta(TABLE, version).file_uris(file_pruning_predicate=[("date", "=", D2)])
    try:
        return sorted(m for f in files for m in pl.read_parquet(f)["meterpoint_id"])
    except (FileNotFoundError, OSError):
        return None


def ago(now: datetime, **delta) -> datetime:
    return now - timedelta(**delta)


@pytest.mark.parametrize("hours_old", [3, 20])
def test_a_retention_of_a_day_keeps_every_version_of_the_last_day_however_many_hours_old(tmp_path, hours_old):
    """Read as hours, one day would keep an hour: versions 1-3 would lose their files and log."""
    lake, warehouse = versions(tmp_path, catalog_at=4)
    now = datetime.now(UTC)
    age(tmp_path / "lake" / TABLE, {v: ago(now, hours=hours_old, minutes=-10 * v) for v in range(5)})
    young = stray(tmp_path / "lake" / TABLE, f"date={D2}", ago(now, hours=hours_old))
    done = housekeep(lake, warehouse, retention_days=1)
    assert (done["retention_days"], done["files_deleted"]) == (1, 0)
    assert [d2_of(lake, v) for v in range(1, 5)] == [["m1"], ["m2"], ["m3"], ["m4"]]  # every version, files and log
    assert young.exists()  # not older than a day: maybe a commit still on its way
    config = lake.delta(TABLE).metadata().configuration
    assert config["delta.logRetentionDuration"] == config["delta.deletedFileRetentionDuration"] == "interval 1 days"


def test_past_the_retention_only_what_no_retained_or_pinned_version_needs_goes(tmp_path):
    """Two days of retention, versions 1-3 days older than that, version 4 a day old, the catalog
    reading version 1. Needed: 4 (in the window), 3 (current when the window opens: an "as of"
    its first moment reads it) and 1 (the catalog's). Only version 2's D2 file, and a file no
    commit names that is older than the retention, may go."""
    lake, warehouse = versions(tmp_path, catalog_at=1)
    now = datetime.now(UTC)
    when = {0: ago(now, days=10), 1: ago(now, days=9), 2: ago(now, days=8), 3: ago(now, days=5), 4: ago(now, days=1)}
    lake_dir = tmp_path / "lake" / TABLE
    age(lake_dir, when)
    old = stray(lake_dir, f"date={D2}", ago(now, days=3))
    young = stray(lake_dir, f"date={D2}", ago(now, hours=30))
    done = housekeep(lake, warehouse, retention_days=2)
    assert (done["retention_days"], done["files_deleted"]) == (2, 2)  # version 2's file and the old stray
    assert d2_of(lake, 2) is None
    assert [d2_of(lake, v) for v in (1, 3, 4)] == [["m1"], ["m3"], ["m4"]]
    assert not old.exists() and young.exists()


# -- a root that is not the lake's alone: refused by the run, the sensor and housekeeping ----------

TEN_DAYS_AGO = datetime.now(UTC) - timedelta(days=10)
OLD_FILE = b"PAR1 a day of the lake from before Delta"


def aged_lake(ws) -> Lake:
    """The lake of test_past_the_retention_only_what_no_retained_or_pinned_version_needs_goes, in
    the workspace, with an old file no commit names: a two days' retention would delete version 2's
    D2 file and that file."""
    lake, _ = versions(ws.root, catalog_at=1)
    now = datetime.now(UTC)
    when = {0: ago(now, days=10), 1: ago(now, days=9), 2: ago(now, days=8), 3: ago(now, days=5), 4: ago(now, days=1)}
    age(ws.lake / TABLE, when)
    stray(ws.lake / TABLE, f"date={D2}", ago(now, days=3))
    return lake


def put(lake_dir, *paths: str, content: bytes = b"someone's") -> None:
    """Files as old as anything vacuum deletes."""
    for rel in paths:
        path = lake_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (TEN_DAYS_AGO.timestamp(), TEN_DAYS_AGO.timestamp()))


def every_file(lake_dir) -> dict[str, tuple[int, int]]:
    """Every file under the root, hidden ones too: path -> (size, modification time)."""
    found = {}
    for folder, _, names in os.walk(lake_dir):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), lake_dir)] = (stat.st_size, stat.st_mtime_ns)
    return found


def housekeeping_of(ws, retention_days: int = 2) -> dg.ExecuteInProcessResult:
    return lake_housekeeping_job.execute_in_process(
        resources={
            "lake": LakeStorage(root=ws.lake_url, retention_days=retention_days),
            "warehouse": Warehouse(path=ws.warehouse),
        },
        raise_on_error=False,
    )


def unmigrated(ws) -> None:
    for table in ("readings", "readings_files", "source/agreement"):
        key = "snapshot_date" if table.startswith("source/") else "date"
        put(ws.lake, *(f"{table}/{key}={day}/part-0.parquet" for day in (D1, D2)), content=OLD_FILE)


def half_migrated(ws) -> None:
    """A lake from before Delta that a run wrote Delta tables into (before runs refused one), or a
    migration stopped half way: Delta tables, and old files beside them and in tables not yet migrated."""
    aged_lake(ws)
    put(ws.lake, f"readings/date={D1}/part-0.parquet", f"readings/date={D2}/part-0.parquet", content=OLD_FILE)
    put(ws.lake, f"readings_files/date={D1}/part-0.parquet", content=OLD_FILE)


REFUSED = {
    # what is there -> (how it is made, what the sentence says)
    "files at the root": (
        lambda ws: (aged_lake(ws), put(ws.lake, "notes.txt", "photos/cat.jpg")),
        ["holds what the lake did not write (notes.txt, photos/)", "point OCTO_LAKE_DIR at an empty folder"],
    ),
    "a file beside the log": (
        lambda ws: (aged_lake(ws), put(ws.lake, "readings/notes.txt")),
        ["(readings/notes.txt)", "point OCTO_LAKE_DIR at an empty folder"],
    ),
    "a file in a day folder": (
        lambda ws: (aged_lake(ws), put(ws.lake, f"readings/date={D1}/mine.parquet")),
        [f"(readings/date={D1}/mine.parquet)", "point OCTO_LAKE_DIR at an empty folder"],
    ),
    "an old lake's file beside the log": (
        lambda ws: (aged_lake(ws), put(ws.lake, "readings/part-0.parquet", content=OLD_FILE)),
        ["(readings/part-0.parquet)", "point OCTO_LAKE_DIR at an empty folder"],
    ),
    "a lake from before Delta": (
        unmigrated,
        [f"is a lake from before Delta tables (readings/date={D1}/part-0.parquet", "`make migrate`"],
    ),
    "half migrated": (
        half_migrated,
        [f"is half migrated to Delta tables (old files still in place: readings/date={D1}/part-0.parquet", "resumes"],
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_root_that_is_not_the_lakes_alone_is_refused_and_nothing_of_it_deleted(sample_workspace, instance, case):
    """`make run`, a sensor tick and housekeeping each stop with the same sentence before writing or
    deleting anything; housekeeping, on a lake old enough that a vacuum would delete what is not
    the lake's (delta-rs's full vacuum takes every file its log does not name), deletes nothing."""
    ws = sample_workspace
    make, says = REFUSED[case]
    make(ws)
    before = every_file(ws.lake)
    said = LakeStorage(root=ws.lake_url).problem()
    assert said is not None and said.startswith(f"OCTO_LAKE_DIR: {ws.lake_url} "), said
    assert all(part in said for part in says), said

    with pytest.raises(RunError) as refused:
        run_pipeline(instance, ws.resources())
    assert str(refused.value) == said
    tick = landing_sensor.evaluate_tick(
        dg.build_sensor_context(
            instance=instance,
            resources={"landing": LandingFolder(path=ws.readings_url), "lake": LakeStorage(root=ws.lake_url)},
            definitions=defs,
        )
    )
    assert tick.run_requests == [] and tick.skip_message == said
    housekept = housekeeping_of(ws)
    assert not housekept.success and failure_message(housekept) == said
    assert every_file(ws.lake) == before  # the run wrote nothing, housekeeping deleted nothing


def test_someones_file_where_a_run_does_not_look_stops_housekeeping_before_it_deletes_anything(sample_workspace):
    """Before a run only the first and last day folder of a table is looked in (lake_root: a few
    listings, however long the lake); housekeeping lists every file of every table anyway, and
    refuses on one that is not the lake's before it deletes anything, in any table."""
    ws = sample_workspace
    lake = aged_lake(ws)
    lake.publish(TABLE, "date", "2021-01-03", reading(5, "2021-01-03"), "run-5")
    put(ws.lake, f"readings/date={D2}/mine.parquet")
    before = every_file(ws.lake)
    assert LakeStorage(root=ws.lake_url).problem() is None
    housekept = housekeeping_of(ws)
    assert not housekept.success
    assert failure_message(housekept) == (
        f"OCTO_LAKE_DIR: {ws.lake_url} holds what the lake did not write (readings/date={D2}/mine.parquet); "
        "point OCTO_LAKE_DIR at an empty folder or at the lake (or move those out of it)."
    )
    assert every_file(ws.lake) == before


def test_housekeeping_deletes_only_files_the_lake_wrote_even_those_no_listing_shows(tmp_path):
    """A hidden file (a dot name: never listed, so never refused) in a day folder is what delta-rs's
    full vacuum would delete with the files no commit names; housekeeping deletes, of those, only
    the ones named as the lake names its own (the old stray), and what the log says was replaced."""
    ws_lake = tmp_path / "lake"
    lake, warehouse = versions(tmp_path, catalog_at=1)
    now = datetime.now(UTC)
    when = {0: ago(now, days=10), 1: ago(now, days=9), 2: ago(now, days=8), 3: ago(now, days=5), 4: ago(now, days=1)}
    age(ws_lake / TABLE, when)
    ours = stray(ws_lake / TABLE, f"date={D2}", ago(now, days=3))
    theirs = [f"readings/date={D2}/.mine.parquet", f"readings/date={D1}/.DS_Store", "readings/.notes"]
    put(ws_lake, *theirs)
    done = housekeep(lake, warehouse, retention_days=2)
    assert done["files_deleted"] == 2  # version 2's D2 file and the old stray
    assert d2_of(lake, 2) is None and not ours.exists()
    assert all((ws_lake / rel).exists() for rel in theirs)
