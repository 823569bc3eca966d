"""Europe/London wall-clock time -> UTC instants, vectorised.

A reading's `interval_start` is naive local time. Two days a year need care:
- clocks go forward (last Sunday of March): 01:00-01:59 does not exist -> null, the
  caller quarantines the row;
- clocks go back (last Sunday of October): 01:00-01:59 happens twice. A meterpoint's first
  row at such a time (in file order) is the earlier instant (BST), its second the later (GMT).
Polars' Europe/London has no summer time after 2099; zoneinfo's goes on (see after_2099).
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.domain import LOCAL_TZ


def to_utc(local: pl.Expr, ambiguous: str = "earliest") -> pl.Expr:
    """The UTC instant of a naive wall-clock time; null where that time does not exist."""
    return local.dt.replace_time_zone(LOCAL_TZ, ambiguous=ambiguous, non_existent="null").dt.convert_time_zone("UTC")


def after_2099(frame: pl.DataFrame, local: str, earlier: str, later: str) -> pl.DataFrame:
    """`frame` with to_utc's `earlier` ("earliest") and `later` ("latest") instants of wall-clock
    times after 2099 taken from zoneinfo, one Python call per such row: call it on distinct times."""
    late = frame.select(pl.arg_where(pl.col(local).dt.year() >= 2100)).to_series()
    if late.is_empty():
        return frame
    tz = ZoneInfo(LOCAL_TZ)
    earliest, latest = zip(*(_zoneinfo_instants(t, tz) for t in frame[local].gather(late)))
    return frame.with_columns(
        frame[earlier].scatter(late, pl.Series(earliest, dtype=frame.schema[earlier])),
        frame[later].scatter(late, pl.Series(latest, dtype=frame.schema[later])),
    )


def _zoneinfo_instants(local: datetime, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    first, second = (local.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    if first.astimezone(tz).replace(tzinfo=None) != local:
        return None, None  # the clocks went forward over it
    return first, second


def resolve_repeated(frame: pl.DataFrame, earlier: str, later: str, keys: list[str], out: str) -> pl.DataFrame:
    """Add column `out`: `earlier`, except for the second and later rows of `keys` (in frame order)
    at a repeated wall-clock time (where `earlier` and `later` differ), which take `later`.

    `keys` identify one meterpoint's wall-clock time in one file. Repeated times are rare (two
    hours a year), so only those rows are ranked: a window over every row would cost more than
    all the rest of the parse.
    """
    repeated = frame.select(pl.arg_where(pl.col(earlier) != pl.col(later))).to_series()
    if repeated.is_empty():
        return frame.with_columns(pl.col(earlier).alias(out))
    rank = frame.select(keys).gather(repeated).select(pl.int_range(pl.len()).over(keys)).to_series()
    second = repeated.filter(rank > 0)
    return frame.with_columns(frame[earlier].scatter(second, frame[later].gather(second)).alias(out))


def with_utc(frame: pl.DataFrame, local: str, order_keys: list[str], out: str) -> pl.DataFrame:
    """Add column `out`: the UTC instant of the naive wall-clock column `local`.

    `order_keys` identify one meterpoint in one file; the frame is in file order.
    """
    frame = frame.with_columns(_earlier=to_utc(pl.col(local)), _later=to_utc(pl.col(local), "latest"))
    return resolve_repeated(frame, "_earlier", "_later", [*order_keys, local], out).drop("_earlier", "_later")
