"""The landing-area sensor: new or changed readings files -> a run for each day they hold.

A file counts as delivered whatever its modification time: written in place, copied or moved
keeping an old mtime (`cp -p`, `rsync -t`, `mv`), re-delivered with the same size, in a
sub-folder. Each tick compares the listing with the landing index the lake keeps
(readings.landing): a version the index does not know is read, once, to learn its days (with
the parser's own grammar: readings.parse.document_days) and its content hash; its days are then
compared with what the lake has built, file by file (the `readings_files` accounting of each
day's published partition). A day is requested when one of the files holding it, in the version
now landed, is not in its published partition. So a late correction to a day weeks old re-runs
that day, a file the 08:00 run happened to read for another day is still requested for its own,
and turning the sensor on over a built lake requests nothing. A day with a run that has not
started yet (queued) is not requested again: that run lists the landing area when it starts.

The cursor is one number: the first sight up to which versions have been compared (bounded
however many files land). The work of a tick is bounded too: it reads new files until
READ_BUDGET_S after it began, then records what it learnt; what is left is read on the next
ticks, and days are requested once every new file's days are known. A backlog of new files is
read by a worker process a core (readings.learn); on disk, the versions earlier ticks listed
and left unread are read while the tick lists, a file counting only if it was that version,
settled, when opened, and still is in the listing. A deleted file requests nothing: its rows
stay in the lake, and a re-run of its day refuses to drop them (readings.ingest,
LandingFilesGone).
"""

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import dagster as dg
import polars as pl

from octo_assets.automation.jobs import DAILY_JOB
from octo_assets.domain import FIRST_DAY
from octo_assets.home import refusal
from octo_assets.keys import AGREEMENT, PRODUCT, READINGS
from octo_assets.lake import DAY_KEY, FILES_TABLE, Lake
from octo_assets.partitions import daily_partitions
from octo_assets.readings import landing as landing_index
from octo_assets.readings.assets import LANDING
from octo_assets.readings.learn import LearnTask, learn
from octo_assets.readings.workers import Pool
from octo_assets.resources import LakeStorage, LandingFolder
from octo_assets.settings import OPEN_DAYS, cores
from octo_assets.storage import Storage

# the analytics in the daily job read the latest snapshot of these: without one every run fails
SNAPSHOT_TABLES = [AGREEMENT, PRODUCT]
PARTITION_TAG = "dagster/partition"
# a tick reads new files until this long after it began (its listing included; at least one batch),
# then records what it learnt. At 1M new files in a flat folder, recording took 6-10 s after a
# 10 s budget (ticks of 15.8-20.5 s, bench/RESULTS.md). With 5 s they took 13.5-23.5 s on a slow
# day: listing and indexing a flat million files is most of a tick there, whatever the budget
READ_BUDGET_S = 5.0
FILES_PER_READ = 2_000
# from this many new files a tick reads them in READERS worker processes, the cores parsing
# together; below it one process does (a worker's start, ~0.5 s, would cost more than it saves)
POOL_FILES = 20_000
READERS = cores()
# a tick that read nothing while it listed reads at least this long (or its budget, if less) after
# the listing, however long that took (on a loaded machine, more than the budget): else one batch
READ_AT_LEAST_S = 3.0
LEARNT_SCHEMA = {"path": pl.String, "sha": pl.String, "days": pl.List(pl.Date), "rows": pl.Int64}


