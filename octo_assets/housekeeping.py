"""Lake housekeeping: log checkpoints, then vacuum, keeping every file a reader may still need.

Time travel must reach back `retention` (OCTO_RETENTION_DAYS): a version is needed if it was
current at any moment since `now - retention` (the one current at the window's start included),
or if the catalog's views read it (lake.versions), or if it is the latest. Vacuum deletes only
files of no needed version, and unreferenced files (a failed commit's) older than the retention.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from octo_assets.lake import Lake, history


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
) -> list[Housekept]:
    """Checkpoint and vacuum each existing table; `pinned`: the version the catalog reads per table."""
    now = now or datetime.now(timezone.utc)
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
            full=True,  # also the files of commits that failed
        )
        # vacuum names every tombstone in the log, deleted last week or not: count what is there
        present = {e.path for e in lake.storage.list_files(table)}
        deleted = [f for f in current.vacuum(dry_run=True, **options) if f"{table}/{f}" in present]
        if deleted:
            current.vacuum(dry_run=False, **options)
        current.cleanup_metadata()  # log entries past delta.logRetentionDuration, before the checkpoint
        done.append(Housekept(table, current.version(), keep, len(deleted)))
    return done
