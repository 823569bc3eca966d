"""Europe/London wall-clock time -> UTC instants, vectorised.

A reading's `interval_start` is naive local time. Two days a year need care:
- clocks go forward (last Sunday of March): 01:00-01:59 does not exist -> null, the
  caller quarantines the row;
- clocks go back (last Sunday of October): 01:00-01:59 happens twice. A meterpoint's first
  row at such a time (in file order) is the earlier instant (BST), its second the later (GMT).
"""

import polars as pl

from octo_assets.domain import LOCAL_TZ


def to_utc(local: pl.Expr, ambiguous: str = "earliest") -> pl.Expr:
    """The UTC instant of a naive wall-clock time; null where that time does not exist."""
    return local.dt.replace_time_zone(LOCAL_TZ, ambiguous=ambiguous, non_existent="null").dt.convert_time_zone("UTC")


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
