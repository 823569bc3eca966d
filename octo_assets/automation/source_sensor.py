"""The source sensor: a new or changed SQLite file -> a snapshot run.

A change is a new size or modification time of the database file or of its write-ahead log
(a database in WAL mode can take writes without touching the main file until a checkpoint).
"""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from octo_assets.automation.jobs import SNAPSHOT_JOB, snapshot_run_config
from octo_assets.domain import LOCAL_TZ
from octo_assets.home import refusal
from octo_assets.keys import AGREEMENT
from octo_assets.resources import LakeStorage, SourceDatabase
from octo_assets.source.assets import SOURCE_DB

SNAPSHOT = AGREEMENT  # every snapshot run materialises it: its latest event is the latest snapshot


def database_files(path: Path) -> list[Path]:
    return [p for p in (path, path.with_name(f"{path.name}-wal")) if p.is_file()]


def fingerprint(files: list[Path]) -> str:
    return "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


def changed_since_last_snapshot(instance: dg.DagsterInstance, files: list[Path]) -> bool:
    """Without a cursor: the database is newer than the latest snapshot, or none was taken."""
    latest = instance.get_latest_materialization_event(SNAPSHOT)
    return latest is None or max(p.stat().st_mtime_ns for p in files) > latest.timestamp * 1e9


def source_event(files: list[Path]) -> dg.AssetMaterialization:
    """The external database changed: recorded so its freshness shows in the UI."""
    stat = files[0].stat()
    return dg.AssetMaterialization(
        asset_key=SOURCE_DB.key,
        metadata={
            "path": dg.MetadataValue.path(str(files[0])),
            "size_bytes": stat.st_size,
            "modified": dg.MetadataValue.timestamp(stat.st_mtime),
        },
    )


@dg.sensor(
    name="source_db_sensor",
    job=SNAPSHOT_JOB,
    minimum_interval_seconds=30,
    # on: the midnight update (and any correction) is snapshotted within a minute, and a new
    # deployment's first snapshot, which the landing sensor waits for, is taken at once
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The source SQLite database changed: snapshot it (today's snapshot, Europe/London).",
)
def source_db_sensor(
    context: dg.SensorEvaluationContext, source_db: SourceDatabase, lake: LakeStorage
) -> dg.SensorResult | dg.SkipReason:
    refused = refusal(context.instance, lake)  # the instance serves another lake (octo_assets.home)
    if refused:
        return dg.SkipReason(refused)
    path = Path(source_db.path).expanduser().resolve()
    files = database_files(path)
    if path not in files:
        return dg.SkipReason(f"source database {path} does not exist (OCTO_SOURCE_DB)")
    current = fingerprint(files)
    changed = current != context.cursor if context.cursor else changed_since_last_snapshot(context.instance, files)
    if not changed:
        return dg.SensorResult(skip_reason=f"{path.name} unchanged", cursor=current)
    snapshot_date = datetime.now(ZoneInfo(LOCAL_TZ)).date().isoformat()
    request = dg.RunRequest(run_key=f"{snapshot_date}:{current}", run_config=snapshot_run_config(snapshot_date))
    return dg.SensorResult(run_requests=[request], cursor=current, asset_events=[source_event(files)])
