"""The source-correction sensor: a new snapshot -> the analytics days it moves, rebuilt, however old.

The snapshot step compares each snapshot with the one before (source.changes) and records in
lake/agreement's materialisation the days of each analytics table whose answer moves. This
sensor follows the event log (its cursor is a storage id) and requests runs of
source_correction_job for those days:

- only days already built: a missing day is built from the latest snapshot when its turn comes;
- not days built after the snapshot was published, from it: `make run` builds the snapshot and
  then every day in one run. Each analytics day records the version of the snapshot it read: a
  day recorded after the snapshot but built from an older one (its run read the lake before the
  snapshot was published) is rebuilt too, whichever of it and the correction's run ends last;
- contiguous days of the same tables in one run, at most OCTO_DAYS_PER_RUN days (a single day as
  a partition run, so the one-run-per-day limit of the production instance holds for it), tagged
  with the trigger, the snapshot and the change, under a run key that requests it once.

A snapshot published before this sensor existed records no changes, and a day built before then
no version: neither requests anything.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from octo_assets.analytics.assets import CHANGE_TAG, SNAPSHOT_TAG, SOURCE_CORRECTION, TRIGGER_TAG
from octo_assets.analytics.checks import CHECKS
from octo_assets.automation.jobs import CORRECTED_ASSETS, CORRECTION_JOB, SOURCE_CHECK_KEYS
from octo_assets.home import refusal
from octo_assets.keys import AGREEMENT, CATALOG
from octo_assets.partitions import days_per_run
from octo_assets.resources import LakeStorage
from octo_assets.source.assets import CHANGE_SUMMARY, DAYS_TO_REFRESH, SNAPSHOT_VERSION

EVENTS_PER_TICK = 1_000  # of each asset; the rest on the next ticks
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot, as its lake/agreement materialisation recorded it."""

    storage_id: int
    snapshot_date: str
    version: str | None
    days: dict[str, list[tuple[str, str]]] | None  # table -> inclusive ranges; None: not recorded
    change: str


@dataclass(frozen=True)
class Built:
    """An analytics day's materialisation, and the version of the snapshot it was built from."""

    storage_id: int
    day: str
    version: str | None


@dataclass(frozen=True)
class Rebuild:
    """Why a day is rebuilt: the event that moved it (the run key's start), and the run's tags."""

    cause: str
    snapshot_date: str
    change: str


def snapshot_of(record: dg.EventLogRecord) -> Snapshot:
    metadata = {key: value.value for key, value in record.asset_materialization.metadata.items()}
    return Snapshot(
        record.storage_id,
        str(metadata.get("snapshot_date", "")),
        metadata.get(SNAPSHOT_VERSION),
        metadata.get(DAYS_TO_REFRESH),
        str(metadata.get(CHANGE_SUMMARY, "")),
    )


def built_of(record: dg.EventLogRecord) -> Built:
    version = record.asset_materialization.metadata.get(SNAPSHOT_VERSION)
    return Built(record.storage_id, record.partition_key, version.value if version else None)


def in_ranges(day: str, ranges: list[tuple[str, str]]) -> bool:
    return any(first <= day <= last for first, last in ranges)


def plan(
    snapshots: list[Snapshot],
    baseline: Snapshot | None,
    built: dict[str, list[Built]],
    latest: dict[str, dict[str, int]],
) -> dict[tuple[str, str], Rebuild]:
    """(table, day) -> why it is rebuilt. `snapshots`: the new snapshot events, oldest first;
    `baseline`: the latest one before them; `built`: the new analytics materialisations per
    table; `latest`: per table, each built day's latest materialisation (its storage id)."""
    rebuild: dict[tuple[str, str], Rebuild] = {}
    known = ([baseline] if baseline else []) + snapshots
    # a day built from another snapshot than the latest published before it: its run read the
    # lake before that one was published (or before the snapshot was whole)
    for table, records in built.items():
        for record in records:
            if record.version is None or latest[table].get(record.day) != record.storage_id:
                continue  # built before versions were recorded, or built again since
            before = [s for s in known if s.storage_id < record.storage_id]
            after = {s.version for s in known if s.storage_id > record.storage_id}
            if not before or before[-1].version in (None, record.version) or record.version in after:
                continue  # right; or built from a newer snapshot, whose own turn comes below
            rebuild[(table, record.day)] = Rebuild(
                f"stale{record.storage_id}",
                before[-1].snapshot_date,
                f"built from snapshot {record.version}, not from the {before[-1].snapshot_date} snapshot "
                f"{before[-1].version} published before it",
            )
    # the days each new snapshot moves that were last built before it
    for snapshot in snapshots:
        for table, ranges in (snapshot.days or {}).items():
            for day, storage_id in latest.get(table, {}).items():
                if storage_id < snapshot.storage_id and in_ranges(day, ranges):
                    rebuild[(table, day)] = Rebuild(
                        f"snapshot{snapshot.storage_id}", snapshot.snapshot_date, snapshot.change
                    )
    return rebuild


