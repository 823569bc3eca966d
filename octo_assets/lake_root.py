"""What is at the lake root (OCTO_LAKE_DIR), and whether the lake may write and delete there.

The lake root holds the lake and nothing else: a root holding anything else is refused with one
sentence, before a run, a sensor tick or housekeeping writes or deletes anything. What the lake
writes, and so all a root of ours may hold (names starting with a dot are temporary and lock
files, never listed, see storage.Storage.list_files):

    <table>/_delta_log/...                                   each table's Delta log (delta-rs)
    <table>/<key>=<day>/part-<uuid>.zstd.parquet             a day's file committed as written (Lake.place)
    <table>/<key>=<day>/part-00000-<uuid>-c000.zstd.parquet  a file delta-rs wrote (write_deltalake)
    _state/, _rejected/, _migrated/                          the landing state, the audits' rejects, and
                                                             the old files `make migrate` moved
    _staging/<run id>/                                       what a readings run's steps pass each other
                                                             (readings.exchange)

with <table> one of lake.lake_tables (readings..., source/<table>, analytics/<table>). A lake from
before Delta held `<table>/<key>=<day>/part-0.parquet` files and no `_delta_log`.

What `inspect` lists is bounded by the number of tables, never by the days or versions they hold
(a year of a lake is tens of thousands of files): the root's top level, the top level of each table
(its `_delta_log` and day folders: one delimited LIST on S3, one folder read on disk) and, of a
Delta table, its first and last day folder, where a migration stopped half way leaves old files
(it publishes and then moves the days in order). A table with no `_delta_log` (a lake from before
Delta, or a first commit that never came) is listed whole. So a foreign file in a Delta table's
day folder other than its first and last is not seen here: housekeeping, which lists every file
of every table anyway, refuses on it (`inspect_listing`), and deletes only files named as the
lake names its own (`written_by_lake`) in any case.
"""

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from octo_assets.analytics.tables import TABLES
from octo_assets.lake import (
    CONFLICTS_TABLE,
    DAY_KEY,
    DELTA_LOG,
    FILES_TABLE,
    QUARANTINE_TABLE,
    READINGS_TABLE,
    REJECTED,
    SNAPSHOT_KEY,
    SOURCE_TABLES,
    analytics_table,
    source_table,
)
from octo_assets.readings.exchange import EXCHANGE
from octo_assets.readings.landing import STATE
from octo_assets.settings import LAKE_DIR
from octo_assets.storage import Storage

OLD_FILE = "part-0.parquet"  # a day's one file in the lake from before Delta
MIGRATED = "_migrated"  # where `make migrate` moves the old files (octo_assets.migrate)

# every table of the lake, and the key its day folders are named by (<key>=<day>)
TABLE_KEYS: dict[str, str] = {
    **{t: DAY_KEY for t in (READINGS_TABLE, QUARANTINE_TABLE, CONFLICTS_TABLE, FILES_TABLE)},
    **{source_table(t): SNAPSHOT_KEY for t in SOURCE_TABLES},
    **{analytics_table(t.name): t.partition_key for t in TABLES},
}
# the folders at the root that hold tables (source/agreement, analytics/...): nothing else in them
NAMESPACES = sorted({t.split("/")[0] for t in TABLE_KEYS if "/" in t})
# the lake's plain folders, whose content is its own
PLAIN = sorted({STATE.split("/")[0], REJECTED, MIGRATED, EXCHANGE})
ROOT_NAMES = {*(t.split("/")[0] for t in TABLE_KEYS), *PLAIN}

SHOWN = 3  # paths a sentence names

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_DATA_NAME = (
    rf"part-{_UUID}\.zstd\.parquet"  # lake.Lake.place
    rf"|part-\d{{5}}-{_UUID}-c\d{{3}}(?:\.[a-z0-9]+)?\.parquet"  # delta-rs's writer (.zstd, .snappy, none)
)
# a data file's name, or the temporary file storage.Storage.put_file writes it through (a killed upload's)
_LAKE_FILE = re.compile(rf"(?:{_DATA_NAME})|\.(?:{_DATA_NAME})\.[0-9a-f]{{32}}\.tmp")


