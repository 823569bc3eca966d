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


def with_utc(frame: pl.DataFrame, local: str, order_keys: list[str], out: str) -> pl.DataFrame:
    """Add column `out`: the UTC instant of the naive wall-clock column `local`.

    `order_keys` identify one meterpoint in one file; the frame is in file order. Repeated
    wall-clock times are rare (two hours a year), so only those rows are ranked: a window
    over every row would cost more than all the rest of the parse.
    """

    def to_utc(ambiguous: str) -> pl.Expr:
        return (
            pl.col(local)
            .dt.replace_time_zone(LOCAL_TZ, ambiguous=ambiguous, non_existent="null")
            .dt.convert_time_zone("UTC")
        )

    frame = frame.with_columns(
        to_utc("earliest").alias(out), _ambiguous=to_utc("null").is_null() & to_utc("earliest").is_not_null()
    )
    if not frame["_ambiguous"].any():
        return frame.drop("_ambiguous")
    frame = frame.with_row_index("_row")
    later = frame.filter("_ambiguous").filter(pl.int_range(pl.len()).over([*order_keys, local]) > 0)["_row"]
    return frame.with_columns(
        pl.when(pl.col("_row").is_in(later.implode())).then(to_utc("latest")).otherwise(pl.col(out)).alias(out)
    ).drop("_row", "_ambiguous")


def half_hours_in_day(day: date) -> int:
    """46, 48 or 50: the number of half hours in a Europe/London day."""
    tz = ZoneInfo(LOCAL_TZ)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)  # aware arithmetic is wall-clock: next local midnight
    return int((end.timestamp() - start.timestamp()) // 1800)
