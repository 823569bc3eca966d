"""Europe/London wall-clock time -> UTC instants, vectorised.

A reading's `interval_start` is naive local time. Two days a year need care:
- clocks go forward (last Sunday of March): 01:00-01:59 does not exist -> null, the
  caller quarantines the row;
- clocks go back (last Sunday of October): 01:00-01:59 happens twice. A meterpoint's first
  row at such a time (in file order) is the earlier instant (BST), its second the later (GMT).
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

LOCAL_TZ = "Europe/London"


def occurrence_in_file(*keys: str) -> pl.Expr:
    """0 for the first row with these key values (in row order), 1 for the second, ..."""
    return pl.int_range(pl.len()).over(list(keys))


def local_to_utc(local: pl.Expr, occurrence: pl.Expr) -> pl.Expr:
    """Naive wall-clock datetimes -> UTC; null where the wall-clock time does not exist."""
    ambiguous = pl.when(occurrence == 0).then(pl.lit("earliest")).otherwise(pl.lit("latest"))
    return local.dt.replace_time_zone(
        LOCAL_TZ, ambiguous=ambiguous, non_existent="null"
    ).dt.convert_time_zone("UTC")


def half_hours_in_day(day: date) -> int:
    """46, 48 or 50: the number of half hours in a Europe/London day."""
    tz = ZoneInfo(LOCAL_TZ)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)  # aware arithmetic is wall-clock: next local midnight
    return int((end.timestamp() - start.timestamp()) // 1800)
