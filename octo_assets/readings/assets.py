"""The readings asset: each Europe/London day of the landing area, replaced in the Delta table
`readings` in one commit.

A thin step over readings.ingest: each day is staged and measured there, then audited here
(the blocking checks), and only then published, together with its quarantine, conflicts and
file-by-file accounting. A day that fails its audit, or that no landing file holds, is not
published: the last good version stays what analysts and the analytics read, and the failed one
is kept under `_rejected/` in the lake for inspection.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from octo_assets import charts, descriptions, keys
from octo_assets.checks import finish_days
from octo_assets.keys import READINGS
from octo_assets.lake import CONFLICTS_TABLE, DAY_KEY, FILES_TABLE, QUARANTINE_TABLE, READINGS_TABLE, Lake, Published
from octo_assets.metadata import column_lineage, column_schema, markdown_table, version_metadata
from octo_assets.partitions import backfill_policy, daily_partitions
from octo_assets.readings.checks import READINGS_CHECKS, evaluate
from octo_assets.readings.ingest import LAKE_SCHEMA, DayBuild, LandingFilesGone, Progress, build_days
from octo_assets.readings.workers import WorkerError
from octo_assets.resources import LakeStorage, LandingFolder, ReadingsWorkers
from octo_assets.staging import StagingFull, staging_area

LANDING = dg.AssetSpec(
    keys.LANDING,
    description="Smart-meter JSON files (pandas split layout) landing before 08:00 each day (external).",
    group_name="readings",
    metadata={
        "dagster/column_schema": column_schema(
            {"interval_start": "string", "consumption_delta": "number", "meterpoint_id": "string"},
            descriptions.LANDING,
        )
    },
)
SUPERSEDED = "not replaced: a run that saw newer deliveries already published this day; its partition stands"
COLUMN_DESCRIPTIONS = descriptions.READINGS
# the columns as analysts query them: the Parquet files', and the day the table is partitioned by
# (a Delta partition column, in the path: lake.readings and every Delta reader show it)
TABLE_SCHEMA = {name: LAKE_SCHEMA.get(name, pl.Date) for name in COLUMN_DESCRIPTIONS}
READINGS_LINEAGE = column_lineage(
    {
        "meterpoint_id": [(LANDING.key, "meterpoint_id")],
        "interval_start_utc": [(LANDING.key, "interval_start")],
        "interval_start_local": [(LANDING.key, "interval_start")],
        "reading_date": [(LANDING.key, "interval_start")],
        "consumption_kwh": [(LANDING.key, "consumption_delta")],
        "source_file": [(LANDING.key, "interval_start")],
    }
)


class ReadingsConfig(dg.Config):
    """What an operator may ask of a readings run (run config `ops: {lake__readings: {config: ...}}`)."""

    force: bool = False  # rebuild days even if landing files they were built from are gone
    allow_empty_days: bool = False  # publish a day that no landing file holds, as an empty partition
    prestaged: str | None = None  # internal to `make run`: files it parsed in this process before the run


def publish_day(lake: Lake, build: DayBuild, force: bool, run_id: str) -> Published:
    """Publish a day's four tables, each in one commit; the readings' version is None when a newer
    run already published the day (lake.Lake.publish compares the deliveries each was built from).

    The quarantine, conflicts and accounting go first: a crash in between leaves the old readings
    beside fresher side tables, never readings whose rejects are missing.
    """
    key = build.day.isoformat()
    for table, data in (
        (QUARANTINE_TABLE, build.quarantine),
        (CONFLICTS_TABLE, build.conflicts),
        (FILES_TABLE, build.accounting),
        # a day with no readings (allow_empty_days) has no file: an empty frame has the columns
        (READINGS_TABLE, build.readings or pl.DataFrame(schema=LAKE_SCHEMA)),
    ):
        published = lake.publish(table, DAY_KEY, key, data, run_id, build.watermark_ns, force)
    return published


def reject_day(lake: Lake, build: DayBuild, run_id: str) -> str:
    """Keep a day that failed its audit where an operator can inspect it; returns its folder's URI."""
    folder = lake.rejected_path(READINGS_TABLE, DAY_KEY, build.day.isoformat(), run_id).removesuffix(".parquet")
    for number, part in enumerate(build.readings):
        lake.storage.put_file(f"{folder}/part-{number:04d}.parquet", part.path)
    return lake.uri(folder)