def written_by_lake(rel: str, key: str) -> bool:
    """Whether `rel` (a path inside a table partitioned by `key`) is a data file as the lake names
    the files it writes: `<key>=<day>/` and a name of Lake.place or delta-rs."""
    folder, _, name = rel.partition("/")
    return folder.startswith(f"{key}=") and len(folder) > len(key) + 1 and bool(_LAKE_FILE.fullmatch(name))


def table_file(rel: str, key: str) -> str:
    """What a file inside a table is: "log" (its Delta log's), "data" (written by the lake),
    "old" (a day's file of the lake from before Delta) or "foreign"."""
    if rel.startswith(f"{DELTA_LOG}/"):
        return "log"
    if written_by_lake(rel, key):
        return "data"
    folder, _, name = rel.partition("/")
    if name == OLD_FILE and folder.startswith(f"{key}="):
        return "old"
    return "foreign"


class Kind(Enum):
    EMPTY = "empty"  # nothing there: a new lake
    LAKE = "lake"  # the lake's Delta tables and folders only
    PRE_DELTA = "pre-Delta"  # a lake from before Delta, never migrated
    HALF_MIGRATED = "half migrated"  # Delta tables and old files together: `make migrate` resumes
    FOREIGN = "foreign"  # something the lake did not write


@dataclass(frozen=True)
class Inspection:
    """What a look at the lake root found (paths relative to it, folders ending with /)."""

    names: tuple[str, ...] = ()  # the root's top level
    delta_tables: tuple[str, ...] = ()  # tables with a Delta log
    old: tuple[str, ...] = ()  # old files seen (not necessarily all of them)
    foreign: tuple[str, ...] = ()  # what the lake did not write (not necessarily all of it)
    old_tables: tuple[str, ...] = ()  # tables holding old files

    @property
    def kind(self) -> Kind:
        if self.foreign:
            return Kind.FOREIGN
        if self.old:
            migrated = self.delta_tables or MIGRATED in self.names
            return Kind.HALF_MIGRATED if migrated else Kind.PRE_DELTA
        return Kind.LAKE if self.names else Kind.EMPTY

    def problem(self, root: str, setting: str = LAKE_DIR) -> str | None:
        """Why the lake may not write to (nor delete anything at) `root`, in one sentence, or None."""
        kind = self.kind
        if kind is Kind.FOREIGN:
            return (
                f"{setting}: {root} holds what the lake did not write ({shown(self.foreign)}); point {setting} "
                "at an empty folder or at the lake (or move those out of it)."
            )
        if kind is Kind.PRE_DELTA:
            return (
                f"{setting}: {root} is a lake from before Delta tables ({shown(self.old)}); "
                f"convert it in place with `make migrate`, or point {setting} at the lake."
            )
        if kind is Kind.HALF_MIGRATED:
            return (
                f"{setting}: {root} is half migrated to Delta tables (old files still in place: "
                f"{shown(self.old)}); run `make migrate` again: it resumes where it stopped."
            )
        return None


