"""Facts shared by the engine (Dagster-free: the readings workers never import Dagster) and the
assets, checks and automation built on it. One home each."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# a day is a Europe/London day: the partitions, the readings' local times and the schedules
LOCAL_TZ = "Europe/London"
# the first day there can be readings for (the case study's)
FIRST_DAY = "2021-01-01"
# offending rows a check shows in the UI (and so all the engine keeps of them); all are counted
SHOWN = 20


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """The UTC instants of a Europe/London day's first and next day's midnight."""
    tz = ZoneInfo(LOCAL_TZ)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)  # aware arithmetic is wall-clock: the next local midnight
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def half_hours_in_day(day: date) -> int:
    """46, 48 or 50: the number of half hours in a Europe/London day."""
    start, end = day_bounds_utc(day)
    return int((end - start).total_seconds() // 1800)
