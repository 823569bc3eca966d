"""The landing state: what the pipeline knows of each landing file, kept per delivery folder.

The landing area is read as delivery folders: each top-level folder (`2021-01-04/`, `backlog/`),
and the top level's own files (a flat landing area, as the case study's). The lake keeps, under
`_state/landing/`, one small table of the folders (`folders.parquet`, FOLDER_SCHEMA: the days
each one's files hold, whether every file in it was read, its signature on disk) and one table
of files per folder (`files/*.parquet`, FILE_SCHEMA). A run or a sensor tick lists and loads only the folders it needs
(`plan`), so what it costs follows what is new and the days it builds, not every file ever
delivered. A folder is listed when:

- it is the top level, or a folder not named by a date (`YYYY-MM-DD`, maybe followed by more):
  every time, so a flat landing area costs a listing of all its files (see the README);
- it is new, or a file in it has not been read yet;
- it is a dated folder among the newest OPEN_DAYS days of dated folders (deliveries arriving);
- on disk, its signature changed: a file added to, removed from or renamed in it;
- a run builds a day its files hold (so a re-run of any day sees every change to its files).

What is not seen until a run of one of its days lists the folder: a file rewritten in place, under
its old name, in a dated folder older than the open window (on S3, which has no folders to stat,
any change there).

Every file listed is a file of the landing area, whatever its name (`x.json`, `X.JSON`,
`x.json.gz`, and also `notes.txt` or `x.json.tmp`, which are not read but reported:
readings.stage); only hidden names (a dot first, files or folders: `.DS_Store`, partial uploads
of rsync and the like) are left out, by the storage's listings. So a file is always read once,
and accounted for by a run.

The file rows answer three questions:

- which files hold a day (`days`), so a day's run reads only those, and a new file is read once;
- which deliveries are new or changed: a listing entry whose (size, mtime, version token) is not
  the recorded one. The token changes on every re-delivery, even one keeping the old mtime and
  size (`cp -p`, `rsync -t`, `mv`); where only the token changed and the content hash (`sha`)
  is the same, nothing was delivered (a `touch`, a `chmod`);
- the order of deliveries (`first_seen_ns`): when the pipeline first listed a version. A file's
  own mtime can be anything a sender kept, so the newer delivery is the one seen later, and the
  file's mtime and path only break ties within one listing.

The state is a cache of what parsing the files tells: losing it costs one read of every file,
never data. Every table of it is replaced with a compare-and-swap, so concurrent runs and ticks
never lose each other's updates.
"""

import re
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.domain import FIRST_DAY, LOCAL_TZ
from octo_assets.lake import Lake
from octo_assets.readings.learn import content_hash  # noqa: F401 (defined there: the sensor's workers stay light)
from octo_assets.settings import OPEN_DAYS
from octo_assets.storage import Storage, Tokens, VersionConflict

STATE = "_state/landing"
FOLDERS_FILE = f"{STATE}/folders.parquet"
FILES = f"{STATE}/files"  # a table of file rows per folder
LEGACY_INDEX = "_state/landing_index.parquet"  # one table of every file, before the state was split
TOP_LEVEL = ""  # the folder of the landing area's own files

FILE_SCHEMA = {
    "path": pl.String,  # relative to the landing root, POSIX separators
    "size": pl.Int64,
    "mtime_ns": pl.Int64,
    "token": pl.String,  # storage.Entry.token: changes on every re-delivery
    "sha": pl.String,  # content hash, once read
    "first_seen_ns": pl.Int64,  # when the pipeline first listed this version: delivery order
    "days": pl.List(pl.Date),  # the days its rows name; null until read
    "rows": pl.Int64,  # rows in its "data" array (null: unreadable or not read yet)
}
FOLDER_SCHEMA = {
    "folder": pl.String,  # its name at the top of the landing area; "" for the top level's own files
    "days": pl.List(pl.Date),  # the days its read files hold
    "files": pl.Int64,
    "complete": pl.Boolean,  # every file listed in it was read: its days are all known
    "signature": pl.String,  # on disk, Storage.folder_signature when it was last listed complete
    "subfolders": pl.List(pl.String),  # the folders within it, whose stats the signature covers
    "newest_seen_ns": pl.Int64,  # the latest first sight of a file version in it
    "listed_ns": pl.Int64,  # when the listing that this row reflects was taken
}
VERSION = ["size", "mtime_ns", "token"]
_DATED = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def folder_day(folder: str) -> date | None:
    """The date a delivery folder is named by, or None."""
    match = _DATED.match(folder)
    try:
        return date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        return None


