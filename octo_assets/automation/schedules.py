"""The clock: the nightly source snapshot and the 08:00 run of the day before, Europe/London."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from octo_assets.automation.housekeeping import lake_housekeeping_schedule
from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_JOB, snapshot_run_config
from octo_assets.automation.landing_sensor import IN_FLIGHT, days_in_runs, landing_changes, requests_for
from octo_assets.domain import LOCAL_TZ
from octo_assets.home import refusal
from octo_assets.resources import LakeStorage, LandingFolder

# 00:30 exists exactly once every day: clocks change at 01:00 GMT / 02:00 BST
SNAPSHOT_CRON = "30 0 * * *"

DAILY_CRON = "0 8 * * *"  # the files are in by 08:00, Europe/London


@dg.schedule(
    name="daily_readings_schedule",
    cron_schedule=DAILY_CRON,
    execution_timezone=LOCAL_TZ,
    job=DAILY_JOB,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="08:00 Europe/London: yesterday's readings, analytics and catalog, unless already built from "
    "every file now landed; and any other day whose landing files changed since it was built (what the landing "
    "sensor would request, if it is off). Never a day whose run is queued or running.",
)
def daily_readings_schedule(
    context: dg.ScheduleEvaluationContext, landing: LandingFolder, lake: LakeStorage
) -> list[dg.RunRequest] | dg.SkipReason:
    refused = refusal(context.instance, lake)  # the instance serves another lake (octo_assets.home)
    if refused:
        return dg.SkipReason(refused)
    # the tick's own London date, not the run's: a 23- or 25-hour day still asks for the right day
    tick = context.scheduled_execution_time or datetime.now(ZoneInfo(LOCAL_TZ))
    yesterday = tick.astimezone(ZoneInfo(LOCAL_TZ)).date() - timedelta(days=1)
    day = yesterday.isoformat()
    # yesterday by date: one run however often the tick is retried
    by_date = dg.RunRequest(run_key=day, partition_key=day)
    # a day already being built is not built twice (the landing sensor's run of it, on by default;
    # it reads the files landed by the time it lists them, and the sensor asks again for later ones)
    busy = days_in_runs(context.instance, IN_FLIGHT)
    problem = landing.problem() or lake.problem()
    if problem:
        context.log.warning(f"only {yesterday} requested: {problem}")
        return [by_date] if day not in busy else dg.SkipReason(f"{yesterday} is being built; {problem}")
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
    # yesterday is built already when every file holding it is in its published partition (the
    # landing sensor built it as its files landed): asked for only when that is not known for sure.
    # Where no file holds it, its run fails saying so, as its freshness check does.
    built = yesterday in changes.held and yesterday not in changes.stale and not changes.unread
    requests = [by_date] if not built and day not in busy else []
    requests += [run for run in runs if run.partition_key != day and run.partition_key not in busy]
    if requests:
        return requests
    why = "being built" if day in busy else "built from every file now landed"
    return dg.SkipReason(f"{yesterday} is {why}, and no other day's landing files changed since it was built")


# Off by default: source_db_sensor (on) snapshots the database within a minute of every change, the
# midnight update included, so this schedule would take the same snapshot again at 00:30. Turn it
# on instead of the sensor to snapshot at a fixed time (also on days the database did not change).
@dg.schedule(
    name="source_snapshot_schedule",
    cron_schedule=SNAPSHOT_CRON,
    execution_timezone=LOCAL_TZ,
    job=SNAPSHOT_JOB,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="00:30 Europe/London, after the database's midnight update: today's source snapshot. Off by "
    "default: source_db_sensor snapshots every change of the database; turn on one of the two.",
)
def source_snapshot_schedule(context: dg.ScheduleEvaluationContext, lake: LakeStorage) -> dg.RunRequest | dg.SkipReason:
    refused = refusal(context.instance, lake)  # the instance serves another lake (octo_assets.home)
    if refused:
        return dg.SkipReason(refused)
    # the tick's own date, not the run's start: a queued run still snapshots for its day
    tick = context.scheduled_execution_time or datetime.now(ZoneInfo(LOCAL_TZ))
    snapshot_date = tick.astimezone(ZoneInfo(LOCAL_TZ)).date().isoformat()
    return dg.RunRequest(run_key=snapshot_date, run_config=snapshot_run_config(snapshot_date))


SCHEDULES = [daily_readings_schedule, source_snapshot_schedule, lake_housekeeping_schedule]
