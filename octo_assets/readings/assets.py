"""The readings asset: each Europe/London day of the landing folder as one Parquet partition."""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from octo_assets import descriptions
from octo_assets.lake import Lake, write_parquet_atomic
from octo_assets.metadata import column_lineage, column_schema, table_metadata
from octo_assets.partitions import daily_partitions
from octo_assets.readings.ingest import LAKE_SCHEMA, DayReadings, staged_days
from octo_assets.readings.landing import files_for_days, scan_landing
from octo_assets.resources import LakeStorage, LandingFolder

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


def refresh_landing_index(root: Path, lake: Lake, read_new: bool = True) -> tuple[pl.DataFrame, int]:
    """The landing folder's files and days (see landing.scan_landing), saved in the lake."""
    index_path = lake.root / INDEX_FILE
    previous = pl.read_parquet(index_path) if index_path.is_file() else None
    index, bytes_scanned = scan_landing(root, previous, read_new)
    write_parquet_atomic(index, index_path)
    return index, bytes_scanned


def write_day(lake: Lake, day: DayReadings) -> Path:
    key = day.day.isoformat()
    path = lake.partition_file(READINGS_TABLE, PARTITION_KEY, key)
    # quarantine first: a crash in between leaves the old readings with a fresher quarantine,
    # never readings whose rejects are missing
    lake.write(day.quarantine, lake.partition_file(QUARANTINE_TABLE, PARTITION_KEY, key))
    lake.write(day.conflicts, lake.partition_file(CONFLICTS_TABLE, PARTITION_KEY, key))
    lake.write(day.readings, path)
    return path


COLUMN_DESCRIPTIONS = descriptions.READINGS
READINGS_LINEAGE = column_lineage(
    {
        "meterpoint_id": [(LANDING.key, "meterpoint_id")],
        "interval_start_utc": [(LANDING.key, "interval_start")],
        "interval_start_local": [(LANDING.key, "interval_start")],
        "consumption_kwh": [(LANDING.key, "consumption_delta")],
    }
)


def day_metadata(day: DayReadings, path: Path) -> dict:
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
        "path": dg.MetadataValue.path(str(path)),
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
    root = landing.root()
    days = [date.fromisoformat(key) for key in context.partition_keys]
    # new files are not scanned for their days: parsing them below tells, and reads them once
    index, _ = refresh_landing_index(root, store, read_new=False)
    context.log.info(
        f"{index.height} landing files, {index['days'].is_null().sum()} new; "
        f"{files_for_days(index, set(days)).height} may hold the {len(days)} day(s) of this run"
    )
    with staged_days(root, index, days) as staged:
        for day in days:
            assembled = staged.assemble(day)
            path = write_day(store, assembled)
            context.add_asset_metadata(day_metadata(assembled, path), partition_key=day.isoformat())
        write_parquet_atomic(index.update(staged.discovered, on="path"), store.root / INDEX_FILE)
    return dg.MaterializeResult()
