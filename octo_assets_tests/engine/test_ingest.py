"""Building a day from the landing area (readings.ingest), without Dagster: the newest delivery
wins, every row is accounted for, each file is read once, and a day assembled a bounded part at a
time is exactly the day assembled whole."""

import os
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from octo_assets.lake import Lake
from octo_assets.readings import ingest, steps
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.landing import STATE
from octo_assets.readings.prepass import prestage
from octo_assets.settings import DEFAULT_MEMORY_MB, WorkerLimits
from octo_assets.storage import Storage
from octo_assets_tests.support.days import build_days

DAY = date(2021, 1, 1)


def deliver(ws, name, rows, mtime_s=None):
    path = ws.write_readings(name, rows)
    if mtime_s is not None:
        os.utime(path, (mtime_s, mtime_s))
    return path


def landing_state(ws) -> pl.DataFrame:
    """Every file row of the landing state, whichever folder's table holds it."""
    return pl.read_parquet(Path(ws.lake, STATE, "files", "*.parquet"))


def build(ws, tmp_path, days=(DAY,), memory_mb=DEFAULT_MEMORY_MB, **kwargs):
    """Each day's build, with its readings read back from its Parquet files (`frame`)."""
    landing, lake = Storage(ws.readings), Lake(Storage(ws.lake))
    return build_days(landing, lake, list(days), tmp_path, memory_mb, **kwargs)


def test_a_corrected_redelivery_in_a_subfolder_wins_and_the_conflict_is_reported(workspace, tmp_path):
    deliver(workspace, "m.json", [["2021-01-01 00:00:00", 1.0, "m"], ["2021-01-01 00:30:00", 2.0, "m"]], 1_000)
    deliver(workspace, "2021-01-02/m.json", [["2021-01-01 00:30:00", 5.0, "m"]], 2_000)
    (day,) = build(workspace, tmp_path)
    got = day.frame.sort("interval_start_utc").select("consumption_kwh", pl.col("source_file").cast(pl.String)).rows()
    assert got == [(Decimal("1.000"), "m.json"), (Decimal("5.000"), "2021-01-02/m.json")]
    assert day.duplicates == 1
    assert day.conflicts.select("meterpoint_id", "deliveries", "kept_kwh").rows() == [("m", 2, Decimal("5.000"))]
    assert day.conflicts["values"].to_list() == [[Decimal("2.000"), Decimal("5.000")]]
    assert day.conflicts["sources"].to_list() == [["m.json", "2021-01-02/m.json"]]


def test_delivery_order_is_by_modification_time_within_one_listing_not_by_name(workspace, tmp_path):
    deliver(workspace, "b.json", [["2021-01-01 00:00:00", 1.0, "m"]], 1_000)
    deliver(workspace, "a.json", [["2021-01-01 00:00:00", 9.0, "m"]], 2_000)
    (day,) = build(workspace, tmp_path)
    assert day.frame["consumption_kwh"].to_list() == [Decimal("9.000")]


def test_a_later_delivery_wins_even_with_an_older_modification_time(workspace, tmp_path):
    """Delivery order is when the pipeline first saw a version, not the mtime a sender kept."""
    deliver(workspace, "a.json", [["2021-01-01 00:00:00", 1.0, "m"]], 2_000)
    build(workspace, tmp_path)  # a.json is first seen now
    deliver(workspace, "z-correction.json", [["2021-01-01 00:00:00", 3.0, "m"]], 1_000)  # `cp -p` of an old file
    (day,) = build(workspace, tmp_path)
    assert day.frame["consumption_kwh"].to_list() == [Decimal("3.000")]


def test_the_same_reading_twice_with_equal_values_is_a_duplicate_not_a_conflict(workspace, tmp_path):
    row = ["2021-01-01 00:00:00", 1.0, "m"]
    deliver(workspace, "a.json", [row, row], 1_000)
    deliver(workspace, "b.json", [row], 2_000)
    (day,) = build(workspace, tmp_path)
    assert (day.loaded, day.duplicates, day.conflicts.height) == (1, 2, 0)