def files_table(folder: str) -> str:
    """Where a folder's file rows are kept, relative to the lake root."""
    name = "top-level" if folder == TOP_LEVEL else f"folder={quote(folder, safe='')}"
    return f"{FILES}/{name}.parquet"


@dataclass(frozen=True)
class Versioned:
    frame: pl.DataFrame
    version: str | None  # of the file it was read from, for the compare-and-swap


def _load(lake: Lake, rel: str, schema: dict) -> Versioned:
    version = lake.storage.version(rel)
    if version is None:
        return Versioned(pl.DataFrame(schema=schema), None)
    with lake.storage.open(rel) as file:
        frame = pl.read_parquet(file)
    return Versioned(frame.select([pl.col(c).cast(t) for c, t in schema.items()]), version)


def load_files(lake: Lake, folder: str) -> Versioned:
    return _load(lake, files_table(folder), FILE_SCHEMA)


def load_folders(lake: Lake) -> Versioned:
    """The folder table; made once from a lake's single legacy index, so an upgraded deployment
    reads no file again."""
    folders = _load(lake, FOLDERS_FILE, FOLDER_SCHEMA)
    if folders.version is None and lake.storage.exists(LEGACY_INDEX):
        _split_legacy_index(lake)
        folders = _load(lake, FOLDERS_FILE, FOLDER_SCHEMA)
    return folders


def _split_legacy_index(lake: Lake) -> None:
    legacy = _load(lake, LEGACY_INDEX, FILE_SCHEMA).frame
    rows = []
    for (folder,), part in legacy.with_columns(_folder=_folder_expr()).group_by("_folder"):
        files = part.drop("_folder").sort("path")
        lake.write(files, files_table(folder))
        if folder != TOP_LEVEL:  # listed every time: no row of its own
            # no signature: each folder is listed once more, to record one
            rows.append(folder_row(folder, files, signature=None, subfolders=[], listed_ns=0))
    _save_folders(lake, pl.DataFrame(rows, schema=FOLDER_SCHEMA), removed=set(), listed_at_ns=0)
    lake.storage.delete(LEGACY_INDEX)


def folder_row(folder: str, files: pl.DataFrame, signature: str | None, subfolders: list[str], listed_ns: int) -> dict:
    """A folder's row, from its file rows (FILE_SCHEMA) as saved."""
    days = files["days"].explode().drop_nulls().unique().sort().to_list() if files.height else []
    complete = files["days"].null_count() == 0
    return {
        "folder": folder,
        "days": days,
        "files": files.height,
        "complete": complete,
        "signature": signature if complete else None,
        "subfolders": subfolders,
        "newest_seen_ns": int(files["first_seen_ns"].max() or 0),
        "listed_ns": listed_ns,
    }


# -- which folders to list ---------------------------------------------------------------------------


def open_since(dated: list[date], open_days: int, today: date) -> date | None:
    """The oldest date of the open window: the newest dated folder (not after today) and the
    open_days - 1 before it. None when no folder is dated."""
    past = [d for d in dated if d <= today]
    return max(past) - timedelta(days=open_days - 1) if past else None


def plan(
    top: list[str],
    folders: pl.DataFrame,
    signatures: dict[str, str | None],
    open_days: int,
    today: date,
    days: set[date] | None = None,
    everything: bool = False,
) -> list[str]:
    """The folders to list (pure): `top` is every folder at the top of the landing area now,
    `folders` the folder table, `signatures` each dated folder's signature now (None on S3),
    `days` the days a run builds, `everything` a listing of the whole landing area."""
    known = {row["folder"]: row for row in folders.iter_rows(named=True)}
    oldest_open = open_since([d for f in top if (d := folder_day(f))], open_days, today)
    chosen = [TOP_LEVEL]
    for folder in sorted(top):
        row, day = known.get(folder), folder_day(folder)
        if (
            everything
            or row is None
            or day is None
            or not row["complete"]
            or (oldest_open is not None and day >= oldest_open)
            or signatures.get(folder) != row["signature"]
            or (days and not days.isdisjoint(row["days"]))
            or (row["days"] and min(row["days"]).isoformat() < FIRST_DAY)  # recorded by an earlier version
        ):
            chosen.append(folder)
    return chosen


