"""The benchmark's own helpers (bench/): input that does not depend on how it was written, and a
memory figure that covers a command's whole process tree."""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from bench.generate import generate
from bench.loop import loop

REPO = Path(__file__).resolve().parents[1]


def test_the_input_is_the_same_from_one_or_two_processes_and_the_loop_reads_all_of_it(tmp_path):
    one, two = generate(tmp_path / "1", 120, days=2, processes=1), generate(tmp_path / "2", 120, days=2, processes=2)
    assert one == two and one["rows"] == 120 * 2 * 48
    for path in (tmp_path / "1" / "readings").iterdir():
        assert path.read_bytes() == (tmp_path / "2" / "readings" / path.name).read_bytes()
    assert loop(tmp_path / "2" / "readings", tmp_path / "out.parquet") == two["rows"]
    assert pl.read_parquet(tmp_path / "out.parquet")["consumption_delta"].sum() == pytest.approx(two["total_kwh"])


def test_measure_sums_the_memory_of_a_process_and_its_child(tmp_path):
    hold = "import time; x = b'x' * (200 << 20); time.sleep(1.5)"
    parent = f"import subprocess, sys; c = subprocess.Popen([sys.executable, '-c', {hold!r}]); {hold}; c.wait()"
    command = [sys.executable, "-m", "bench.measure", tmp_path / "r.json", tmp_path / "log", "--"]
    subprocess.run([*command, sys.executable, "-c", parent], check=True, cwd=REPO)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["peak_rss_mb"] > 400 > report["max_process_rss_mb"] > 200