def test_every_row_read_is_loaded_duplicate_or_quarantined_file_by_file_across_days(workspace, tmp_path):
    deliver(
        workspace,
        "a.json",
        [
            ["2021-01-01 00:00:00", 1.0, "m"],
            ["2021-01-01 00:00:00", 1.0, "m"],
            ["2021-01-01 00:30:00", -1.0, "m"],
            ["2021-01-02 00:30:00", 1.0, "m"],  # another day: counted there, not here
            ["nonsense", 1.0, "m"],  # no day of its own: counted on the file's first day
            ["2021-1-2 01:00:00", 1.0, "m"],  # not the one grammar: quarantined, on the first day too
        ],
        1_000,
    )
    deliver(workspace, "b.json", [["2021-01-02 01:00:00", 2.0, "m"], ["2021-01-02 01:30:00", 2.0, "n"]], 2_000)
    day1, day2 = build(workspace, tmp_path, [DAY, date(2021, 1, 2)])
    assert (day1.rows_read, day1.loaded, day1.duplicates, day1.quarantined) == (5, 1, 1, 3)
    assert (day2.rows_read, day2.loaded, day2.duplicates, day2.quarantined) == (3, 3, 0, 0)
    accounted = (
        pl.concat([day1.accounting, day2.accounting])
        .group_by("source_file")
        .agg((pl.col("rows_loaded") + pl.col("duplicates") + pl.col("rows_quarantined")).sum().alias("accounted"))
    )
    rows_in_file = dict(landing_state(workspace).select("path", "rows").iter_rows())
    assert dict(accounted.iter_rows()) == rows_in_file == {"a.json": 6, "b.json": 2}


def test_a_day_reads_only_the_files_that_hold_it_and_a_new_file_once(workspace, tmp_path):
    deliver(workspace, "2021-01-01/m.json", [["2021-01-01 00:00:00", 1.0, "m"]], 1_000)
    deliver(workspace, "2021-01-05/m.json", [["2021-01-05 00:00:00", 1.0, "m"]], 1_000)
    deliver(workspace, "both.json", [["2021-01-05 00:30:00", 1.0, "m"], ["2021-01-01 00:30:00", 1.0, "m"]], 1_000)
    (day,) = build(workspace, tmp_path)  # every file is new: all read once, their days learnt
    assert dict(landing_state(workspace).select("path", "days").iter_rows()) == {
        "2021-01-01/m.json": [DAY],
        "2021-01-05/m.json": [date(2021, 1, 5)],
        "both.json": [DAY, date(2021, 1, 5)],
    }
    (workspace.readings / "2021-01-05" / "m.json").chmod(0)  # unreadable: a run of 1 January must not need it
    (again,) = build(workspace, tmp_path)
    assert (again.files, again.quarantine.height) == (2, 0)
    assert set(again.frame["source_file"].cast(pl.String)) == {"2021-01-01/m.json", "both.json"}


@pytest.mark.parametrize(
    "broken",
    [b"{", b"", b'{"columns": ["a", "b"], "data": []}', b'{"columns": ["interval_start"], "data": [["x"]]}', b"[1, 2]"],
)
def test_a_file_with_no_readable_day_is_reported_by_the_run_that_reads_it_and_only_on_that_day(
    workspace, tmp_path, broken
):
    deliver(workspace, "m.json", [["2021-01-01 00:00:00", 1.0, "m"], ["2021-01-02 00:00:00", 1.0, "m"]], 1_000)
    (workspace.readings / "broken.json").write_bytes(broken)
    first, last = build(workspace, tmp_path, [DAY, date(2021, 1, 2)])
    # the run that read it says so, on its last day, once
    assert (first.rejected_files, last.rejected_files) == ([], ["broken.json"])
    [reason] = last.quarantine.filter(pl.col("source_file") == "broken.json")["reason"].to_list()
    assert reason and "broken.json" in last.accounting["source_file"]  # accounted, with no rows
    [days] = landing_state(workspace).filter(pl.col("path") == "broken.json")["days"].to_list()
    assert days == [date(2021, 1, 2)]
    (again,) = build(workspace, tmp_path)  # 1 January alone: not reported there
    assert again.rejected_files == []
    (that_day,) = build(workspace, tmp_path, [date(2021, 1, 2)])  # its day again: still reported there
    assert that_day.rejected_files == ["broken.json"]