# a run of a day in one of these states has not listed the landing area yet: it reads every file
# landed by the time it starts. STARTED: it may have listed before the newest files landed
NOT_STARTED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
IN_FLIGHT = [*NOT_STARTED, dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class LandingChanges:
    stale: dict[date, list[str]]  # day -> the files holding it whose landed version it was not built from
    digests: dict[date, str]  # day -> a digest of every file version holding it (the run key)
    examined: int  # versions compared this time
    unread: int  # new versions whose days are not known yet (left for the next tick)
    listed_at_ns: int
    held: frozenset[date] = frozenset()  # the days the compared versions hold


def content_days(
    landing: Storage,
    paths: Sequence[str],
    report_on: date,
    deadline: float,
    readers: int = 1,
    tokens: Sequence[str] | None = None,
    stop: threading.Event | None = None,
) -> pl.DataFrame:
    """path, sha, days of the files read, in whole batches, until `deadline` (time.monotonic; at
    least one batch) or `stop`, by `readers` processes (1: this one). With `tokens` (on disk), a
    file is read only if it is still that version. A file in which no day can be read is given
    `report_on`: the run requested for that day reports it."""

    def batches():
        for start in range(0, len(paths), FILES_PER_READ):
            if start and (time.monotonic() > deadline or (stop is not None and stop.is_set())):
                return  # the batches already handed out are finished: at most one a reader
            end = start + FILES_PER_READ
            versions = None if tokens is None else list(tokens[start:end])
            yield LearnTask(landing.url, list(paths[start:end]), report_on, versions)

    found = []
    with Pool(readers, what="landing reader") as pool:
        for rows in pool.run(learn, batches(), window=readers):
            found.extend(rows)
    return pl.DataFrame(found, schema=LEARNT_SCHEMA, orient="row")


def unread_versions(lake: Lake) -> pl.DataFrame:
    """path, token of the file versions an earlier listing saw that are not read yet: those of the
    top level and of the folders not complete (the folders `landing.plan` lists again)."""
    folders = landing_index.load_folders(lake).frame.filter(~pl.col("complete"))["folder"].to_list()
    tables = [landing_index.load_files(lake, folder).frame for folder in [landing_index.TOP_LEVEL, *folders]]
    return pl.concat(table.filter(pl.col("days").is_null()).select("path", "token") for table in tables)


def landing_changes(
    landing: Storage,
    lake: Lake,
    since_ns: int | None,
    budget_s: float | None = None,
    open_days: int = OPEN_DAYS,
    unlisted_since_ns: int | None = None,
) -> LandingChanges:
    """The days whose published readings lack a landed file version first seen after `since_ns`
    (None: any version), learning the days of new versions until `budget_s` (default
    READ_BUDGET_S) after it began. Only the folders `landing.plan` chooses are listed; of the
    others, those with a version first seen after `unlisted_since_ns` (default `since_ns`; both
    None: every one) are compared too."""
    seen, learnt = survey_and_learn(landing, lake, open_days, READ_BUDGET_S if budget_s is None else budget_s)
    seen = landing_index.record(lake, seen, learnt)
    unread = seen.current.filter(pl.col("days").is_null()).height
    unlisted = since_ns if unlisted_since_ns is None else unlisted_since_ns
    # no cursor yet: every folder's versions are compared, also those of the folders earlier ticks read
    # to the end (a backlog in folders older than the open window takes several ticks to read)
    examined = landing_index.versions_since(lake, seen, since_ns, -1 if unlisted is None else unlisted)
    stale: dict[date, list[str]] = {}
    digests: dict[date, str] = {}
    held = sorted(examined["days"].explode().drop_nulls().unique())
    for day in held:
        candidates = examined.filter(pl.col("days").list.contains(day)).select("path", "sha")
        missing = candidates.join(_built_from(lake, day), on="sha", how="anti").sort("path")
        if missing.height:
            stale[day] = missing["path"].to_list()
            # the run key: the same new versions are requested once, any other delivery gets its own run
            digests[day] = hashlib.sha256(repr(list(missing.iter_rows())).encode()).hexdigest()[:16]
    return LandingChanges(stale, digests, examined.height, unread, seen.listed_at_ns, frozenset(held))


def survey_and_learn(
    landing: Storage, lake: Lake, open_days: int, budget_s: float
) -> tuple[landing_index.Survey, pl.DataFrame | None]:
    """The landing area listed (landing.survey), and what reading its new versions until
    `budget_s` from now told (path, sha, days, rows; None: nothing read).

    On disk, the versions earlier ticks listed and left unread are read while this one lists (at
    1M files in a flat folder the listing takes as long as the reading): a file read so counts
    only if it was still that version when opened (its token) and still is in this listing."""
    deadline, report_on = time.monotonic() + budget_s, newest_day()
    known = unread_versions(lake) if landing.is_local else pl.DataFrame(schema={"path": pl.String, "token": pl.String})
    with ThreadPoolExecutor(1, thread_name_prefix="octo-landing-read") as thread:
        stop, ahead = threading.Event(), None
        if known.height >= max(POOL_FILES, 1):
            ahead = thread.submit(
                content_days, landing, known["path"], report_on, deadline, READERS, known["token"], stop
            )
        try:
            seen = landing_index.survey(landing, lake, landing_index.now_ns(), open_days=open_days)
        except BaseException:
            stop.set()  # the reading ends with the batches handed out
            raise
        early = ahead.result() if ahead is not None else pl.DataFrame(schema=LEARNT_SCHEMA)
    unknown = seen.current.filter(pl.col("days").is_null()).select("path", "token")
    learnt = early.join(known, on="path").join(unknown, on=["path", "token"], how="semi").drop("token")
    rest = unknown.join(learnt, on="path", how="anti")["path"]
    if ahead is None:  # nothing read yet: at least one batch, and READ_AT_LEAST_S
        deadline = max(deadline, time.monotonic() + min(READ_AT_LEAST_S, budget_s))
    if rest.len() and (ahead is None or time.monotonic() < deadline):  # else: on the next tick
        readers = READERS if rest.len() >= POOL_FILES else 1
        learnt = pl.concat([learnt, content_days(landing, rest, report_on, deadline, readers)])
    return seen, learnt if learnt.height else None


def _built_from(lake: Lake, day: date) -> pl.DataFrame:
    """The content hashes (sha) of the file versions the day's published readings were built from:
    a version whose content is there, under whatever name, adds nothing to the day."""
    published = lake.read_day(FILES_TABLE, DAY_KEY, day.isoformat())
    if published is None:
        return pl.DataFrame(schema={"sha": pl.String})
    return published.select("sha")


def newest_day() -> date:
    """The newest day that can be built: yesterday in Europe/London."""
    return date.fromisoformat(daily_partitions.get_last_partition_key())


def why_not_a_partition(day: date) -> str | None:
    key = day.isoformat()
    if daily_partitions.has_partition_key(key):
        return None
    if key < FIRST_DAY:
        return f"before the first partition {FIRST_DAY}"
    return "the day has not ended yet in Europe/London (the 08:00 schedule builds it)"


def day_run(day: date, files: list[str], digest: str, trigger: str) -> dg.RunRequest:
    """A run of one day. The key names the versions of every file holding the day, so the same
    landing state is requested once, and any new delivery gets a run of its own."""
    return dg.RunRequest(
        run_key=f"{day.isoformat()}:{digest}",
        partition_key=day.isoformat(),
        tags={"octo/trigger": trigger, "octo/files": str(len(files))},
    )


def requests_for(changes: LandingChanges, trigger: str) -> tuple[list[dg.RunRequest], dict[date, str]]:
    """(run requests for the stale days, the days skipped with the reason)."""
    skipped = {day: reason for day in sorted(changes.stale) if (reason := why_not_a_partition(day))}
    runs = [
        day_run(day, files, changes.digests[day], trigger)
        for day, files in sorted(changes.stale.items())
        if day not in skipped
    ]
    return runs, skipped


def days_in_runs(instance: dg.DagsterInstance, statuses: list[dg.DagsterRunStatus]) -> set[str]:
    """The days (partition keys) of the runs in `statuses` that build that day's readings: runs of
    the daily job, or of lake/readings launched from the UI (a range run has no one day: not here)."""
    days = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses)):
        day = run.tags.get(PARTITION_TAG)
        if day and (run.job_name == DAILY_JOB.name or READINGS in (run.asset_selection or ())):
            days.add(day)
    return days