# -- a survey: the folders listed, each file with what the state knows of its current version ---------


@dataclass(frozen=True)
class Listed:
    """One listed folder: its file rows as loaded, and what its listing saw."""

    files: Versioned | None  # FILE_SCHEMA, as loaded before the listing (None: load it again when needed)
    signature: str | None  # taken just before the listing (on disk)
    subfolders: list[str]  # the folders within it the listing walked
    known_subfolders: list[str]  # those the signature was taken over


@dataclass(frozen=True)
class Survey:
    """What a run or a tick saw of the landing area."""

    current: pl.DataFrame  # every file of the listed folders, with what is known of its version (`reconcile`)
    listed: dict[str, Listed]
    folders: Versioned  # the folder table, as loaded
    top: list[str]  # the folders at the top of the landing area
    listed_at_ns: int

    def without_file_tables(self) -> "Survey":
        """This survey holding no copy of the file tables (`record` loads them again)."""
        return replace(self, listed={folder: replace(was, files=None) for folder, was in self.listed.items()})

    def unlisted(self) -> pl.DataFrame:
        """The folder table's rows of folders this survey did not list."""
        return self.folders.frame.filter(~pl.col("folder").is_in(list(self.listed)))


def survey(
    landing: Storage,
    lake: Lake,
    listed_at_ns: int,
    days: set[date] | None = None,
    everything: bool = False,
    open_days: int = OPEN_DAYS,
) -> Survey:
    """List what `plan` chooses, and reconcile each folder's listing with its file rows."""
    top_files, top = landing.list_top()
    folders = load_folders(lake)
    previous = {row["folder"]: row for row in folders.frame.iter_rows(named=True)}
    signatures = {
        folder: landing.folder_signature([folder, *previous[folder]["subfolders"]])
        for folder in top
        if folder in previous and folder_day(folder) is not None
    }
    today = datetime.now(ZoneInfo(LOCAL_TZ)).date()
    chosen = plan(top, folders.frame, signatures, open_days, today, days, everything)
    parts, listed = [], {}
    for folder in chosen:
        known_subfolders = previous[folder]["subfolders"] if folder in previous else []
        if folder == TOP_LEVEL:
            columns, subfolders, signature = top_files, [], None
        else:
            # taken before the listing: a file added while it runs changes it, and is seen next time
            signature = signatures.get(folder) or landing.folder_signature([folder, *known_subfolders])
            columns = landing.list_columns(folder)
            subfolders = columns.pop("folders", [])
        files = load_files(lake, folder)
        listed[folder] = Listed(files, signature, subfolders, known_subfolders)
        parts.append(reconcile(listing_frame(columns), files.frame, listed_at_ns))
    return Survey(pl.concat(parts).sort("path"), listed, folders, top, listed_at_ns)


def listing_frame(columns: dict) -> pl.DataFrame:
    """A listing's columns (Storage.list_columns) as a frame: path, size, mtime_ns, token."""
    tokens = columns["token"]
    frame = pl.DataFrame(
        {name: pl.Series(name, columns[name], dtype=FILE_SCHEMA[name]) for name in ("path", "size", "mtime_ns")}
    )
    if isinstance(tokens, Tokens):  # on disk: built here, column-wise
        token = pl.format("{}-{}", pl.Series(tokens.ctime, dtype=pl.Int64), pl.Series(tokens.inode, dtype=pl.UInt64))
        return frame.with_columns(token=token)
    return frame.with_columns(token=pl.Series(list(tokens), dtype=pl.String))


