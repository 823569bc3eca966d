"""Lake housekeeping: log checkpoints, then vacuum, keeping every file a reader may still need.

Time travel must reach back `retention` (OCTO_RETENTION_DAYS): a version is needed if it was
current at any moment since `now - retention` (the one current at the window's start included),
or if the catalog's views read it (lake.versions), or if it is the latest. Vacuum deletes only
files of no needed version, and unreferenced files (a failed commit's) older than the retention.

Nothing is deleted that the lake did not write. Before anything, every table's files are listed
and the root looked at (lake_root): a root holding anything else (a lake from before Delta, half
migrated, someone's files, in a table folder or beside them) is refused with one sentence
(LakeRefused), and nothing is deleted anywhere. And each deletion is of a file the lake wrote
whatever is there meanwhile: a file the log names (replaced by a commit), or a file no commit
names whose name is one the lake's writers give (lake_root.written_by_lake).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from octo_assets.lake import Lake, history
from octo_assets.lake_root import TABLE_KEYS, inspect_listing, written_by_lake


class LakeRefused(Exception):
    """The lake root holds what the lake did not write: housekeeping deleted nothing (one sentence)."""


@dataclass(frozen=True)
class Housekept:
    table: str
    version: int  # the latest version when housekeeping looked
    kept_versions: list[int]  # the versions whose files were kept
    deleted_files: int


def needed_versions(commits: list[dict], cutoff: datetime, pinned: set[int]) -> list[int]:
    """The versions a reader may still open: current at some moment since `cutoff`, pinned by the
    catalog, or the latest. `commits` are Delta history entries (version, timestamp in ms)."""
    moment = cutoff.timestamp() * 1000
    versions = sorted((int(c["version"]), c["timestamp"]) for c in commits)
    needed = {version for version, at in versions if at >= moment}
    before = [version for version, at in versions if at < moment]
    if before:
        needed.add(before[-1])  # what an "as of" the window's first moment reads
    needed.add(versions[-1][0])
    return sorted(needed | pinned)


def housekeep(
    lake: Lake,
    tables: list[str],
    retention: timedelta,
    pinned: dict[str, int] | None = None,
    now: datetime | None = None,
    root: str | None = None,
) -> list[Housekept]:
    """Checkpoint and vacuum each existing table; `pinned`: the version the catalog reads per table.
    Raises LakeRefused, deleting nothing, if the root (named `root` in the sentence) is not the
    lake's alone."""
    now = now or datetime.now(timezone.utc)
    # every file of every table: what the vacuum may delete is counted on it, and nothing but the
    # lake's may be there (vacuum lists the tables whole anyway: this is one more listing a week)
    listings = {table: [e.path for e in lake.storage.list_files(table)] for table in tables}
    refused = inspect_listing(lake.storage, listings).problem(root or lake.root)
    if refused:
        raise LakeRefused(refused)
    done = []
    for table in tables:
        current = lake.delta(table)
        if current is None:
            continue
        wanted = lake.table_configuration()
        if any(current.metadata().configuration.get(k) != v for k, v in wanted.items()):
            current.alter.set_table_properties(wanted)  # the log is kept as long as the files
        current.create_checkpoint()
        catalog = {pinned[table]} if pinned and table in pinned else set()
        keep = needed_versions(history(current), now - retention, catalog)
        options = dict(
            retention_hours=int(retention.total_seconds() // 3600),
            enforce_retention_duration=False,
            keep_versions=keep,
        )
        # delta-rs's full vacuum deletes every file in the table's folder that the log does not
        # name, whoever wrote it (someone's notes, an old lake's part-0.parquet, a hidden file the
        # listings here never show). So delta-rs only ever vacuums what the log names (full=False:
        # files replaced by a commit, which the lake wrote; logged as VACUUM START/END), and of the
        # files no commit names (a commit that never came) the full vacuum's dry run finds, past
        # the same retention, housekeeping deletes those named as the lake's writers name theirs.
        # (Calling the full vacuum when its dry run finds only the lake's would leave a window, from
        # the dry run to the vacuum, for a file copied in with an old modification time to go.)
        replaced = current.vacuum(dry_run=True, full=False, **options)
        unnamed = set(current.vacuum(dry_run=True, full=True, **options)) - set(replaced)
        key = (current.metadata().partition_columns or [TABLE_KEYS.get(table, "")])[0]
        # vacuum names every tombstone in the log, deleted last week or not: count what is there
        present = set(listings[table])
        gone = [f for f in replaced if f"{table}/{f}" in present]
        strays = sorted(f for f in unnamed if written_by_lake(f, key))
        if gone:
            current.vacuum(dry_run=False, full=False, **options)
        for stray in strays:
            lake.storage.delete(f"{table}/{stray}")
        current.cleanup_metadata()  # log entries past delta.logRetentionDuration, before the checkpoint
        done.append(Housekept(table, current.version(), keep, len(gone) + len(strays)))
    return done
