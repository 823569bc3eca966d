"""`make migrate` (`python -m octo_assets.migrate`): turn a hive-partitioned Parquet lake, as
octo-assets wrote it before Delta, into the Delta tables, in place.

Each day's old file `<table>/<key>=<day>/part-0.parquet` is published into the table's Delta log
by the same write as a run's (one commit per day, with the deliveries it was built from, so a
run with older deliveries still never replaces it). Once a table's days are all committed and
their rows counted equal, the old files are moved to `_migrated/<table>/...`: nothing is deleted,
and a migration stopped half way resumes where it stopped.

It says what it found at OCTO_LAKE_DIR first (lake_root, every table listed whole), and migrates
only a lake from before Delta or one half migrated; where it migrates nothing (no lake there, Delta
tables already and no old file, something the lake did not write) it says why in one sentence on
stderr and exits 1, so a mistyped OCTO_LAKE_DIR is never a success.
"""

import argparse
import sys
from dataclasses import dataclass

import pyarrow.parquet as pq

from octo_assets import settings
from octo_assets.lake import CONTENT_SHA256, Lake
from octo_assets.lake_root import MIGRATED, OLD_FILE, TABLE_KEYS, Kind, inspect_listing
from octo_assets.storage import Storage, StorageError, is_remote

OLD_WATERMARK = "octo.deliveries_seen_ns"  # what the old files' footers said of their deliveries
RUN_ID = "migration"

# every table of the old lake and the key its folders were partitioned by: the lake's tables
HIVE_TABLES = list(TABLE_KEYS.items())


@dataclass(frozen=True)
class Migrated:
    table: str
    days: int
    rows: int
    superseded: int = 0  # old days the Delta table holds built from newer deliveries: moved, not committed


class MigrationError(Exception):
    """A day's rows in Delta differ from its old file; the old files were left where they were."""


def old_days(lake: Lake, table: str, key: str, paths: list[str] | None = None) -> dict[str, str]:
    """{day: its old file's path} of one table (`paths`: the table's files, if listed already)."""
    if paths is None:
        paths = [e.path for e in lake.storage.list_files(table, suffix=OLD_FILE)]
    found = {}
    for path in paths:
        folder, _, name = path[len(table) + 1 :].partition("/")
        if name == OLD_FILE and folder.startswith(f"{key}="):
            found[folder[len(key) + 1 :]] = path
    return dict(sorted(found.items()))  # in day order: a stop half way leaves the last days' old files


def migrate_table(lake: Lake, table: str, key: str, paths: list[str] | None = None) -> Migrated:
    days = old_days(lake, table, key, paths)
    rows = superseded = 0
    for day, rel in days.items():
        with lake.storage.open(rel) as file:
            footer = {k.decode(): v.decode() for k, v in (pq.read_metadata(file).metadata or {}).items()}
        frame = lake.read(rel)
        watermark = int(footer[OLD_WATERMARK]) if OLD_WATERMARK in footer else None
        metadata = {CONTENT_SHA256: footer[CONTENT_SHA256]} if CONTENT_SHA256 in footer else None
        if not lake.publish(table, key, day, frame, RUN_ID, watermark, metadata=metadata).replaced:
            superseded += 1  # a run built the day from newer deliveries (lake.Lake.publish): it stands
            continue
        published = lake.read_day(table, key, day)
        if published is None or published.height != frame.height:
            found = 0 if published is None else published.height
            raise MigrationError(f"{lake.uri(rel)}: {frame.height} rows, but the Delta table holds {found} for {day}")
        rows += frame.height
    for rel in days.values():
        lake.storage.move(rel, f"{MIGRATED}/{rel}")
    return Migrated(table, len(days) - superseded, rows, superseded)


def migrate(lake: Lake, listings: dict[str, list[str]] | None = None) -> list[Migrated]:
    """Every table's old days into Delta (`listings`: {table: its files}, if listed already)."""
    return [migrate_table(lake, table, key, (listings or {}).get(table)) for table, key in HIVE_TABLES]


