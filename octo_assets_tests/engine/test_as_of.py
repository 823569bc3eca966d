"""What an analyst's moment means: a time without a zone is Europe/London's wall clock, in summer
(an hour ahead of UTC) as in winter, whatever the date the tests run (catalog.connect.moment); and
the table version current then is the one committed last at or before it (lake.Lake.pin), on a
lake whose commits were made on known summer and winter days (support.aged)."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from octo_assets.catalog.connect import moment
from octo_assets.lake import Lake
from octo_assets_tests.support.aged import age

UTC = timezone.utc


@pytest.mark.parametrize(
    "typed, utc",
    [
        ("2021-07-01 09:00", datetime(2021, 7, 1, 8, 0, tzinfo=UTC)),  # BST
        ("2021-07-01T09:00:00", datetime(2021, 7, 1, 8, 0, tzinfo=UTC)),
        ("2021-01-15 09:00", datetime(2021, 1, 15, 9, 0, tzinfo=UTC)),  # GMT
        ("2021-03-28 00:30", datetime(2021, 3, 28, 0, 30, tzinfo=UTC)),  # before the clocks go forward
        ("2021-03-28 02:30", datetime(2021, 3, 28, 1, 30, tzinfo=UTC)),  # after
        ("2021-10-31 00:30", datetime(2021, 10, 30, 23, 30, tzinfo=UTC)),  # before they go back
        ("2021-10-31 02:30", datetime(2021, 10, 31, 2, 30, tzinfo=UTC)),  # after
        ("2021-07-01 09:00+00:00", datetime(2021, 7, 1, 9, 0, tzinfo=UTC)),  # a zone given is kept
        ("2021-07-01 09:00+02:00", datetime(2021, 7, 1, 7, 0, tzinfo=UTC)),
        (" 2021-07-01 09:00 ", datetime(2021, 7, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_a_moment_without_a_zone_is_london_wall_clock_summer_and_winter(typed, utc):
    assert moment(typed).astimezone(UTC) == utc


def test_an_aware_datetime_is_taken_as_it_is_and_a_naive_one_as_london_time():
    aware = datetime(2021, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert moment(aware).astimezone(UTC) == datetime(2021, 7, 1, 14, 0, tzinfo=UTC)
    assert moment(datetime(2021, 7, 1, 9, 0)).astimezone(UTC) == datetime(2021, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["yesterday", "2021-07-01 25:00", "01/07/2021 09:00", ""])
def test_a_moment_that_is_not_one_says_so(typed):
    with pytest.raises(ValueError, match=f"^{typed!r} is not a date and time$"):
        moment(typed)


def aged_table(tmp_path, commits: list[datetime]) -> Lake:
    """Table `t` with one commit a moment: version v replaces the day with k = v."""
    lake = Lake(str(tmp_path / "lake"))
    for k in range(len(commits)):
        lake.publish("t", "date", "2021-07-01", pl.DataFrame({"k": [k]}), f"run-{k}")
    age(tmp_path / "lake" / "t", dict(enumerate(commits)))
    return lake


@pytest.mark.parametrize(
    "commits, asked, version",
    [
        # summer: commits at 08:00, 09:30 and 11:00 UTC (09:00, 10:30, 12:00 BST)
        ("summer", "2021-07-01 08:59", None),  # before the first commit (07:59 UTC)
        ("summer", "2021-07-01 09:00", 0),
        ("summer", "2021-07-01 10:29", 0),  # 09:29 UTC: read as UTC it would be version 1
        ("summer", "2021-07-01 10:30", 1),
        ("summer", "2021-07-01 11:59", 1),  # 10:59 UTC: read as UTC, version 2
        ("summer", "2021-07-01 12:00", 2),
        # winter: the same wall-clock times are UTC
        ("winter", "2021-01-15 07:59", None),
        ("winter", "2021-01-15 08:00", 0),
        ("winter", "2021-01-15 09:29", 0),
        ("winter", "2021-01-15 09:30", 1),
        ("winter", "2021-01-15 11:00", 2),
    ],
)
def test_the_version_as_of_a_london_moment_is_the_last_committed_by_then(tmp_path, commits, asked, version):
    day = "2021-07-01" if commits == "summer" else "2021-01-15"
    # 08:00, 09:30 and 11:00 UTC: in summer 09:00, 10:30 and 12:00 BST, in winter the same GMT
    stamps = [datetime.fromisoformat(f"{day} {t}+00:00") for t in ("08:00", "09:30", "11:00")]
    lake = aged_table(tmp_path, stamps)
    pinned = lake.pin("t", moment(asked))
    if version is None:
        assert pinned is None
        return
    assert (pinned.version, pinned.committed_at) == (version, stamps[version])
    assert lake.read_day("t", "date", "2021-07-01")["k"].to_list() == [2]  # the latest is untouched