def shown(paths: tuple[str, ...]) -> str:
    more = len(paths) - SHOWN
    return ", ".join(paths[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def inspect(storage: Storage) -> Inspection:
    """What is at the root of `storage`, listing no more than the module docstring says."""
    files, folders = storage.list_top()
    foreign = [*sorted(files["path"]), *(f"{f}/" for f in sorted(folders) if f not in ROOT_NAMES)]
    tables = [t for t in TABLE_KEYS if "/" not in t and t in folders]
    present = [n for n in NAMESPACES if n in folders]
    for namespace, (inside, subfolders) in zip(present, _each(storage, present, _top)):
        foreign += [f"{namespace}/{p}" for p in sorted(inside["path"])]
        for sub in sorted(subfolders):
            name = f"{namespace}/{sub}"
            if name in TABLE_KEYS:
                tables.append(name)
            else:
                foreign.append(f"{name}/")
    delta, old, old_tables = [], [], []
    for table, (is_delta, table_old, table_foreign) in zip(tables, _each(storage, tables, _inspect_table)):
        delta += [table] if is_delta else []
        old += table_old
        old_tables += [table] if table_old else []
        foreign += table_foreign
    names = (*sorted(files["path"]), *sorted(folders))
    return Inspection(names, tuple(delta), tuple(old), tuple(foreign), tuple(old_tables))


def inspect_listing(storage: Storage, listings: dict[str, list[str]]) -> Inspection:
    """What the tables' complete listings ({table: every file's path relative to the root}, as
    housekeeping lists them) hold besides the lake's own files, with the root's own look."""
    shallow = inspect(storage)
    old, foreign = list(shallow.old), list(shallow.foreign)
    old_tables = list(shallow.old_tables)
    for table, paths in listings.items():
        key = TABLE_KEYS.get(table, DAY_KEY)
        for path in paths:
            what = table_file(path[len(table) + 1 :], key)
            if what == "old" and path not in old:
                old.append(path)
                old_tables += [table] if table not in old_tables else []
            elif what == "foreign" and path not in foreign:
                foreign.append(path)
    return Inspection(shallow.names, shallow.delta_tables, tuple(old), tuple(foreign), tuple(old_tables))


def root_problem(storage: Storage, root: str, setting: str = LAKE_DIR) -> str | None:
    """Why the lake may not write to `storage`'s root (named `root` in the sentence), or None."""
    return inspect(storage).problem(root, setting)


def _top(storage: Storage, rel: str) -> tuple[dict, list[str]]:
    return storage.sub(rel).list_top()


def _inspect_table(storage: Storage, table: str) -> tuple[bool, list[str], list[str]]:
    """(has a Delta log, old files seen, foreign paths seen) of one table folder."""
    key = TABLE_KEYS[table]
    files, folders = _top(storage, table)
    foreign = [f"{table}/{p}" for p in sorted(files["path"])]  # nothing of the lake's sits beside the log
    days = sorted(f for f in folders if f.startswith(f"{key}=") and len(f) > len(key) + 1)
    foreign += [f"{table}/{f}/" for f in sorted(folders) if f != DELTA_LOG and f not in days]
    old = []
    if DELTA_LOG in folders:
        for day in dict.fromkeys(days[:1] + days[-1:]):  # where a migration stopped half way leaves old files
            inside, subfolders = _top(storage, f"{table}/{day}")
            foreign += [f"{table}/{day}/{f}/" for f in sorted(subfolders)]
            for name in sorted(inside["path"]):
                what = table_file(f"{day}/{name}", key)
                (old if what == "old" else foreign if what == "foreign" else []).append(f"{table}/{day}/{name}")
    else:  # not a Delta table (yet): a lake from before Delta, or a first commit that never came
        for entry in storage.list_files(table):
            rel = entry.path[len(table) + 1 :]
            if rel.partition("/")[0] not in days:
                continue  # beside the day folders: named above, file or folder
            what = table_file(rel, key)
            (old if what == "old" else foreign if what == "foreign" else []).append(entry.path)
    return DELTA_LOG in folders, old, foreign


def _each(storage: Storage, rels: list[str], look) -> list:
    """look(storage, rel) for each rel: at once on S3 (each is a request), in turn on disk."""
    if storage.is_local or len(rels) < 2:
        return [look(storage, rel) for rel in rels]
    with ThreadPoolExecutor(max_workers=min(8, len(rels))) as pool:
        return list(pool.map(lambda rel: look(storage, rel), rels))
