"""Assembling a day: the newest delivery of a reading wins, and every row is accounted for."""

import os
from datetime import date

import polars as pl

from octo_assets.readings.ingest import ingest_days, staged_days
from octo_assets.readings.landing import files_for_days, scan_landing
from octo_assets.storage import Storage

DAY = date(2021, 1, 1)


def deliver(ws, name, rows, mtime_s):
    path = ws.write_readings(name, rows)
    os.utime(path, (mtime_s, mtime_s))


def ingest(ws, days=(DAY,)):
    files, _ = scan_landing(Storage(ws.readings))
    return list(ingest_days(Storage(ws.readings), files, list(days)))


def test_a_corrected_redelivery_in_a_subfolder_wins_and_the_conflict_is_reported(workspace):
    deliver(workspace, "m.json", [["2021-01-01 00:00:00", 1.0, "m"], ["2021-01-01 00:30:00", 2.0, "m"]], 1_000)
    deliver(workspace, "2021-01-02/m.json", [["2021-01-01 00:30:00", 5.0, "m"]], 2_000)
    (day,) = ingest(workspace)
    assert day.readings.select("consumption_kwh", "source_file").rows() == [(1.0, "m.json"), (5.0, "2021-01-02/m.json")]
    assert day.duplicates == 1
    assert day.conflicts.select("meterpoint_id", "deliveries", "kept_kwh").rows() == [("m", 2, 5.0)]
    assert day.conflicts["values"].to_list() == [[2.0, 5.0]]


def test_delivery_order_is_by_time_not_by_name(workspace):
    deliver(workspace, "b.json", [["2021-01-01 00:00:00", 1.0, "m"]], 1_000)
    deliver(workspace, "a.json", [["2021-01-01 00:00:00", 9.0, "m"]], 2_000)
    (day,) = ingest(workspace)
    assert day.readings["consumption_kwh"].to_list() == [9.0]


def test_the_same_reading_twice_with_equal_values_is_a_duplicate_not_a_conflict(workspace):
    row = ["2021-01-01 00:00:00", 1.0, "m"]
    deliver(workspace, "a.json", [row, row], 1_000)
    deliver(workspace, "b.json", [row], 2_000)
    (day,) = ingest(workspace)
    assert (day.loaded, day.duplicates, day.conflicts.height) == (1, 2, 0)


def test_every_row_read_is_loaded_duplicate_or_quarantined(workspace):
    deliver(
        workspace,
        "a.json",
        [
            ["2021-01-01 00:00:00", 1.0, "m"],
            ["2021-01-01 00:00:00", 1.0, "m"],
            ["2021-01-01 00:30:00", -1.0, "m"],
            ["2021-01-02 00:30:00", 1.0, "m"],  # another day: counted there, not here
            ["nonsense", 1.0, "m"],  # no day: counted on the file's first day
        ],
        1_000,
    )
    deliver(workspace, "broken.json", [["2021-01-01 01:00:00", 1.0, "m"]], 1_000)
    (workspace.readings / "broken.json").write_bytes((workspace.readings / "broken.json").read_bytes()[:-3])
    day1, day2 = ingest(workspace, [DAY, date(2021, 1, 2)])
    assert (day1.rows_read, day1.loaded, day1.duplicates, day1.quarantined_rows) == (4, 1, 1, 2)
    assert day1.rejected_files == ["broken.json"]
    assert (day2.rows_read, day2.loaded) == (1, 1)
    assert day1.quarantine.filter(pl.col("row_number").is_not_null())["row_number"].to_list() == [3, 5]


def test_a_day_reads_only_the_files_that_hold_it(workspace):
    deliver(workspace, "2021-01-01/m.json", [["2021-01-01 00:00:00", 1.0, "m"]], 1_000)
    deliver(workspace, "2021-01-05/m.json", [["2021-01-05 00:00:00", 1.0, "m"]], 1_000)
    deliver(workspace, "both.json", [["2021-01-05 00:30:00", 1.0, "m"], ["2021-01-01 00:30:00", 1.0, "m"]], 1_000)
    (workspace.readings / "empty.json").write_bytes(b"")
    index, _ = scan_landing(Storage(workspace.readings))
    assert dict(index.select("path", "days").iter_rows()) == {
        "2021-01-01/m.json": [DAY],
        "2021-01-05/m.json": [date(2021, 1, 5)],
        "both.json": [DAY, date(2021, 1, 5)],
        "empty.json": [],
    }
    # a file with no day may hold any day
    assert files_for_days(index, {DAY})["path"].to_list() == ["2021-01-01/m.json", "both.json", "empty.json"]
    (day,) = ingest(workspace)
    assert (day.files, set(day.readings["source_file"])) == (2, {"2021-01-01/m.json", "both.json"})
    assert day.rejected_files == ["empty.json"]


def test_new_files_are_parsed_once_and_their_days_learnt_from_their_rows(workspace):
    deliver(workspace, "a.json", [["2021-01-01 00:00:00", 1.0, "m"], ["2021-01-02 00:00:00", 2.0, "m"]], 1_000)
    deliver(workspace, "b.json", [["2021-01-05 00:00:00", 1.0, "n"]], 1_000)
    (workspace.readings / "bad.json").write_bytes(b"{")
    index, bytes_read = scan_landing(Storage(workspace.readings), read_new=False)
    assert bytes_read == 0 and index["days"].is_null().all()  # nothing read before the parse
    with staged_days(Storage(workspace.readings), index, [DAY]) as staged:
        day = staged.assemble(DAY)
        learnt = dict(staged.discovered.iter_rows())
    assert learnt == {"a.json": [DAY, date(2021, 1, 2)], "b.json": [date(2021, 1, 5)], "bad.json": []}
    assert (day.files, day.loaded, day.rejected_files) == (1, 1, ["bad.json"])