def reconcile(listing: pl.DataFrame, files: pl.DataFrame, listed_at_ns: int) -> pl.DataFrame:
    """The listing, each file with what the file rows know of its current version (FILE_SCHEMA).

    A file whose version is not the recorded one gets null days, sha and rows (to be read) and
    `first_seen_ns = listed_at_ns`; its recorded sha is kept as `indexed_sha` (with the recorded
    first sight, `indexed_first_seen_ns`) so that a new token on the same content changes nothing.
    """
    known = files.select("path", *VERSION, "sha", "first_seen_ns", "days", "rows")
    earlier = (known["days"].list.min() < date.fromisoformat(FIRST_DAY)).fill_null(False)
    if earlier.any():
        # a day before the first partition, recorded by an earlier version (which did not quarantine
        # such rows): the file is read again, its rows of that day quarantined (readings.stage)
        known = known.with_columns(days=pl.when(~earlier).then("days"))
    prior = files.select("path", indexed_sha="sha", indexed_first_seen_ns="first_seen_ns")
    return (
        listing.join(known, on=["path", *VERSION], how="left")
        .join(prior, on="path", how="left")
        .with_columns(pl.col("first_seen_ns").fill_null(listed_at_ns))
    )


def with_learnt(current: pl.DataFrame, learnt: pl.DataFrame) -> pl.DataFrame:
    """`current` (from reconcile) updated with what reading files told: sha, days, rows.

    A re-delivered version whose content hash equals the recorded one keeps its first sight:
    the same bytes are not a newer delivery.
    """
    if learnt.is_empty():
        return current
    updated = current.update(learnt.select("path", "sha", "days", "rows"), on="path", include_nulls=True)
    return updated.with_columns(
        first_seen_ns=pl.when(pl.col("sha").is_not_null() & (pl.col("sha") == pl.col("indexed_sha")))
        .then(pl.min_horizontal("first_seen_ns", "indexed_first_seen_ns"))
        .otherwise("first_seen_ns")
    )


# -- recording what was seen and learnt ------------------------------------------------------------


def record(lake: Lake, seen: Survey, learnt: pl.DataFrame | None = None) -> Survey:
    """Save what `seen` listed and what reading told (`learnt`: path, sha, days, rows), folder by
    folder, only where it differs from the state. Returns the survey as saved: its `current`
    holds the first sights every writer agreed on, hence the same delivery order for all."""
    current = with_learnt(seen.current, learnt) if learnt is not None else seen.current
    extra = current.select("path", "indexed_sha", "indexed_first_seen_ns")
    by_folder = _by_folder(current.select(list(FILE_SCHEMA)), list(seen.listed))
    del current  # at a million files a copy is a few hundred MB: hold as few at once as we can
    parts, listed, rows = [], {}, []
    for folder, was in seen.listed.items():
        ours = by_folder.pop(folder).sort("path")  # as saved tables are (_swap)
        saved = was.files or load_files(lake, folder)
        if not ours.equals(saved.frame):
            saved = _save_files(lake, folder, ours, seen.listed_at_ns)
        listed[folder] = replace(was, files=saved)
        parts.append(_agreed_first_sights(ours, saved.frame))
        same_subfolders = sorted(was.subfolders) == sorted(was.known_subfolders)
        if folder != TOP_LEVEL:
            signature = was.signature if same_subfolders else None
            rows.append(folder_row(folder, saved.frame, signature, was.subfolders, seen.listed_at_ns))
    removed = set(seen.unlisted()["folder"].to_list()) - set(seen.top)
    table = seen.folders
    if _folders_changed(seen.folders.frame, rows, removed):
        table = _save_folders(lake, pl.DataFrame(rows, schema=FOLDER_SCHEMA), removed, seen.listed_at_ns)
        for folder in removed:
            lake.storage.delete(files_table(folder))
    merged = pl.concat(parts) if parts else pl.DataFrame(schema=FILE_SCHEMA)
    return replace(seen, current=merged.join(extra, on="path", how="left").sort("path"), listed=listed, folders=table)


