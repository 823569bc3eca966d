"""The readings asset: each Europe/London day of the landing folder as one Parquet partition."""

import time
from datetime import date

import dagster as dg
import polars as pl

from octo_assets import descriptions
from octo_assets.lake import Lake
from octo_assets.metadata import column_lineage, column_schema, location, table_metadata
from octo_assets.partitions import daily_partitions
from octo_assets.readings.ingest import LAKE_SCHEMA, DayReadings, staged_days
from octo_assets.readings.landing import files_for_days, scan_landing
from octo_assets.resources import LakeStorage, LandingFolder
from octo_assets.storage import Storage

LANDING = dg.AssetSpec(
    ["landing", "readings_files"],
    description="Smart-meter JSON files (pandas split layout) landing before 08:00 each day (external).",
    group_name="readings",
    metadata={
        "dagster/column_schema": column_schema(
            {"interval_start": "string", "consumption_delta": "number", "meterpoint_id": "string"},
            descriptions.LANDING,
        )
    },
)
READINGS_TABLE = "readings"
QUARANTINE_TABLE = "readings_quarantine"
CONFLICTS_TABLE = "readings_conflicts"
PARTITION_KEY = "date"
INDEX_FILE = "_state/landing_index.parquet"


def refresh_landing_index(landing: Storage, lake: Lake, read_new: bool = True) -> tuple[pl.DataFrame, int]:
    """The landing area's files and days (see landing.scan_landing), saved in the lake."""
    previous = lake.read(INDEX_FILE) if lake.storage.exists(INDEX_FILE) else None
    index, bytes_scanned = scan_landing(landing, previous, read_new)
    lake.write(index, INDEX_FILE)
    return index, bytes_scanned


def write_day(lake: Lake, day: DayReadings, listed_at_ns: int) -> tuple[str, bool]:
    """Publish a day's readings, quarantine and conflicts; (readings URI, published?).

    A table's partition is not replaced when a newer run already published it from a later
    listing of the landing area (Lake.write_unless_newer).
    """
    key = day.day.isoformat()
    # quarantine first: a crash in between leaves the old readings with a fresher quarantine,
    # never readings whose rejects are missing
    for table, frame in ((QUARANTINE_TABLE, day.quarantine), (CONFLICTS_TABLE, day.conflicts)):
        lake.write_unless_newer(frame, lake.partition_path(table, PARTITION_KEY, key), listed_at_ns)
    rel = lake.partition_path(READINGS_TABLE, PARTITION_KEY, key)
    return lake.uri(rel), lake.write_unless_newer(day.readings, rel, listed_at_ns)


SUPERSEDED = (
    "not replaced: a run that listed the landing area later already published this day "
    "from newer deliveries; its partition stands"
)
COLUMN_DESCRIPTIONS = descriptions.READINGS
READINGS_LINEAGE = column_lineage(
    {
        "meterpoint_id": [(LANDING.key, "meterpoint_id")],
        "interval_start_utc": [(LANDING.key, "interval_start")],
        "interval_start_local": [(LANDING.key, "interval_start")],
        "consumption_kwh": [(LANDING.key, "consumption_delta")],
    }
)


def day_metadata(day: DayReadings, uri: str) -> dict:
    return {
        **table_metadata(day.readings, READINGS_LINEAGE, COLUMN_DESCRIPTIONS),
        "rows_read": day.rows_read,
        "rows_loaded": day.loaded,
        "duplicates": day.duplicates,
        "rows_quarantined": day.quarantined_rows,
        "files_read": day.files,
        "files_rejected": len(day.rejected_files),
        "conflicting_deliveries": day.conflicts.height,
        "meterpoints": day.readings["meterpoint_id"].n_unique(),
        "consumption_kwh": float(day.readings["consumption_kwh"].sum()),
        "path": location(uri),
    }


@dg.asset(
    key=["lake", "readings"],
    deps=[LANDING],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="readings",
    metadata={"dagster/column_schema": column_schema(LAKE_SCHEMA, COLUMN_DESCRIPTIONS)},
    description="Half-hourly readings of one Europe/London day, de-duplicated (newest delivery wins), "
    "instants in UTC. Rows that cannot be loaded go to readings_quarantine with the reason.",
)
def readings(context: dg.AssetExecutionContext, landing: LandingFolder, lake: LakeStorage) -> dg.MaterializeResult:
    store = lake.lake()
    landed = landing.storage()
    days = [date.fromisoformat(key) for key in context.partition_keys]
    listed_at_ns = time.time_ns()
    # new files are not scanned for their days: parsing them below tells, and reads them once
    index, _ = refresh_landing_index(landed, store, read_new=False)
    context.log.info(
        f"{index.height} landing files, {index['days'].is_null().sum()} new; "
        f"{files_for_days(index, set(days)).height} may hold the {len(days)} day(s) of this run"
    )
    with staged_days(landed, index, days) as staged:
        for day in days:
            assembled = staged.assemble(day)
            uri, published = write_day(store, assembled, listed_at_ns)
            metadata = day_metadata(assembled, uri)
            if not published:
                context.log.warning(f"{day}: {SUPERSEDED}")
                metadata = {"superseded": SUPERSEDED, "path": metadata["path"]}
            context.add_asset_metadata(metadata, partition_key=day.isoformat())
        store.write(index.update(staged.discovered, on="path"), INDEX_FILE)
    return dg.MaterializeResult()
