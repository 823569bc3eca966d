"""The landing-folder sensor: new or changed readings files -> one run for each day they hold.

The cursor is a high-water mark: the newest delivery time (mtime_ns) seen, and the files
delivered at exactly that time with their sizes. A new file, and a re-delivered one (a copy or
a rewrite gets a new mtime), is newer than the mark, so the cursor stays this small however
many files pile up. Limits: a file copied with its old mtime preserved (`cp -p`, `rsync -t`)
that is older than the mark is not seen (touch it, or backfill its days); so is a rewrite at
the mark itself with the same size; a deleted file requests nothing (re-run its days). Listing
the folder costs a stat per file per tick.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from octo_assets.automation.jobs import DAILY_JOB
from octo_assets.partitions import FIRST_DAY, daily_partitions
from octo_assets.readings.assets import LANDING
from octo_assets.readings.landing import days_in_bytes, list_landing
from octo_assets.resources import LandingFolder
from octo_assets.storage import Storage

READINGS = dg.AssetKey(["lake", "readings"])
# the analytics in the daily job read the latest snapshot of these: without one every run fails
SNAPSHOT_TABLES = [dg.AssetKey(["lake", "agreement"]), dg.AssetKey(["lake", "product"])]
Delivery = tuple[str, int, int]  # (path relative to the landing root, size, mtime_ns)


@dataclass(frozen=True)
class DeliveryMark:
    mtime_ns: int
    at_mark: dict[str, int] = field(default_factory=dict)  # path -> size, delivered at mtime_ns

    def is_new(self, delivery: Delivery) -> bool:
        path, size, mtime_ns = delivery
        return mtime_ns > self.mtime_ns or (mtime_ns == self.mtime_ns and self.at_mark.get(path) != size)

    def advance(self, delivered: list[Delivery]) -> "DeliveryMark":
        if not delivered:
            return self
        top = max(mtime_ns for _, _, mtime_ns in delivered)
        at_mark = dict(self.at_mark) if top == self.mtime_ns else {}
        at_mark.update({path: size for path, size, mtime_ns in delivered if mtime_ns == top})
        return DeliveryMark(top, at_mark)

    def to_cursor(self) -> str:
        return json.dumps({"mtime_ns": self.mtime_ns, "at_mark": self.at_mark}, sort_keys=True)

    @staticmethod
    def from_cursor(cursor: str) -> "DeliveryMark":
        state = json.loads(cursor)
        return DeliveryMark(state["mtime_ns"], state["at_mark"])


def starting_mark(instance: dg.DagsterInstance) -> DeliveryMark:
    """Without a cursor, files delivered before the latest readings run count as handled: turning
    the sensor on over a folder the pipeline already built requests nothing."""
    latest = instance.get_latest_materialization_event(READINGS)
    return DeliveryMark(int(latest.timestamp * 1e9) if latest else -1)


def days_delivered(landing: Storage, delivered: list[Delivery]) -> dict[date, list[Delivery]]:
    """day -> the delivered files that hold it (a byte scan for dates, as the readings asset does)."""
    by_day = defaultdict(list)
    for delivery, raw in zip(delivered, landing.read_many([d[0] for d in delivered])):
        if isinstance(raw, OSError):  # gone or unreadable since the listing: its next delivery is seen
            continue
        for day in days_in_bytes(raw):
            by_day[day].append(delivery)
    return dict(by_day)


def why_not_a_partition(day: date) -> str | None:
    key = day.isoformat()
    if daily_partitions.has_partition_key(key):
        return None
    if key < FIRST_DAY:
        return f"before the first partition {FIRST_DAY}"
    return "the day has not ended yet in Europe/London (the 08:00 schedule builds it)"


def split_by_partition(by_day: dict[date, list[Delivery]]) -> tuple[dict[date, list[Delivery]], dict[date, str]]:
    """(the days to run with their files, the days skipped with the reason), each by date."""
    skipped = {day: reason for day in sorted(by_day) if (reason := why_not_a_partition(day))}
    runnable = {day: by_day[day] for day in sorted(by_day) if day not in skipped}
    return runnable, skipped


def run_key(day: date, deliveries: list[Delivery]) -> str:
    """Changes whenever a file of the day is re-delivered, so a correction is never swallowed."""
    digest = hashlib.sha256(repr(sorted(deliveries)).encode()).hexdigest()[:16]
    return f"{day.isoformat()}:{digest}"


def day_run(day: date, deliveries: list[Delivery]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key(day, deliveries),
        partition_key=day.isoformat(),
        tags={"octo/trigger": "landing_sensor", "octo/files": str(len(deliveries))},
    )


def landing_event(delivered: list[Delivery], days: list[date]) -> dg.AssetMaterialization:
    """The external landing folder changed: recorded so its freshness shows in the UI."""
    return dg.AssetMaterialization(
        asset_key=LANDING.key,
        metadata={
            "files_delivered": len(delivered),
            "days": ", ".join(d.isoformat() for d in days),
            "files": dg.MetadataValue.md("\n".join(f"- `{path}`" for path, _, _ in delivered[:50])),
        },
    )


def snapshot_missing(instance: dg.DagsterInstance) -> bool:
    return any(instance.get_latest_materialization_event(key) is None for key in SNAPSHOT_TABLES)


@dg.sensor(
    name="landing_sensor",
    job=DAILY_JOB,
    minimum_interval_seconds=30,
    description="New or re-delivered readings files: a run of the daily job for each day they hold.",
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingFolder) -> dg.SensorResult | dg.SkipReason:
    problem = landing.problem()
    if problem:
        return dg.SkipReason(problem)
    root = landing.storage()
    if snapshot_missing(context.instance):
        # the cursor stays put: these files are requested once a snapshot exists
        return dg.SkipReason(
            "waiting for the first source snapshot: turn on source_db_sensor or run source_snapshot_job"
        )
    mark = DeliveryMark.from_cursor(context.cursor) if context.cursor else starting_mark(context.instance)
    delivered = [d for d in list_landing(root) if mark.is_new(d)]
    cursor = mark.advance(delivered).to_cursor()
    if not delivered:
        return dg.SensorResult(skip_reason=f"no new or changed files in {root.url}", cursor=cursor)
    by_day = days_delivered(root, delivered)
    runnable, skipped = split_by_partition(by_day)
    for day, reason in skipped.items():
        context.log.info(f"{day}: not requested, {reason} ({len(by_day[day])} file(s))")
    events = [landing_event(delivered, sorted(by_day))]
    if not runnable:
        reasons = "; ".join(f"{day}: {reason}" for day, reason in skipped.items()) or "they hold no dates"
        return dg.SensorResult(
            skip_reason=f"{len(delivered)} new or changed file(s), no day to run: {reasons}",
            cursor=cursor,
            asset_events=events,
        )
    return dg.SensorResult(
        run_requests=[day_run(day, files) for day, files in runnable.items()], cursor=cursor, asset_events=events
    )