def landing_event(changes: LandingChanges) -> dg.AssetMaterialization:
    """The external landing area changed: recorded so its freshness shows in the UI."""
    files = sorted({f for fs in changes.stale.values() for f in fs})
    return dg.AssetMaterialization(
        asset_key=LANDING.key,
        metadata={
            "files_delivered": len(files),
            "days": ", ".join(d.isoformat() for d in sorted(changes.stale)),
            "files": dg.MetadataValue.md("\n".join(f"- `{path}`" for path in files[:50])),
        },
    )


def snapshot_missing(instance: dg.DagsterInstance) -> bool:
    return any(instance.get_latest_materialization_event(key) is None for key in SNAPSHOT_TABLES)


@dg.sensor(
    name="landing_sensor",
    job=DAILY_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,  # a delivery's days are built within a minute, unasked
    description="New or re-delivered readings files, whatever their modification time: a run of the daily "
    "job for each day they hold that the lake has not built from them.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, landing: LandingFolder, lake: LakeStorage
) -> dg.SensorResult | dg.SkipReason:
    refused = refusal(context.instance, lake)  # the instance serves another lake (octo_assets.home)
    if refused:
        return dg.SkipReason(refused)
    problem = landing.problem() or lake.problem()
    if problem:
        return dg.SkipReason(problem)
    if snapshot_missing(context.instance):
        # the cursor stays put: these files are requested once a snapshot exists
        return dg.SkipReason(
            "waiting for the first source snapshot: source_db_sensor takes it (if it was turned off, turn it on "
            "or run source_snapshot_job)"
        )
    since = json.loads(context.cursor)["seen_through_ns"] if context.cursor else None
    changes = landing_changes(landing.storage(), lake.lake(), since, open_days=landing.open_days)
    if changes.unread:
        # days are requested once every new file's days are known: one run a day, not one a tick
        return dg.SensorResult(
            skip_reason=f"learning the days of new files: {changes.unread:,} left to read on the next ticks",
            cursor=context.cursor,
        )
    cursor = json.dumps({"seen_through_ns": changes.listed_at_ns})
    if not changes.stale:
        return dg.SensorResult(
            skip_reason=f"no new or changed files in {landing.path} ({changes.examined:,} compared)", cursor=cursor
        )
    runs, skipped = requests_for(changes, "landing_sensor")
    # a day whose run has not started yet is not asked for twice: that run reads these files too
    waiting = days_in_runs(context.instance, NOT_STARTED)
    for run in runs:
        if run.partition_key in waiting:
            skipped[date.fromisoformat(run.partition_key)] = "a run of it that has not started yet will read its files"
    runs = [run for run in runs if run.partition_key not in waiting]
    for day, reason in skipped.items():
        context.log.info(f"{day}: not requested, {reason} ({len(changes.stale[day])} file(s))")
    events = [landing_event(changes)]
    if not runs:
        reasons = "; ".join(f"{day}: {reason}" for day, reason in skipped.items())
        return dg.SensorResult(skip_reason=f"no day to run: {reasons}", cursor=cursor, asset_events=events)
    return dg.SensorResult(run_requests=runs, cursor=cursor, asset_events=events)
