"""The clock: the nightly source snapshot and the 08:00 run of the day before, Europe/London."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from octo_assets.automation.housekeeping import lake_housekeeping_schedule
from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_JOB, snapshot_run_config
from octo_assets.automation.landing_sensor import landing_changes, requests_for
from octo_assets.domain import LOCAL_TZ
from octo_assets.resources import LakeStorage, LandingFolder

# 00:30 exists exactly once every day: clocks change at 01:00 GMT / 02:00 BST
SNAPSHOT_CRON = "30 0 * * *"

DAILY_CRON = "0 8 * * *"  # the files are in by 08:00, Europe/London


@dg.schedule(
    name="daily_readings_schedule",
    cron_schedule=DAILY_CRON,
    execution_timezone=LOCAL_TZ,
    job=DAILY_JOB,
    description="08:00 Europe/London: yesterday's readings, analytics and catalog; and any other day whose "
    "landing files changed since it was built (what the landing sensor would request, if it is off).",
)
def daily_readings_schedule(
    context: dg.ScheduleEvaluationContext, landing: LandingFolder, lake: LakeStorage
) -> list[dg.RunRequest]:
    # the tick's own London date, not the run's: a 23- or 25-hour day still asks for the right day
    tick = context.scheduled_execution_time or datetime.now(ZoneInfo(LOCAL_TZ))
    yesterday = tick.astimezone(ZoneInfo(LOCAL_TZ)).date() - timedelta(days=1)
    requests = [dg.RunRequest(run_key=yesterday.isoformat(), partition_key=yesterday.isoformat())]
    problem = landing.problem() or lake.problem()
    if problem:
        context.log.warning(f"only {yesterday} requested: {problem}")
        return requests
    # every version in the folders listed now, and the versions first seen since the day before
    # yesterday in the others (a tick missed, or a run that failed, is retried)
    recent_ns = int((tick - timedelta(days=2)).timestamp() * 1e9)
    changes = landing_changes(
        landing.storage(), lake.lake(), since_ns=None, open_days=landing.open_days, unlisted_since_ns=recent_ns
    )
    runs, skipped = requests_for(changes, "daily_readings_schedule")
    if changes.unread:
        context.log.info(
            f"{changes.unread:,} new files not read yet: the landing sensor (or the next tick) requests their days"
        )
    return requests + [run for run in runs if run.partition_key != yesterday.isoformat()]


@dg.schedule(
    name="source_snapshot_schedule",
    cron_schedule=SNAPSHOT_CRON,
    execution_timezone=LOCAL_TZ,
    job=SNAPSHOT_JOB,
    description="00:30 Europe/London, after the database's midnight update: today's source snapshot.",
)
def source_snapshot_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # the tick's own date, not the run's start: a queued run still snapshots for its day
    tick = context.scheduled_execution_time or datetime.now(ZoneInfo(LOCAL_TZ))
    snapshot_date = tick.astimezone(ZoneInfo(LOCAL_TZ)).date().isoformat()
    return dg.RunRequest(run_key=snapshot_date, run_config=snapshot_run_config(snapshot_date))


SCHEDULES = [daily_readings_schedule, source_snapshot_schedule, lake_housekeeping_schedule]