def _by_folder(files: pl.DataFrame, folders: list[str]) -> dict[str, pl.DataFrame]:
    """`files` split by the listed folders (one folder: no copy)."""
    if len(folders) == 1:
        return {folders[0]: files}
    parts = files.with_columns(_folder=_folder_expr()).partition_by("_folder", as_dict=True, include_key=False)
    return {folder: parts.get((folder,), files.clear()) for folder in folders}


def _agreed_first_sights(ours: pl.DataFrame, saved: pl.DataFrame) -> pl.DataFrame:
    """Our rows, the versions as we listed and read them, each with the first sight the saved
    rows agree on for that version (the earliest any writer saw it)."""
    if ours.height == saved.height and ours["path"].equals(saved["path"]):
        # the usual case, the same paths in the same order (both sorted by path): row by row, no
        # join (at a million files a join on the version's columns holds about 400 MB more)
        same = pl.all_horizontal(pl.lit(ours[c].eq_missing(saved[c])) for c in VERSION)
        agreed = pl.when(same).then(pl.lit(saved["first_seen_ns"]))
        return ours.with_columns(first_seen_ns=pl.coalesce(agreed, "first_seen_ns"))
    agreed = saved.select("path", *VERSION, agreed="first_seen_ns")
    return (
        ours.join(agreed, on=["path", *VERSION], how="left", nulls_equal=True)
        .with_columns(first_seen_ns=pl.coalesce("agreed", "first_seen_ns"))
        .drop("agreed")
    )


def _folder_expr() -> pl.Expr:
    return (
        pl.when(pl.col("path").str.contains("/")).then(pl.col("path").str.split("/").list.first()).otherwise(pl.lit(""))
    )


def _folders_changed(before: pl.DataFrame, rows: list[dict], removed: set[str]) -> bool:
    if removed & set(before["folder"].to_list()):
        return True
    compared = [c for c in FOLDER_SCHEMA if c != "listed_ns"]
    old = {row["folder"]: row for row in before.select(compared).iter_rows(named=True)}
    return any(old.get(row["folder"]) != {c: row[c] for c in compared} for row in rows)


def _save_files(lake: Lake, folder: str, ours: pl.DataFrame, listed_at_ns: int) -> Versioned:
    """Merge `ours` (every file of our listing of `folder`, with what we learnt) into its rows.

    Per path: the same version keeps the earliest first sight and whatever either side learnt; a
    different version seen by a later listing than ours wins over ours; a path we did not list
    stays only if a later listing added it (otherwise it was removed or moved).
    """
    mine = ours.select(list(FILE_SCHEMA)).with_columns(_ours=pl.lit(True))

    def merge(theirs: pl.DataFrame) -> pl.DataFrame:
        both = mine.join(theirs.with_columns(_theirs=pl.lit(True)), on="path", how="full", coalesce=True, suffix="_t")
        later = pl.col("first_seen_ns_t") > listed_at_ns
        same = pl.all_horizontal(pl.col(c) == pl.col(f"{c}_t") for c in VERSION).fill_null(False)
        take_theirs = pl.col("_theirs").fill_null(False) & later.fill_null(False) & ~same
        keep = pl.col("_ours").fill_null(False) | take_theirs
        return both.filter(keep).select(
            "path",
            *[pl.when(take_theirs).then(pl.col(f"{c}_t")).otherwise(pl.col(c)).alias(c) for c in VERSION],
            *[
                pl.when(take_theirs)
                .then(pl.col(f"{c}_t"))
                .when(same)
                .then(pl.coalesce(c, f"{c}_t"))
                .otherwise(c)
                .alias(c)
                for c in ["sha", "days", "rows"]
            ],
            first_seen_ns=pl.when(take_theirs)
            .then("first_seen_ns_t")
            .when(same)
            .then(pl.min_horizontal("first_seen_ns", "first_seen_ns_t"))
            .otherwise("first_seen_ns"),
        )

    return _swap(lake, files_table(folder), FILE_SCHEMA, merge, "path")


