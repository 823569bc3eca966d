"""`make migrate` (`python -m octo_assets.migrate`): turn a hive-partitioned Parquet lake, as
octo-assets wrote it before Delta, into the Delta tables, in place.

Each day's old file `<table>/<key>=<day>/part-0.parquet` is published into the table's Delta log
by the same write as a run's (one commit per day, with the deliveries it was built from, so a
run with older deliveries still never replaces it). Once a table's days are all committed and
their rows counted equal, the old files are moved to `_migrated/<table>/...`: nothing is deleted,
and a migration stopped half way resumes where it stopped.
"""

import sys
from dataclasses import dataclass

import pyarrow.parquet as pq

from octo_assets import settings
from octo_assets.analytics.tables import TABLES
from octo_assets.lake import (
    CONFLICTS_TABLE,
    CONTENT_SHA256,
    DAY_KEY,
    FILES_TABLE,
    QUARANTINE_TABLE,
    READINGS_TABLE,
    SNAPSHOT_KEY,
    SOURCE_TABLES,
    Lake,
    analytics_table,
    source_table,
)

OLD_FILE = "part-0.parquet"
OLD_WATERMARK = "octo.deliveries_seen_ns"  # what the old files' footers said of their deliveries
MIGRATED = "_migrated"
RUN_ID = "migration"

# every table of the old lake and the key its folders were partitioned by
HIVE_TABLES = [
    *((t, DAY_KEY) for t in (READINGS_TABLE, QUARANTINE_TABLE, CONFLICTS_TABLE, FILES_TABLE)),
    *((source_table(t), SNAPSHOT_KEY) for t in SOURCE_TABLES),
    *((analytics_table(t.name), t.partition_key) for t in TABLES),
]


@dataclass(frozen=True)
class Migrated:
    table: str
    days: int
    rows: int


class MigrationError(Exception):
    """A day's rows in Delta differ from its old file; the old files were left where they were."""


def old_days(lake: Lake, table: str, key: str) -> dict[str, str]:
    """{day: its old file's path} of one table."""
    found = {}
    for entry in lake.storage.list_files(table, suffix=OLD_FILE):
        folder, _, name = entry.path[len(table) + 1 :].partition("/")
        if name == OLD_FILE and folder.startswith(f"{key}="):
            found[folder[len(key) + 1 :]] = entry.path
    return found


def migrate_table(lake: Lake, table: str, key: str) -> Migrated:
    days = old_days(lake, table, key)
    rows = 0
    for day, rel in sorted(days.items()):
        with lake.storage.open(rel) as file:
            footer = {k.decode(): v.decode() for k, v in (pq.read_metadata(file).metadata or {}).items()}
        frame = lake.read(rel)
        watermark = int(footer[OLD_WATERMARK]) if OLD_WATERMARK in footer else None
        metadata = {CONTENT_SHA256: footer[CONTENT_SHA256]} if CONTENT_SHA256 in footer else None
        lake.publish(table, key, day, frame, RUN_ID, watermark, metadata=metadata)
        published = lake.read_day(table, key, day)
        if published is None or published.height != frame.height:
            found = 0 if published is None else published.height
            raise MigrationError(f"{lake.uri(rel)}: {frame.height} rows, but the Delta table holds {found} for {day}")
        rows += frame.height
    for rel in days.values():
        lake.storage.move(rel, f"{MIGRATED}/{rel}")
    return Migrated(table, len(days), rows)


def migrate(lake: Lake) -> list[Migrated]:
    return [migrate_table(lake, table, key) for table, key in HIVE_TABLES]


def main() -> int:
    lake = Lake(settings.location(settings.LAKE_DIR))
    print(f"Migrating the Parquet lake {lake.root} to Delta tables")
    for done in migrate(lake):
        print(f"  {done.table:<36} {done.days:>5} day(s) {done.rows:>12,} rows")
    print(f"The old files are under {lake.uri(MIGRATED)}; `make run` rebuilds the catalog over the Delta tables.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
