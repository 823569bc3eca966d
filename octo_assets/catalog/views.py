"""Build the DuckDB catalog: schemas `lake` and `analytics`, views over one version of every table.

Each view reads the Parquet files of the Delta table version the catalog pinned when it was
built (absolute paths, or s3:// URLs): every view of one catalog reads the versions that were
latest together, so an analyst never joins one run's readings to another run's analytics, and a
run publishing meanwhile changes nothing they see (the files of a replaced version stay until
housekeeping vacuums them past the retention). `lake.versions` says which version each view reads.
The same views, pinned at an earlier moment, are what `connect(as_of=...)` opens. A table that
had no commit yet at that moment (a moment within the first run, or before a later release added
the table) is what the lake held of it then: its columns, no rows; `lake.versions` shows it with
no version.

The catalog file is written whole and then published in one step: an analyst holding the old
file open read-only keeps reading it, and the pipeline never waits on DuckDB's single-writer lock.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb

from octo_assets import descriptions
from octo_assets.lake import (
    CONFLICTS_TABLE,
    DAY_KEY,
    FILES_TABLE,
    QUARANTINE_TABLE,
    READINGS_TABLE,
    SNAPSHOT_KEY,
    Lake,
    TableVersion,
    analytics_table,
    source_table,
)
from octo_assets.relations import sql_list, sql_literal
from octo_assets.storage import Storage


@dataclass(frozen=True)
class View:
    name: str  # schema.view
    table: str  # lake table folder
    select: str  # columns, over the relation `t` (hive partition keys included)
    latest_snapshot: bool = False
    description: str = ""


VIEWS = [
    View(
        "lake.readings",
        READINGS_TABLE,
        "meterpoint_id, interval_start_utc, interval_start_local, "
        f"{DAY_KEY} AS reading_date, consumption_kwh, source_file",
        description="Half-hourly readings, one row per (meterpoint_id, interval_start_utc).",
    ),
    View(
        "lake.readings_quarantine",
        QUARANTINE_TABLE,
        f"{DAY_KEY} AS reading_date, source_file, row_number, reason, raw",
        description="Landing rows and files that could not be loaded, with the reason.",
    ),
    View(
        "lake.readings_conflicts",
        CONFLICTS_TABLE,
        f"{DAY_KEY} AS reading_date, meterpoint_id, interval_start_utc, deliveries, values, sources, kept_kwh",
        description="Readings delivered more than once with different values; the newest delivery was kept.",
    ),
    View(
        "lake.readings_files",
        FILES_TABLE,
        f"{DAY_KEY} AS reading_date, source_file, sha, rows_loaded, duplicates, rows_quarantined",
        description="Each day's rows, file by file: loaded, duplicates, quarantined (every row of a file, "
        "once, across its days).",
    ),
    *(
        View(
            f"lake.{table}",
            source_table(table),
            f"* EXCLUDE ({SNAPSHOT_KEY}), {SNAPSHOT_KEY}",
            latest_snapshot=True,
            description=f"The source {table} table, latest daily snapshot.",
        )
        for table in ("agreement", "product", "meterpoint")
    ),
    *(
        View(
            f"lake.{table}_history",
            source_table(table),
            "*",
            description=f"Every daily snapshot of the {table} table.",
        )
        for table in ("agreement", "product", "meterpoint")
    ),
    View(
        "analytics.active_agreements",
        analytics_table("active_agreements"),
        "as_of_date, agreement_id, meterpoint_id, product_display_name, product_is_variable, "
        "product_id, account_id, agreement_valid_from, agreement_valid_to",
        description="Agreements active on as_of_date (valid_from < date < valid_to, or open), with their product.",
    ),
    View(
        "analytics.half_hourly_consumption",
        analytics_table("half_hourly_consumption"),
        "interval_start_utc, interval_start_local, meterpoint_count, consumption_kwh, reading_date, reading_count",
        description="Per half hour: meterpoints with a reading and their total kWh.",
    ),
    View(
        "analytics.daily_product_consumption",
        analytics_table("daily_product_consumption"),
        "reading_date, product_display_name, meterpoint_count, consumption_kwh, reading_count",
        description="Per product display name and day: meterpoints and kWh; NULL product = no agreement.",
    ),
]


def view_sql(view: View, pinned: TableVersion) -> str:
    """The CREATE VIEW statement over the files of one table version."""
    if pinned.files:
        source = f"read_parquet({sql_list(pinned.files)}, hive_partitioning = true)"
    else:  # a table whose every day is empty holds no file: its columns, no rows
        source = f"({empty_relation(pinned.schema)})"
    where = ""
    if view.latest_snapshot:
        where = f" WHERE {SNAPSHOT_KEY} = (SELECT max({SNAPSHOT_KEY}) FROM {source})"
    return f"CREATE OR REPLACE VIEW {view.name} AS SELECT {view.select} FROM {source} AS t{where}"


def empty_relation(schema) -> str:
    """SELECT of no rows with a table's columns in DuckDB's types."""
    types = duckdb.connect().from_arrow(schema.empty_table()).dtypes
    columns = ", ".join(f'NULL::{kind} AS "{field.name}"' for field, kind in zip(schema, types))
    return f"SELECT {columns} LIMIT 0"


def pin_tables(lake: Lake, at: datetime | None = None) -> dict[str, TableVersion]:
    """Every table's latest version (or its version at the moment `at`) that exists."""
    tables = dict.fromkeys(view.table for view in VIEWS)
    return {table: pinned for table in tables if (pinned := lake.pin(table, at)) is not None}