def _save_folders(lake: Lake, ours: pl.DataFrame, removed: set[str], listed_at_ns: int) -> Versioned:
    """Merge our folder rows into the folder table: a row from a later listing than ours stays; a
    folder we saw removed goes, unless a later listing saw it."""

    def merge(theirs: pl.DataFrame) -> pl.DataFrame:
        newer = theirs.filter(pl.col("listed_ns") > listed_at_ns)
        kept = theirs.filter(~pl.col("folder").is_in([*ours["folder"].to_list(), *removed]))
        fresh = ours.join(newer.select("folder"), on="folder", how="anti")
        return pl.concat([kept, fresh, newer]).unique("folder", keep="last")

    return _swap(lake, FOLDERS_FILE, FOLDER_SCHEMA, merge, "folder")


def _swap(lake: Lake, rel: str, schema: dict, merge, key: str, attempts: int = 20) -> Versioned:
    """Replace the table `rel` with `merge(its rows)`, a compare-and-swap on its version: if another
    process replaced it meanwhile, merge again into theirs."""
    for _ in range(attempts):
        current = _load(lake, rel, schema)
        merged = merge(current.frame).select(list(schema)).sort(key)
        try:
            lake.write(merged, rel, expect=current.version)
            return Versioned(merged, lake.storage.version(rel))
        except VersionConflict:
            continue
    raise RuntimeError(f"the landing state {lake.uri(rel)} kept changing; {attempts} attempts failed")


def upsert_files(lake: Lake, folder: str, rows: pl.DataFrame) -> None:
    """Put file rows (FILE_SCHEMA) into `folder`'s table, replacing those of the same paths, and
    the folder's row with the days they hold (readings.archive records a move with it)."""
    saved = _swap(
        lake,
        files_table(folder),
        FILE_SCHEMA,
        lambda theirs: pl.concat([theirs.join(rows, on="path", how="anti"), rows.select(list(FILE_SCHEMA))]),
        "path",
    )
    if folder != TOP_LEVEL:
        known = load_folders(lake).frame.filter(pl.col("folder") == folder)["subfolders"].to_list()
        # no signature: on disk the folder is listed once more, to take one
        row = folder_row(folder, saved.frame, None, known[0] if known else [], listed_ns=now_ns())
        _save_folders(lake, pl.DataFrame([row], schema=FOLDER_SCHEMA), removed=set(), listed_at_ns=row["listed_ns"])


# -- what runs and ticks ask of it -------------------------------------------------------------------


def landed_days(folders: pl.DataFrame, current: pl.DataFrame) -> list[date]:
    """Every day a landing file is known to hold: the folder table's, and the listed files'."""
    days = pl.concat([folders["days"].explode(), current["days"].explode()]).drop_nulls().unique()
    return sorted(days.to_list())


def versions_since(lake: Lake, seen: Survey, since_ns: int | None, unlisted_since_ns: int | None) -> pl.DataFrame:
    """The file versions of known days first seen after `since_ns` (None: all) in the folders
    `seen` listed, and in the folders it did not list whose newest version was first seen after
    `unlisted_since_ns` (a folder read by an earlier tick whose requests are still to come)."""
    known = seen.current.filter(pl.col("days").is_not_null()).select(list(FILE_SCHEMA))
    if unlisted_since_ns is not None:
        recent = seen.unlisted().filter(pl.col("newest_seen_ns") > unlisted_since_ns)["folder"].to_list()
        known = pl.concat([known, *[load_files(lake, folder).frame for folder in recent]])
        known = known.filter(pl.col("days").is_not_null())
    return known if since_ns is None else known.filter(pl.col("first_seen_ns") > since_ns)


def files_for_days(current: pl.DataFrame, days: set[date]) -> pl.DataFrame:
    """Files of `current` that may hold any of `days`: those known to, and those not read yet."""
    wanted = pl.lit(sorted(days), dtype=pl.List(pl.Date))
    return current.filter(pl.col("days").is_null() | (pl.col("days").list.set_intersection(wanted).list.len() > 0))


def now_ns() -> int:
    """The pipeline's clock for first sights (one place, so that tests can set it)."""
    return time.time_ns()


def delivery_order(current: pl.DataFrame) -> pl.DataFrame:
    """`current` sorted oldest delivery first: by first sight, then mtime, then path."""
    return current.sort(["first_seen_ns", "mtime_ns", "path"])
