"""The weekly housekeeping job (automation.housekeeping) on a lake whose history is days long
(support.aged): OCTO_RETENTION_DAYS reaches the vacuum as days, and nothing widens what it may
remove. A retention of one day keeps every version of the last day, hours old or not; past a
retention of two days only what no retained version, and not the version the catalog reads,
needs goes; a file no commit names goes once older than the retention. (The rule itself, on fresh
versions with any `now`: engine/test_delta_lake.py.)"""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from octo_assets.automation.housekeeping import lake_housekeeping_job
from octo_assets.catalog.views import build_catalog
from octo_assets.lake import Lake
from octo_assets.readings.ingest import LAKE_SCHEMA
from octo_assets.resources import LakeStorage, Warehouse
from octo_assets.storage import Storage
from octo_assets_tests.support.aged import age, stray

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
