"""What `make run` builds: the days whose inputs changed since they were published, and why.

A day's readings are built from the landing files that hold it, and its published accounting
(`readings_files`) names every file version it was built from, by content hash. A day is built
when it was never published, or when a file holding it now is not among those it was built
from (a new file, or a new version of one); a day built from a file that is gone is named and
left as it is (rebuilding it would drop that file's readings: the lake never does so unasked).
Only the days the landing survey can have changed are compared: those of the folders it listed
(new, still open, changed on disk, or the top level) and those never published, so the cost of
a run with nothing new follows the open folders, not the days landed.

A day's analytics are rebuilt with its readings, where a new source snapshot moves their answer
(source.changes, as the snapshot step records it), and, every day of a table, when the code
writes a column the table lacks (an upgrade). The catalog is rebuilt when a run
published something, or when it does not pin the lake's latest versions.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from octo_assets.catalog.connect import CatalogNotFound, connect
from octo_assets.lake import (
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
from octo_assets.readings import landing as landing_state

SHOWN_FILES = 3  # files named in a day's reason


class LakeAsFound(Lake):
    """The lake as this run found it, each table's log loaded once: deciding what to build reads
    a table several times (at a year of days, a load is ~25 ms), and nothing commits meanwhile."""

    def __init__(self, lake: Lake):
        super().__init__(lake.storage, lake.retention_days)
        self._loaded: dict[str, DeltaTable | None] = {}

    def delta(self, table: str, version: int | None = None) -> DeltaTable | None:
        if version is not None:
            return super().delta(table, version)
        if table not in self._loaded:
            self._loaded[table] = super().delta(table)
        return self._loaded[table]


@dataclass(frozen=True)
class Stale:
    """The readings days to build, and the days left as built although a file of theirs is gone."""

    build: dict[date, str]  # day -> why it is built
    kept: dict[date, str]  # day -> why it is not rebuilt (its files gone)


def _named(paths: list[str]) -> str:
    shown = ", ".join(sorted(paths)[:SHOWN_FILES])
    return shown + (f" and {len(paths) - SHOWN_FILES} more" if len(paths) > SHOWN_FILES else "")


def day_reasons(holding: pl.DataFrame, built: pl.DataFrame | None) -> tuple[str | None, str | None]:
    """(why the day is built, why it is left although changed) from `holding` (path, sha: the
    files holding the day now) and `built` (source_file, sha: what its published partition was
    built from; None: never published). A file under another name with the same content is
    already there."""
    if built is None:
        return "never built", None
    new = holding.join(built.select("sha"), on="sha", how="anti")["path"].to_list()
    gone = (
        built.join(holding.select(source_file="path"), on="source_file", how="anti")
        .join(holding.select("sha"), on="sha", how="anti")["source_file"]
        .to_list()
    )
    if gone:
        changed = f"; {len(new)} new or changed file(s) wait with it ({_named(new)})" if new else ""
        rebuild = (
            "rebuild the day from what is landed with `make run ARGS='--from D --to D --force'`"
            if holding.height
            else "publish the day empty with `make run ARGS='--from D --to D --force --allow-empty'`"
        )
        return None, (
            f"{len(gone)} landing file(s) it was built from are gone ({_named(gone)}): left as built, "
            f"their readings kept{changed}. Restore them, or {rebuild}"
        )
    if new:
        return f"{len(new)} new or changed landing file(s): {_named(new)}", None
    return None, None


def published_days(lake: Lake) -> set[date]:
    """Every day a readings run published: it has readings, accounting or quarantine rows."""
    days = set()
    for table in (READINGS_TABLE, FILES_TABLE, QUARANTINE_TABLE):
        days |= {date.fromisoformat(d) for d in lake.partition_values(table, DAY_KEY)}
    return days


def built_from(lake: Lake, days: set[date]) -> pl.DataFrame:
    """date, source_file, sha: the file versions each of `days` was published from (only those
    days' files are read: the table's other days cost nothing)."""
    schema = {DAY_KEY: pl.Date, "source_file": pl.String, "sha": pl.String}
    table = lake.delta(FILES_TABLE)
    if table is None or not days:
        return pl.DataFrame(schema=schema)
    frames = [pl.DataFrame(schema=schema)]
    for day in sorted(days):
        for uri in table.file_uris(file_pruning_predicate=[(DAY_KEY, "=", day.isoformat())]):
            rows = pl.read_parquet(lake.readable(uri), columns=["source_file", "sha"])
            frames.append(rows.with_columns(pl.lit(day).alias(DAY_KEY)).select(list(schema)).cast(schema))
    return pl.concat(frames)


def files_holding(lake: Lake, seen: landing_state.Survey, current: pl.DataFrame, days: set[date]) -> pl.DataFrame:
    """path, sha, days of every file known to hold one of `days`: the listed folders' (`current`),
    and those of the folders not listed whose recorded days include one (unchanged since)."""
    wanted = sorted(days)
    more = [
        landing_state.load_files(lake, row["folder"]).frame
        for row in seen.unlisted().iter_rows(named=True)
        if not days.isdisjoint(row["days"] or [])
    ]
    files = pl.concat([current.select("path", "sha", "days"), *[f.select("path", "sha", "days") for f in more]])
    return files.filter(pl.col("days").list.set_intersection(pl.lit(wanted, pl.List(pl.Date))).list.len() > 0)


def stale_readings(
    lake: Lake, seen: landing_state.Survey, current: pl.DataFrame, landed: list[date], buildable: set[str]
) -> Stale:
    """The landed days (of `buildable` partition keys) whose readings are not built from the files
    holding them now. `current`: the listed files with what reading them told (path, sha, days)."""
    published = published_days(lake)
    # the days of the files listed now, of those these folders held before (a file removed), and
    # of the folders gone since the last survey
    before = [was.files.frame["days"] for was in seen.listed.values() if was.files is not None]
    gone = seen.unlisted().filter(~pl.col("folder").is_in(seen.top))["days"]
    listed_days = set(pl.concat([current["days"], *before, gone]).explode().drop_nulls().to_list())
    candidates = {d for d in landed if d.isoformat() in buildable and (d in listed_days or d not in published)}
    holding = files_holding(lake, seen, current, candidates)
    built = built_from(lake, candidates & published)
    build, kept = {}, {}
    for day in sorted(candidates):
        mine = holding.filter(pl.col("days").list.contains(day)).select("path", "sha")
        was = built.filter(pl.col(DAY_KEY) == day) if day in published else None
        why, left = day_reasons(mine, was)
        if why:
            build[day] = why
        if left:
            kept[day] = left.replace("--from D --to D", f"--from {day} --to {day}")
    return Stale(build, kept)


def missing_columns(lake: Lake, table: str, columns: list[str]) -> list[str]:
    """The columns the code writes that the lake's table lacks ([]: none, or no table yet): a code
    upgrade that adds a column rebuilds every day of the table (older days would show it empty)."""
    found = lake.delta(table)
    if found is None:
        return []
    have = set(found.schema().to_arrow().names)
    return [column for column in columns if column not in have]


def newest_file_per_day(found: DeltaTable | None, key: str) -> dict[str, int]:
    """Day -> when its newest file in the table's latest version was written (ms)."""
    if found is None:
        return {}
    actions = pl.from_arrow(pa.table(found.get_add_actions(flatten=True)))
    if actions.is_empty():
        return {}
    newest = actions.group_by(day=pl.col(f"partition.{key}").cast(pl.String)).agg(pl.col("modification_time").max())
    return dict(newest.iter_rows())


