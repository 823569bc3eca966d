"""`make run`'s command line: ARGS reach `python -m octo_assets.run`, and a day given wrong, or a
range reaching past the days there can be readings for, is said in one sentence."""

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from octo_assets.partitions import daily_partitions
from octo_assets.run.pipeline import RunError, wanted_days
from octo_assets_tests.support.commands import run_main

REPO_ROOT = Path(__file__).resolve().parents[2]


def ws_env(ws, **overrides) -> dict:
    env = {
        **os.environ,
        "OCTO_READINGS_DIR": str(ws.readings),
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_LAKE_DIR": str(ws.lake),
        "OCTO_WAREHOUSE": str(ws.warehouse),
        **overrides,
    }
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on PATH")
def test_make_run_passes_args_to_the_run(sample_workspace, tmp_path):
    """`make run ARGS='--from … --to …'` builds that range only; a part of it before the first
    day is named and left out. The venv is this interpreter's (not remade: -o), DAGSTER_HOME a
    folder of the test's, as a command-line variable overrides the Makefile's."""
    venv = Path(sys.prefix)
    home = tmp_path / "dagster_home"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(REPO_ROOT),
            "-o",
            f"{venv}/bin/activate",
            "run",
            f"VENV={venv}",
            f"DAGSTER_HOME={home}",
            "ARGS=--from 2020-12-31 --to 2021-01-02",
        ],
        env=ws_env(sample_workspace),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "-m octo_assets.run --from 2020-12-31 --to 2021-01-02" in done.stdout  # make echoes the command
    assert (home / "dagster.yaml").is_file()  # the Makefile's instance, made where DAGSTER_HOME says
    assert (
        "--from 2020-12-31: there are no readings before 2021-01-01, so 2020-12-31 is left out "
        "(the range starts at 2021-01-01)" in done.stdout
    )
    assert "2021-01-01 .. 2021-01-02 (2 days)" in done.stdout
    assert sample_workspace.days("readings") == ["2021-01-01", "2021-01-02"]  # the days the table holds now
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "first, last, says",
    [
        ("1 January", "2021-01-02", "--from 1 January: days are written YYYY-MM-DD, as in --from 2021-01-01."),
        ("2021-01-01", "tomorrow", "--to tomorrow: days are written YYYY-MM-DD, as in --to 2021-01-01."),
        ("2021/01/01", "2021-01-02", "--from 2021/01/01: days are written YYYY-MM-DD"),
        ("20210101", "2021-01-02", "--from 20210101: days are written YYYY-MM-DD"),
        ("2021-1-1", "2021-01-02", "--from 2021-1-1: days are written YYYY-MM-DD"),
        ("2021-02-30", "2021-03-01", "--from 2021-02-30: there is no such day, February 2021 has 28 days"),
        ("2021-01-01", "2021-02-29", "--to 2021-02-29: there is no such day, February 2021 has 28 days "),
        ("2021-01-01", "2021-04-31", "--to 2021-04-31: there is no such day, April 2021 has 30 days"),
        ("2021-13-01", "2021-12-31", "--from 2021-13-01: there is no month 13; months run from 01 to 12."),
        ("2021-01-01", "2021-00-10", "--to 2021-00-10: there is no month 00"),
        ("2021-01-00", "2021-01-02", "--from 2021-01-00: there is no day 00"),
        ("2021-01-01", "2021-01-32", "--to 2021-01-32: there is no such day, January 2021 has 31 days"),
        ("2021-01-03", "2021-01-01", "--from 2021-01-03 is after --to 2021-01-01: give the earlier day first."),
        ("2020-12-01", "2020-12-31", "--to 2020-12-31 is before the first day there can be readings for"),
        ("2099-01-01", "2099-01-02", "--from 2099-01-01 has not ended yet in Europe/London"),
    ],
)
def test_a_day_given_wrong_is_one_sentence_naming_the_option(first, last, says):
    with pytest.raises(RunError) as raised:
        wanted_days(first, last)
    message = str(raised.value)
    assert message.startswith(says) and "\n" not in message


def test_february_29_exists_in_a_leap_year():
    assert wanted_days("2024-02-28", "2024-02-29").days == ["2024-02-28", "2024-02-29"]
    with pytest.raises(RunError, match=r"February 2023 has 28 days \(the last is 2023-02-28\)"):
        wanted_days("2023-02-29", "2023-03-01")


def test_a_range_partly_before_the_first_day_says_what_it_leaves_out():
    wanted = wanted_days("2020-12-25", "2021-01-02")
    assert wanted.days == ["2021-01-01", "2021-01-02"]
    assert wanted.dropped == [
        "--from 2020-12-25: there are no readings before 2021-01-01, so 2020-12-25 .. 2020-12-31 (7 days) "
        "is left out (the range starts at 2021-01-01)"
    ]
    assert wanted_days("2021-01-01", "2021-01-02").dropped == []


def test_a_range_partly_in_the_future_says_what_it_leaves_out():
    newest = daily_partitions.get_last_partition_key()
    after = (date.fromisoformat(newest) + timedelta(days=1)).isoformat()
    first = (date.fromisoformat(newest) - timedelta(days=1)).isoformat()
    wanted = wanted_days(first, "2099-12-31")
    assert wanted.days == [first, newest]
    (line,) = wanted.dropped
    assert line.startswith(f"--to 2099-12-31: the days after {newest} have not ended yet in Europe/London, ")
    assert f"so {after} .. 2099-12-31 (" in line and line.endswith(f"is left out (the range ends at {newest})")
    assert wanted_days(first, newest).dropped == []


def test_a_range_reaching_both_ways_says_both():
    newest = daily_partitions.get_last_partition_key()
    wanted = wanted_days("2020-12-31", "2099-01-01")
    assert wanted.days[0] == "2021-01-01" and wanted.days[-1] == newest
    assert [line.split(":")[0] for line in wanted.dropped] == ["--from 2020-12-31", "--to 2099-01-01"]


def test_the_summary_is_an_aligned_table_names_days_published_empty_and_the_time_taken(sample_workspace, tmp_path):
    done = run_main(sample_workspace, tmp_path, "--from", "2021-01-03", "--to", "2021-01-05", "--allow-empty")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.stdout[done.stdout.index("\ncatalog ") :].splitlines()
    assert "  published empty (no landing file)  2021-01-04, 2021-01-05" in summary
    block = [line for line in summary[2:] if line.startswith("  ") and not line.startswith("   ")][:11]
    assert all(line[36] == " " and line[37] != " " for line in block)  # every value starts in one column
    header = summary.index("    day         product              meterpoints      kWh")
    rows = summary[header + 1 : header + 4]
    assert rows == [
        "    2021-01-03  Octopus 12M Fixed             38  625.739",
        "    2021-01-03  Super Green Octopus           13  335.623",
        "    2021-01-03  Flexible Octopus              16  278.772",
    ]
    assert summary[-1].startswith("built in ") and summary[-1].endswith(" s")
    assert 0 < float(summary[-1].split()[2]) < 180
