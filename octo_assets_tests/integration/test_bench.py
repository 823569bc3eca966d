"""The benchmark's own helpers (bench/): input that does not depend on how it was written, in
either layout; a memory figure that covers a command's whole process tree; the history table."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bench.generate import day_slots, generate
from bench.loop import loop
from bench.run import history_rows
from bench.sensor import INTERVAL_S, requested_at

pytestmark = pytest.mark.serial  # the benchmarks' helpers measure time and memory: alone on the machine


REPO = Path(__file__).resolve().parents[2]


def test_the_input_is_the_same_from_one_or_two_processes_and_the_loop_reads_all_of_it(tmp_path):
    one, two = generate(tmp_path / "1", 120, days=2, processes=1), generate(tmp_path / "2", 120, days=2, processes=2)
    assert one == two and one["rows"] == 120 * 2 * 48
    for path in (tmp_path / "1" / "readings").iterdir():
        assert path.read_bytes() == (tmp_path / "2" / "readings" / path.name).read_bytes()
    assert loop(tmp_path / "2" / "readings", tmp_path / "out.parquet") == two["rows"]
    assert pl.read_parquet(tmp_path / "out.parquet")["consumption_delta"].sum() == pytest.approx(two["total_kwh"])
    # the floor reads every file once, whatever its layout (some are pretty-printed), over every core
    command = [sys.executable, "-m", "bench.floor", str(tmp_path / "2" / "readings")]
    floor = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert floor.returncode == 0, floor.stderr
    assert floor.stdout.startswith(f"files read: 120, rows read: {two['rows']}, processes: ")


def test_a_day_is_requested_when_its_tick_ends_counting_ticks_interval_apart():
    def tick(seconds, requests=0):
        return {"seconds": seconds, "run requests": requests}

    assert requested_at([tick(4.0, 1)]) == 4.0
    # ticks start INTERVAL_S apart as the daemon starts them, or when the one before ended if later
    longer = INTERVAL_S + 5.0
    assert requested_at([tick(10.0), tick(longer), tick(3.0, 2)]) == INTERVAL_S + longer + 3.0
    assert requested_at([tick(10.0), tick(12.0, 1)]) == INTERVAL_S + 12.0
    assert requested_at([tick(10.0), tick(12.0)]) is None


def test_measure_sums_the_memory_of_a_process_and_its_child(tmp_path):
    hold = "import time; x = b'x' * (200 << 20); time.sleep(1.5)"
    parent = f"import subprocess, sys; c = subprocess.Popen([sys.executable, '-c', {hold!r}]); {hold}; c.wait()"
    command = [sys.executable, "-m", "bench.measure", tmp_path / "r.json", tmp_path / "log", "--"]
    subprocess.run([*command, sys.executable, "-c", parent], check=True, cwd=REPO)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["peak_rss_mb"] > 400 > report["max_process_rss_mb"] > 200


def test_the_dated_layout_is_a_folder_a_day_with_a_file_per_meterpoint_holding_that_day_only(tmp_path):
    days = [date(2021, 3, 27), date(2021, 3, 28), date(2021, 3, 29)]  # the 28th has 46 half hours (clocks go forward)
    summary = generate(tmp_path / "dated", 60, days=3, start=days[0], layout="dated", processes=2)
    assert generate(tmp_path / "one", 60, days=3, start=days[0], layout="dated", processes=1) == summary
    generate(tmp_path / "flat", 60, days=3, start=days[0])
    readings, flat = tmp_path / "dated" / "readings", tmp_path / "flat" / "readings"
    names = sorted(path.name for path in flat.iterdir())
    assert sorted(path.name for path in readings.iterdir()) == [day.isoformat() for day in days]
    for day in days:
        folder = readings / day.isoformat()
        assert sorted(path.name for path in folder.iterdir()) == names
        rows = []
        for name in names:
            assert (folder / name).read_bytes() == (tmp_path / "one" / "readings" / day.isoformat() / name).read_bytes()
            data = json.loads((folder / name).read_text())["data"]
            assert [row[0] for row in data] == day_slots(day)  # every half hour of that day, no other day's
            assert {row[2] for row in data} == {name.removesuffix(".json")}
            # the same values as that day's rows in the meterpoint's flat file (all days in one file)
            assert data == [row for row in json.loads((flat / name).read_text())["data"] if row[0][:10] == str(day)]
            rows += data
        kwh = pytest.approx(sum(row[1] for row in rows))
        assert summary["by_day"][day.isoformat()] == {"rows": len(rows), "total_kwh": kwh}
    assert summary["files"] == 60 * 3 and summary["rows"] == 60 * (48 + 46 + 48)
    assert loop(readings, tmp_path / "out.parquet") == summary["rows"]


def test_the_history_table_gives_ratios_to_the_first_checkpoint_and_flat_when_all_four_are_within_the_limit():
    def point(days, run_s, run_mb, tick_s, tick_mb):
        return {"days": days, "run_s": run_s, "run_mb": run_mb, "tick_s": tick_s, "tick_mb": tick_mb}

    rows = history_rows(
        [
            point(1, 10.0, 500.0, 1.0, 300.0),
            point(10, 11.9, 600.0, 1.2, 310.0),  # every ratio at most 1.2
            point(30, 10.0, 500.0, 1.21, 300.0),  # the tick's time alone over
            point(60, None, None, 1.0, 300.0),  # the run failed
        ],
        limit=1.2,
    )
    assert rows[0] == [1, "10.00", "500", "1.00", "300", "1.00x", "1.00x", "1.00x", "1.00x", "(reference)"]
    assert rows[1] == [10, "11.90", "600", "1.20", "310", "1.19x", "1.20x", "1.20x", "1.03x", "flat"]
    assert rows[2][-2:] == ["1.00x", "**not flat**"] and rows[2][7] == "1.21x"
    assert rows[3] == [60, None, None, "1.00", "300", None, None, "1.00x", "1.00x", "FAILED"]