def run_requests(rebuild: dict[tuple[str, str], Rebuild], most_days: int | None) -> list[dg.RunRequest]:
    """One run per cause and stretch of consecutive days rebuilding the same tables (at most
    `most_days` days, None: no limit)."""
    tables_by_day: dict[Rebuild, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (table, day), why in rebuild.items():
        tables_by_day[why][day].add(table)
    requests = []
    for why, tables in tables_by_day.items():
        stretches: list[tuple[list[str], frozenset[str]]] = []
        for day in sorted(tables):
            last = stretches[-1] if stretches else None
            if (
                last
                and last[1] == tables[day]
                and date.fromisoformat(last[0][-1]) + timedelta(days=1) == date.fromisoformat(day)
                and (most_days is None or len(last[0]) < most_days)
            ):
                last[0].append(day)
            else:
                stretches.append(([day], frozenset(tables[day])))
        requests += [correction_run(why, days[0], days[-1], sorted(names)) for days, names in stretches]
    return requests


def correction_run(why: Rebuild, first: str, last: str, tables: list[str]) -> dg.RunRequest:
    checks = [spec.key for table in tables for spec in CHECKS[table]]
    if "daily_product_consumption" in tables:
        checks += SOURCE_CHECK_KEYS  # readings_covered_by_agreement moves where coverage moves
    tags = {TRIGGER_TAG: SOURCE_CORRECTION, SNAPSHOT_TAG: why.snapshot_date, CHANGE_TAG: why.change}
    one_day = first == last
    return dg.RunRequest(
        run_key=f"{why.cause}:{'+'.join(tables)}:{first}:{last}",
        asset_selection=[*(CORRECTED_ASSETS[table] for table in tables), CATALOG],  # the views show them
        asset_check_keys=checks,
        partition_key=first if one_day else None,
        tags=tags if one_day else {**tags, RANGE_START: first, RANGE_END: last},
    )


def materializations(instance: dg.DagsterInstance, key: dg.AssetKey, after: int | None) -> list[dg.EventLogRecord]:
    records_filter = dg.AssetRecordsFilter(asset_key=key, after_storage_id=after)
    return list(instance.fetch_materializations(records_filter, limit=EVENTS_PER_TICK, ascending=True).records)


def read_events(instance: dg.DagsterInstance, after: int | None):
    """The events after `after` up to the tick's horizon (every stream read whole up to it): the
    new snapshots, the one before them, the new analytics materialisations, and the horizon."""
    streams = {"snapshots": materializations(instance, AGREEMENT, after)}
    streams |= {table: materializations(instance, key, after) for table, key in CORRECTED_ASSETS.items()}
    full = [records[-1].storage_id for records in streams.values() if len(records) == EVENTS_PER_TICK]
    every = [record.storage_id for records in streams.values() for record in records]
    horizon = min(full) if full else max(every, default=after)
    streams = {name: [r for r in records if r.storage_id <= horizon] for name, records in streams.items()}
    baseline = None
    if after is not None:
        previous = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=AGREEMENT, before_storage_id=after + 1), limit=1
        ).records
        baseline = snapshot_of(previous[0]) if previous else None
    snapshots = [snapshot_of(record) for record in streams.pop("snapshots")]
    built = {table: [built_of(record) for record in records] for table, records in streams.items()}
    return snapshots, baseline, built, horizon


@dg.sensor(
    name="source_correction_sensor",
    job=CORRECTION_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A new source snapshot: rebuild the analytics days it moves (its lake/agreement metadata "
    "lists them), however old, and only those; and any day built from an older snapshot than the latest.",
)
def source_correction_sensor(context: dg.SensorEvaluationContext, lake: LakeStorage) -> dg.SensorResult | dg.SkipReason:
    # the snapshots and days it reads in the event log are this lake's only if the instance serves it
    refused = refusal(context.instance, lake)
    if refused:
        return dg.SkipReason(refused)
    after = int(context.cursor) if context.cursor else None
    snapshots, baseline, built, horizon = read_events(context.instance, after)
    cursor = str(horizon) if horizon is not None else context.cursor
    if not snapshots and not any(built.values()):
        return dg.SensorResult(skip_reason="no new snapshot or analytics day", cursor=cursor)
    latest = {
        table: dict(context.instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION))
        for table, key in CORRECTED_ASSETS.items()
    }
    rebuild = plan(snapshots, baseline, built, latest)
    for snapshot in snapshots:
        moved = {table: len(ranges) for table, ranges in (snapshot.days or {}).items() if ranges}
        chosen = sum(why.cause == f"snapshot{snapshot.storage_id}" for why in rebuild.values())
        context.log.info(
            f"snapshot {snapshot.snapshot_date} ({snapshot.change}): ranges moved {moved or 'none'}; "
            f"{chosen} built day(s) to rebuild"
        )
    requests = run_requests(rebuild, days_per_run())
    if not requests:
        days = sum(len(records) for records in built.values())
        return dg.SensorResult(
            skip_reason=f"{len(snapshots)} new snapshot(s), {days} analytics day(s) built: no built day moved, "
            "and each day was built from the latest snapshot",
            cursor=cursor,
        )
    return dg.SensorResult(run_requests=requests, cursor=cursor)
