"""Which delivery folders a run or a tick lists (readings.landing.plan, a pure function), at its
edges: dated folders in the future, names that look like dates and are not, a folder left half
read outside the open window where the store has no folder signatures (S3), a run's own days,
and a landing area with no dated folder at all. (What listing them then does over months of
deliveries: engine/test_landing_history.py.)"""

from datetime import date, timedelta

import polars as pl
import pytest

from octo_assets.readings import landing
from octo_assets.readings.landing import FOLDER_SCHEMA, TOP_LEVEL, open_since, plan

TODAY = date(2021, 1, 12)


def day(n: int) -> str:
    return (date(2021, 1, 1) + timedelta(days=n - 1)).isoformat()


def row(folder: str, complete: bool = True, signature: str | None = "sig", days: list[date] | None = None) -> dict:
    """A folder's row as the state keeps it: complete folders keep the signature they were listed with."""
    held = days if days is not None else ([date.fromisoformat(folder[:10])] if landing.folder_day(folder) else [])
    return {
        "folder": folder,
        "days": held,
        "files": 2,
        "complete": complete,
        "signature": signature if complete else None,
        "subfolders": [],
        "newest_seen_ns": 1,
        "listed_ns": 1,
    }


def state(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=FOLDER_SCHEMA)


def on_disk(folders: list[str], signature: str = "sig") -> dict[str, str | None]:
    """Each dated folder's signature now, as on disk (unchanged: the recorded one)."""
    return {f: signature for f in folders if landing.folder_day(f)}


TWELVE_DAYS = [day(n) for n in range(1, 13)]


def test_the_open_window_is_the_newest_dated_folders_up_to_today():
    folders = state(*(row(f) for f in TWELVE_DAYS))
    for open_days, window in [(1, [day(12)]), (2, [day(11), day(12)]), (3, [day(10), day(11), day(12)])]:
        chosen = plan(TWELVE_DAYS, folders, on_disk(TWELVE_DAYS), open_days, TODAY)
        assert chosen == [TOP_LEVEL, *window], open_days


@pytest.mark.parametrize(
    "future",
    [
        (TODAY + timedelta(days=1)).isoformat(),  # tomorrow: a clock ahead, or a sender's mistake
        "2099-01-01",
        (TODAY + timedelta(days=1)).isoformat() + "-early",  # dated, with a suffix
    ],
)
def test_a_dated_folder_in_the_future_is_listed_but_does_not_move_the_window(future):
    """The window ends at the newest folder not after today: a folder dated in the future would
    otherwise push every real folder out of it, and their new files would wait for a signature
    (on S3: for ever). The future folder itself is listed every time."""
    top = [*TWELVE_DAYS, future]
    folders = state(*(row(f) for f in top))
    assert open_since([landing.folder_day(f) for f in top], 2, TODAY) == date.fromisoformat(day(11))
    assert plan(top, folders, on_disk(top), 2, TODAY) == [TOP_LEVEL, day(11), day(12), future]
    on_s3 = folders.with_columns(signature=pl.lit(None, pl.String))  # S3: no signatures, in the state or now
    assert plan(top, on_s3, {}, 2, TODAY) == [TOP_LEVEL, day(11), day(12), future]


def test_the_window_is_the_newest_past_folders_when_today_has_none_yet():
    top = [day(n) for n in range(1, 11)]  # the 11th and 12th not delivered yet
    folders = state(*(row(f) for f in top))
    assert plan(top, folders, on_disk(top), 2, TODAY) == [TOP_LEVEL, day(9), day(10)]


@pytest.mark.parametrize("name", ["2021-02-30", "2021-13-01", "2021-1-05", "20210105", "backlog"])
def test_a_folder_not_named_by_a_real_date_is_listed_every_time(name):
    top = [*TWELVE_DAYS, name]
    folders = state(*(row(f) for f in top))
    assert landing.folder_day(name) is None
    assert name in plan(top, folders, on_disk(top), 2, TODAY)


@pytest.mark.parametrize("signatures", ["disk", "s3"])
def test_a_folder_left_half_read_outside_the_open_window_is_listed_until_read(signatures):
    """A tick's budget can end inside an old folder. On disk its signature would change too; on
    S3 there are no signatures (None every time): only the row's `complete` says to list it."""
    half_read = day(3)
    folders = state(*(row(f, complete=f != half_read) for f in TWELVE_DAYS))
    now = on_disk(TWELVE_DAYS) if signatures == "disk" else {}
    if signatures == "s3":  # what the state holds on S3: no signature for any folder
        folders = folders.with_columns(signature=pl.lit(None, pl.String))
    assert plan(TWELVE_DAYS, folders, now, 2, TODAY) == [TOP_LEVEL, half_read, day(11), day(12)]
    read = folders.with_columns(complete=pl.lit(True))  # read to the end: left alone again
    if signatures == "disk":
        read = read.with_columns(signature=pl.lit("sig"))
    assert plan(TWELVE_DAYS, read, now, 2, TODAY) == [TOP_LEVEL, day(11), day(12)]


def test_on_disk_a_changed_signature_lists_an_old_folder_and_an_unchanged_one_does_not():
    folders = state(*(row(f) for f in TWELVE_DAYS))
    now = on_disk(TWELVE_DAYS) | {day(2): "another"}  # a file added, removed or renamed in it
    assert plan(TWELVE_DAYS, folders, now, 2, TODAY) == [TOP_LEVEL, day(2), day(11), day(12)]


def test_a_run_lists_the_folders_holding_its_days_and_new_folders_always():
    late = row(day(12), days=[date.fromisoformat(day(12)), date.fromisoformat(day(3))])  # a correction of the 3rd
    folders = state(*(row(f) for f in TWELVE_DAYS[:-1]), late)
    top = [*TWELVE_DAYS, "2021-01-13"]  # the 13th: new, not in the state
    chosen = plan(top, folders, on_disk(TWELVE_DAYS), 1, TODAY + timedelta(days=1), {date.fromisoformat(day(3))})
    assert chosen == [TOP_LEVEL, day(3), day(12), "2021-01-13"]
    assert plan(top, folders, on_disk(TWELVE_DAYS), 1, TODAY, everything=True) == [TOP_LEVEL, *top]


def test_without_dated_folders_every_folder_is_listed():
    top = ["backlog", "archive"]
    assert open_since([], 2, TODAY) is None
    folders = state(*(row(f) for f in top))
    assert plan(top, folders, {}, 2, TODAY) == [TOP_LEVEL, "archive", "backlog"]


def test_a_folder_recorded_with_a_day_before_the_first_partition_is_listed_again():
    """Recorded by an earlier version, which did not quarantine such rows: listed (and its files read)
    once more, so that those rows are quarantined on a day of their own (readings.stage)."""
    old = day(3)
    folders = state(*(row(f) for f in TWELVE_DAYS if f != old), row(old, days=[date(2020, 12, 31), date(2021, 1, 3)]))
    assert plan(TWELVE_DAYS, folders, on_disk(TWELVE_DAYS), 2, TODAY) == [TOP_LEVEL, old, day(11), day(12)]
    fixed = state(*(row(f) for f in TWELVE_DAYS))
    assert plan(TWELVE_DAYS, fixed, on_disk(TWELVE_DAYS), 2, TODAY) == [TOP_LEVEL, day(11), day(12)]
