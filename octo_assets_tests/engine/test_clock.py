from datetime import date, datetime

import polars as pl
import pytest

from octo_assets.domain import half_hours_in_day
from octo_assets.readings.clock import with_utc


@pytest.mark.parametrize(
    "day, half_hours",
    [(date(2021, 1, 1), 48), (date(2021, 3, 28), 46), (date(2021, 10, 31), 50), (date(2021, 6, 1), 48)],
)
def test_half_hours_in_a_london_day(day, half_hours):
    assert half_hours_in_day(day) == half_hours


def to_utc(rows: list[tuple[str, str, str]]) -> list:
    frame = pl.DataFrame(rows, schema=["file", "meterpoint_id", "local"], orient="row").with_columns(
        local=pl.col("local").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S")
    )
    return with_utc(frame, "local", ["file", "meterpoint_id"], "utc")["utc"].dt.replace_time_zone(None).to_list()


def test_winter_is_utc_and_summer_is_an_hour_ahead():
    assert to_utc([("f", "a", "2021-01-01 00:30:00"), ("f", "a", "2021-07-01 00:30:00")]) == [
        datetime(2021, 1, 1, 0, 30),
        datetime(2021, 6, 30, 23, 30),
    ]


def test_clocks_back_second_row_at_a_repeated_time_is_the_later_instant():
    rows = [
        ("f", "a", "2021-10-31 01:00:00"),
        ("f", "b", "2021-10-31 01:00:00"),
        ("f", "a", "2021-10-31 01:00:00"),
        ("g", "a", "2021-10-31 01:00:00"),  # another file: its own first
        ("f", "a", "2021-10-31 02:00:00"),
    ]
    assert to_utc(rows) == [
        datetime(2021, 10, 31, 0, 0),  # a, first: 01:00 BST
        datetime(2021, 10, 31, 0, 0),  # b, its own first
        datetime(2021, 10, 31, 1, 0),  # a, second: 01:00 GMT
        datetime(2021, 10, 31, 0, 0),
        datetime(2021, 10, 31, 2, 0),
    ]


def test_clocks_back_third_and_later_rows_at_a_repeated_time_stay_the_later_instant():
    rows = [("f", "a", "2021-10-31 01:30:00")] * 4 + [("f", "a", "2021-10-31 01:00:00")] * 3
    assert to_utc(rows) == [datetime(2021, 10, 31, 0, 30)] + [datetime(2021, 10, 31, 1, 30)] * 3 + [
        datetime(2021, 10, 31, 0, 0),
        datetime(2021, 10, 31, 1, 0),
        datetime(2021, 10, 31, 1, 0),
    ]


def test_clocks_forward_missing_hour_is_null():
    rows = [("f", "a", "2021-03-28 00:30:00"), ("f", "a", "2021-03-28 01:30:00"), ("f", "a", "2021-03-28 02:00:00")]
    assert to_utc(rows) == [datetime(2021, 3, 28, 0, 30), None, datetime(2021, 3, 28, 1, 0)]