class NothingToMigrate(Exception):
    """What is at OCTO_LAKE_DIR is not a lake to migrate: one sentence saying what it is."""


def lake_to_migrate(root: str) -> tuple[Lake, Kind, dict[str, list[str]]]:
    """The lake at `root` if it is one from before Delta or half migrated, its kind, and each
    table's files; otherwise NothingToMigrate."""
    fix = f"point {settings.LAKE_DIR} at the lake from before Delta"
    try:
        storage = Storage(root)
        why = storage.reachable_problem()
    except StorageError as exc:
        why = str(exc)
    if why:
        if is_remote(root) or storage.fs.exists(storage.uri()):
            raise NothingToMigrate(f"{settings.LAKE_DIR}: {root} {why}: nothing migrated; {fix}.")
        raise NothingToMigrate(f"{settings.LAKE_DIR}: {root} does not exist, so there is no lake to migrate; {fix}.")
    lake = Lake(storage)
    # a one-off command: every table listed whole (a run looks at less: lake_root's docstring)
    listings = {table: [e.path for e in storage.list_files(table)] for table, _ in HIVE_TABLES}
    found = inspect_listing(storage, listings)
    if found.kind is Kind.EMPTY:
        raise NothingToMigrate(f"{settings.LAKE_DIR}: {root} is empty, so there is no lake to migrate; {fix}.")
    if found.kind is Kind.FOREIGN:
        refused = found.problem(root)
        raise NothingToMigrate(f"{refused.removesuffix('.')}. Nothing migrated.")
    if found.kind is Kind.LAKE:
        tables = ", ".join(found.delta_tables) or "none yet"
        raise NothingToMigrate(
            f"{settings.LAKE_DIR}: {root} holds Delta tables already ({tables}) and no file from before them: "
            "nothing to migrate (a migration moves the old files to "
            f"{MIGRATED}/, so a second one finds none); `make run` builds the lake."
        )
    return lake, found.kind, listings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make migrate",
        description=f"Convert the lake at {settings.LAKE_DIR} (now {settings.location(settings.LAKE_DIR)}), "
        "a hive-partitioned Parquet lake as octo-assets wrote it before Delta tables "
        "(<table>/<key>=<day>/part-0.parquet), into its Delta tables, in place: each day committed with the "
        f"deliveries it was built from, its rows counted equal, then the old files moved to {MIGRATED}/ "
        "(nothing is deleted). A migration stopped half way resumes where it stopped.",
        epilog="Exits 0 when it migrated, 1 with one sentence when it migrated nothing: no lake at "
        f"{settings.LAKE_DIR}, Delta tables already and no old file, or files the lake did not write.",
    )
    parser.parse_args(argv)
    root = settings.location(settings.LAKE_DIR)
    try:
        lake, kind, listings = lake_to_migrate(root)
    except NothingToMigrate as exc:
        print(exc, file=sys.stderr)
        return 1
    resuming = " (resuming: it was half migrated)" if kind is Kind.HALF_MIGRATED else ""
    print(f"Migrating the Parquet lake {lake.root} to Delta tables{resuming}")
    try:
        done = migrate(lake, listings)
    except MigrationError as exc:
        print(f"{exc}: the migration stopped; nothing more was moved (`make migrate` resumes).", file=sys.stderr)
        return 1
    for table in done:
        kept = f" ({table.superseded} built since from newer deliveries: kept)" if table.superseded else ""
        print(f"  {table.table:<36} {table.days:>5} day(s) {table.rows:>12,} rows{kept}")
    days, superseded = sum(t.days for t in done), sum(t.superseded for t in done)
    print(
        f"Migrated {days} day(s) of {sum(1 for t in done if t.days)} table(s)"
        + (f", {superseded} old day(s) already rebuilt from newer deliveries" if superseded else "")
        + f"; the old files are under {lake.uri(MIGRATED)}; `make run` rebuilds the catalog over the Delta tables."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