def not_yet_committed(lake: Lake, pinned: dict[str, TableVersion]) -> dict[str, TableVersion]:
    """The tables that exist now but are not in `pinned` (they had no commit at its moment): each
    as an empty version with its latest columns."""
    tables = dict.fromkeys(view.table for view in VIEWS)
    later = {table: lake.pin(table) for table in tables if table not in pinned}
    return {table: replace(latest, files=[]) for table, latest in later.items() if latest is not None}


def create_views(connection: duckdb.DuckDBPyConnection, lake: Lake, at: datetime | None = None) -> list[str]:
    """Create the schemas and every view over one version of each table; returns the views made.
    With `at`, none if the lake held no table then; a table not committed yet at `at` gets its
    view all the same, with its columns and no rows.

    `lake.versions` lists what each table view reads: the table, its version and commit time
    (none for a table not committed yet).
    """
    pinned = pin_tables(lake, at)
    if at is not None and not pinned:
        return []
    empty = not_yet_committed(lake, pinned) if at is not None else {}
    lake.storage.register(connection)  # creating a view reads its files' schema
    connection.execute("CREATE SCHEMA IF NOT EXISTS lake; CREATE SCHEMA IF NOT EXISTS analytics;")
    created = []
    for view in VIEWS:
        version = pinned.get(view.table) or empty.get(view.table)
        if version is None:
            continue
        connection.execute(view_sql(view, version))
        if view.description:
            connection.execute(f"COMMENT ON VIEW {view.name} IS {sql_literal(view.description)}")
        comment_columns(connection, view.name)
        created.append(view.name)
    rows = [
        f"({sql_literal(p.table)}, {sql_literal(lake.table_uri(p.table))}, {p.version}, "
        f"{sql_literal(p.committed_at.isoformat())}::TIMESTAMPTZ)"
        for p in pinned.values()
    ]
    rows += [
        f"({sql_literal(table)}, {sql_literal(lake.table_uri(table))}, NULL::INTEGER, NULL::TIMESTAMPTZ)"
        for table in empty
    ]
    if rows:
        connection.execute(
            "CREATE OR REPLACE VIEW lake.versions AS SELECT * FROM (VALUES "
            + ", ".join(rows)
            + ") AS v(table_name, table_uri, version, committed_at)"
        )
        connection.execute(f"COMMENT ON VIEW lake.versions IS {sql_literal(VERSIONS_DESCRIPTION)}")
        comment_columns(connection, "lake.versions")
        created.append("lake.versions")
    return created


VERSIONS_DESCRIPTION = "The Delta table version each view reads: one consistent set, pinned when the catalog was built."


def build_catalog(lake: Lake, storage: Storage, name: str) -> list[str]:
    """Write the catalog file `name` into `storage` in one step; returns the views it holds.

    The file is built whole first and then published (a rename on disk, one PUT on S3), so an
    analyst's open catalog is never changed under them.
    """
    if storage.is_local:
        # a read-write session killed on the old catalog leaves its write-ahead log beside it;
        # beside the new file it would make every reader fail ("WAL does not match")
        Path(storage.uri(f"{name}.wal")).unlink(missing_ok=True)
    with storage.publish(name) as path:
        with duckdb.connect(str(path)) as connection:
            created = create_views(connection, lake)
            connection.execute("CHECKPOINT")
        Path(f"{path}.wal").unlink(missing_ok=True)
    return created


def comment_columns(connection: duckdb.DuckDBPyConnection, view: str) -> None:
    """Each column's sentence from octo_assets.descriptions, which duckdb_columns() shows."""
    schema, name = view.split(".")
    columns = connection.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, name]
    ).fetchall()
    for (column,) in columns:
        # an undescribed column stays uncommented rather than failing the catalog; a test requires none
        text = descriptions.VIEWS.get(view, {}).get(column)
        if text:
            connection.execute(f'COMMENT ON COLUMN {view}."{column}" IS {sql_literal(text)}')
