"""The weekly lake housekeeping: checkpoints and vacuum of every Delta table (octo_assets.housekeeping)."""

from datetime import timedelta

import dagster as dg
import polars as pl

from octo_assets.analytics.tables import TABLES
from octo_assets.catalog.connect import CatalogNotFound, connect
from octo_assets.domain import LOCAL_TZ
from octo_assets.home import refusal
from octo_assets.housekeeping import LakeRefused, housekeep
from octo_assets.lake import lake_tables
from octo_assets.metadata import markdown_table
from octo_assets.readings import exchange
from octo_assets.resources import LakeStorage, Warehouse

HOUSEKEEPING_CRON = "0 3 * * 0"  # Sunday 03:00 Europe/London: no run of the day is due


def catalog_versions(warehouse: Warehouse) -> dict[str, int]:
    """The table versions the analysts' catalog reads now (lake.versions): never vacuumed."""
    storage, name = warehouse.location()
    try:
        with connect(storage.uri(name)) as catalog:
            return dict(catalog.execute("SELECT table_name, version FROM lake.versions").fetchall())
    except CatalogNotFound:
        return {}


@dg.op(description="Checkpoint each lake table's log and vacuum what no retained version needs.")
def lake_housekeeping(context: dg.OpExecutionContext, lake: LakeStorage, warehouse: Warehouse) -> None:
    store = lake.lake()  # a root that is not the lake's alone fails here (LakeStorage.problem) ...
    try:
        done = housekeep(
            store,
            lake_tables(tuple(t.name for t in TABLES)),
            timedelta(days=lake.retention_days),
            catalog_versions(warehouse),
            root=lake.root,
        )
    except LakeRefused as exc:  # ... or once every table's files are listed: nothing was deleted
        raise dg.Failure(description=str(exc)) from None
    # what failed readings runs' steps left for a re-execution from the failure, once too old for one
    swept = exchange.sweep(store.storage, exchange.KEPT.total_seconds())
    summary = pl.DataFrame(
        {
            "table": [d.table for d in done],
            "version": [d.version for d in done],
            "versions kept": [len(d.kept_versions) for d in done],
            "files deleted": [d.deleted_files for d in done],
        }
    )
    context.add_output_metadata(
        {
            "retention_days": lake.retention_days,
            "files_deleted": int(summary["files deleted"].sum() or 0),
            "exchanges_removed": len(swept),  # _staging/<run id>/ of runs that failed over a week ago
            "tables": dg.MetadataValue.md(markdown_table(summary, rows=len(done))),
        }
    )


@dg.job(description="Lake housekeeping: log checkpoints and vacuum past OCTO_RETENTION_DAYS.")
def lake_housekeeping_job():
    lake_housekeeping()


@dg.schedule(
    name="lake_housekeeping_schedule",
    cron_schedule=HOUSEKEEPING_CRON,
    execution_timezone=LOCAL_TZ,
    job=lake_housekeeping_job,
    # on: nothing a reader may need is deleted (the retention, the catalog's versions, the latest)
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sunday 03:00 Europe/London: checkpoint every lake table's log, and vacuum files no version "
    "within OCTO_RETENTION_DAYS (nor the catalog) needs.",
)
def lake_housekeeping_schedule(
    context: dg.ScheduleEvaluationContext, lake: LakeStorage
) -> dg.RunRequest | dg.SkipReason:
    refused = refusal(context.instance, lake)  # the instance serves another lake (octo_assets.home)
    if refused:
        return dg.SkipReason(refused)
    return dg.RunRequest()
