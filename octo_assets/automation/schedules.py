"""The clock: the nightly source snapshot and the 08:00 run of the day before, Europe/London."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from octo_assets.automation.jobs import DAILY_JOB, SNAPSHOT_JOB, snapshot_run_config
from octo_assets.partitions import LOCAL_TZ

# 00:30 exists exactly once every day: clocks change at 01:00 GMT / 02:00 BST
SNAPSHOT_CRON = "30 0 * * *"

# Dagster's own partitioned schedule asks for the day that ended before the tick, in the
# partitions' time zone, so a tick on a 23- or 25-hour day still asks for the right day.
daily_readings_schedule = dg.build_schedule_from_partitioned_job(
    DAILY_JOB,
    name="daily_readings_schedule",
    hour_of_day=8,
    minute_of_hour=0,
    description="08:00 Europe/London: yesterday's readings (all in by then), analytics and catalog.",
)


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


SCHEDULES = [daily_readings_schedule, source_snapshot_schedule]