def analytics_behind(lake: Lake, tables) -> dict[str, list[str]]:
    """Per analytics table that reads the readings, the days with readings whose analytics were
    not written after them (a run stopped between the two): such a day has rows, so a file. From
    the tables' logs alone, however many days. (A table that does not read the readings may be
    empty on a day, and is written before them or after: not judged here.)"""
    readings = newest_file_per_day(lake.delta(READINGS_TABLE), DAY_KEY)
    behind = {}
    for table in (t for t in tables if t.reads_readings):
        built = newest_file_per_day(lake.delta(analytics_table(table.name)), table.partition_key)
        days = [d for d, at in readings.items() if built.get(d, -1) < at]
        if days:
            behind[table.name] = sorted(days)
    return behind


def analytics_to_rebuild(
    lake: Lake, tables, built: set[str], corrected: dict[str, list[str]]
) -> dict[str, dict[str, str]]:
    """Analytics table -> day -> why it is rebuilt, beside the days `built` (readings and analytics)
    and those `corrected` for a new snapshot: days a run stopped before, and every day of a table
    the code now writes a column of that the table lacks."""
    rebuild: dict[str, dict[str, str]] = {}
    for table, days in analytics_behind(lake, tables).items():
        for day in sorted(set(days) - built - set(corrected.get(table, []))):
            rebuild.setdefault(table, {})[day] = "not built from the day's readings (a run stopped before it)"
    for table in tables:
        added = missing_columns(lake, analytics_table(table.name), list(table.schema))
        if added:
            why = f"the code writes column(s) the table lacks: {', '.join(added)}"
            days = lake.partition_values(analytics_table(table.name), table.partition_key)
            for day in sorted(set(days) - built - set(corrected.get(table.name, []))):
                rebuild.setdefault(table.name, {})[day] = why
    return rebuild


def published_snapshot_hashes(lake: Lake) -> dict[str, str | None]:
    """The content hash of each source table's latest published snapshot (None: none yet)."""
    hashes = {}
    for table in SOURCE_TABLES:
        dates = lake.partition_values(source_table(table), SNAPSHOT_KEY)
        info = lake.commit_info(source_table(table), dates[-1]) if dates else None
        hashes[table] = (info or {}).get(CONTENT_SHA256)
    return hashes


def catalog_behind(lake: Lake, warehouse: str, tables: list[str]) -> str | None:
    """Why the catalog must be rebuilt (missing, or not pinning a table's latest version), or None."""
    try:
        with connect(warehouse) as catalog:
            pinned = dict(catalog.execute("SELECT table_name, version FROM lake.versions").fetchall())
    except CatalogNotFound:
        return "the catalog does not exist yet"
    for table in tables:
        found = lake.delta(table)
        if found is not None and pinned.get(table) != found.version():
            return f"it does not show the latest version of {table}"
    return None


def spans(reasons: dict[date, str]) -> list[tuple[date, date, str]]:
    """Consecutive days with the same reason as (first, last, reason)."""
    out: list[tuple[date, date, str]] = []
    for day, why in sorted(reasons.items()):
        if out and out[-1][2] == why and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day, why)
        else:
            out.append((day, day, why))
    return out