def day_metadata(build: DayBuild, published: Published) -> dict:
    return {
        "dagster/column_schema": column_schema(TABLE_SCHEMA, COLUMN_DESCRIPTIONS),
        "dagster/column_lineage": READINGS_LINEAGE,
        "dagster/row_count": build.loaded,
        "preview": dg.MetadataValue.md(markdown_table(build.preview)),
        "completeness": dg.MetadataValue.md(
            charts.image_markdown(charts.completeness_png(build.half_hours, build.day), f"completeness of {build.day}")
        ),
        "rows_read": build.rows_read,
        "rows_loaded": build.loaded,
        "duplicates": build.duplicates,
        "rows_quarantined": build.quarantined,
        "files_read": build.files,
        "files_rejected": len(build.rejected_files),
        "conflicting_deliveries": build.conflicts.height,
        "meterpoints": build.meterpoints,
        "consumption_kwh": float(build.kwh),
        **version_metadata(published),
    }


@dg.asset(
    key=READINGS,
    deps=[LANDING],
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    group_name="readings",
    check_specs=READINGS_CHECKS,
    output_required=False,  # a run whose day fails is recorded for the good days only
    metadata={"dagster/column_schema": column_schema(TABLE_SCHEMA, COLUMN_DESCRIPTIONS)},
    description="Half-hourly readings of one Europe/London day, de-duplicated (newest delivery wins), "
    "instants in UTC. Rows that cannot be loaded go to readings_quarantine with the reason.",
)
def readings(
    context: dg.AssetExecutionContext,
    config: ReadingsConfig,
    landing: LandingFolder,
    lake: LakeStorage,
    workers: ReadingsWorkers,
):
    store = lake.lake()
    days = [date.fromisoformat(key) for key in context.partition_keys]
    failures, published, checked = [], {}, []
    try:
        with staging_area() as folder:
            builds = build_days(
                landing.storage(),
                store,
                days,
                folder,
                workers.limits(),
                config.force,
                _progress_logger(context),
                Path(config.prestaged) if config.prestaged else None,
                landing.open_days,
            )
            for build in builds:
                evaluations = evaluate(build)
                checked += evaluations
                failure, metadata = _audit_and_publish(context, store, build, config, evaluations)
                if failure:
                    failures.append(failure)
                else:
                    published[build.day.isoformat()] = metadata
    except (LandingFilesGone, WorkerError, StagingFull) as exc:
        raise dg.Failure(description=str(exc)) from None
    yield from finish_days(context, published, failures, checked)


def _audit_and_publish(
    context, store: Lake, build: DayBuild, config: ReadingsConfig, evaluations: list
) -> tuple[str | None, dict]:
    """Publish one day if its audit passed, else keep it aside: (why it was not published, or None;
    its metadata)."""
    key = build.day.isoformat()
    failed = [e.check_name for e in evaluations if e.blocking and not e.passed]
    if build.empty and not config.allow_empty_days:
        return (
            f"{key}: no landing file holds a reading of this day, so nothing was published. If the day "
            "really had no readings, run it again with run config "
            "`ops: {lake__readings: {config: {allow_empty_days: true}}}`."
        ), {}
    if failed:
        where = reject_day(store, build, context.run.run_id)
        why = f"{key}: not published, blocking check(s) failed: {', '.join(failed)}; the failed version is at {where}"
        return why, {}
    published = publish_day(store, build, config.force, context.run.run_id)
    metadata = day_metadata(build, published)
    if not published.replaced:
        context.log.warning(f"{key}: {SUPERSEDED}")
        metadata = {"superseded": SUPERSEDED, "path": metadata["path"]}
    return None, metadata


def _progress_logger(context):
    """Progress in the run log, for the UI and `make run`'s bar: about every twentieth of the files
    read, and of each day's parts assembled."""
    last: dict[str, int] = {}

    def report(progress: Progress) -> None:
        step = progress.done * 20 // max(progress.total, 1)
        key = f"{progress.phase}{progress.day}"
        if step == last.get(key) and progress.done != progress.total:
            return
        last[key] = step
        if progress.phase == "reading":
            context.log.info(f"read {progress.done:,} of {progress.total:,} landing files")
        else:
            context.log.info(f"{progress.day}: assembled part {progress.done} of {progress.total}")

    return report