@pytest.mark.parametrize("row_bytes, parts", [(200, 1), (200_000, 100)])
def test_a_day_assembled_in_parts_is_the_day_assembled_whole(workspace, tmp_path, monkeypatch, row_bytes, parts):
    """A meterpoint is never split between parts: de-duplication and counts are exact whether the
    day fits the memory budget in one part or, rows pretending to be 1,000 times bigger, in many."""
    monkeypatch.setattr(ingest, "BYTES_PER_ASSEMBLED_ROW", row_bytes)  # buckets
    monkeypatch.setattr(steps, "BYTES_PER_ASSEMBLED_ROW", row_bytes)  # parts
    for n in range(300):
        rows = [[f"2021-01-01 {h:02d}:{m:02d}:00", (n % 7) / 10, f"m{n:03d}"] for h in range(24) for m in (0, 30)]
        deliver(workspace, f"m{n:03d}.json", rows, 1_000)
        if n % 3 == 0:  # a corrected re-delivery of some of them
            deliver(workspace, f"fix/m{n:03d}.json", rows[:5] + [[rows[5][0], 9.9, f"m{n:03d}"]], 2_000)
    (day,) = build(workspace, tmp_path, memory_mb=16)
    frame = day.frame
    assert frame.height == 300 * 48 == day.loaded
    assert frame.select(pl.struct("meterpoint_id", "interval_start_utc").n_unique()).item() == 300 * 48
    assert day.duplicates == 100 * 6 and day.conflicts.height == 100
    assert frame.filter(pl.col("consumption_kwh") == Decimal("9.9")).height == 100
    assert day.meterpoints == 300 and day.kwh == frame["consumption_kwh"].sum()
    assert len(day.readings) == 1 if parts == 1 else len(day.readings) >= parts  # a file per part
    assert sum(part.rows for part in day.readings) == day.loaded


def test_make_run_learns_the_days_while_parsing_and_the_run_reads_nothing_again(workspace, tmp_path):
    deliver(workspace, "m.json", [["2021-01-01 00:00:00", 1.0, "m"], ["2021-01-03 00:00:00", 2.0, "m"]], 1_000)
    exchange = Exchange(workspace.lake, "prestaged")
    landing, lake = Storage(workspace.readings), Lake(Storage(workspace.lake))
    assert prestage(landing, lake, exchange, WorkerLimits(), lambda days, seen, known: days).days == [
        DAY,
        date(2021, 1, 3),
    ]
    (workspace.readings / "m.json").chmod(0)  # the run must not read it again
    built = build(workspace, tmp_path, [DAY, date(2021, 1, 3)], prestaged=exchange)
    assert [(d.day, d.loaded, d.quarantine.height) for d in built] == [(DAY, 1, 0), (date(2021, 1, 3), 1, 0)]


def test_the_landing_index_is_a_cache_losing_it_loses_nothing(workspace, tmp_path):
    deliver(workspace, "m.json", [["2021-01-01 00:00:00", 1.0, "m"]], 1_000)
    (first,) = build(workspace, tmp_path)
    shutil.rmtree(Path(workspace.lake, STATE))
    (again,) = build(workspace, tmp_path)
    assert again.frame.drop("source_file").equals(first.frame.drop("source_file"))


@pytest.mark.parametrize(
    "odd",
    ["2021-1-2 00:30:00", "2021-01-02T00:30:00", "2021-01-02 00:30", "02/01/2021 00:30:00", " 2021-01-02 00:30:00"],
)
def test_one_timestamp_grammar_the_day_scan_and_the_parser_agree(workspace, tmp_path, odd):
    """A row in another form than YYYY-MM-DD HH:MM:SS is quarantined, on its file's first day, and
    the file is filed under the days of its valid rows only: a build of either day, and of each
    again, accounts for every row of the file once. (Through Dagster, once: in_process/test_integrity.py.)"""
    day2 = date(2021, 1, 2)
    rows = [[f"2021-01-0{d} 00:{m:02d}:00", 1.0, "m1"] for d in (1, 2) for m in (0, 30)]
    deliver(workspace, "m1.json", [*rows[:2], [odd, 1.0, "m1"], *rows[2:]], 1_000)
    accounted = {}
    for day in (DAY, day2, DAY, day2):  # each day, and each again
        (built,) = build(workspace, tmp_path, [day])
        accounted[day] = built.accounting.select("rows_loaded", "duplicates", "rows_quarantined").row(0)
        assert built.loaded == 2
        quarantined = built.quarantine.select("row_number", "reason").rows()
        assert quarantined == ([(3, "interval_start is not a YYYY-MM-DD HH:MM:SS time")] if day == DAY else [])
    assert accounted == {DAY: (2, 0, 1), day2: (2, 0, 0)}  # the file's 5 rows, once, across its days
    assert landing_state(workspace).select("path", "days").rows() == [("m1.json", [DAY, day2])]
