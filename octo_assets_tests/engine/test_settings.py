"""A wrong setting stops `make run` with one sentence naming the setting and the fix."""

import fcntl
import os
import struct
import subprocess
import sys
import termios

import pytest

from octo_assets_tests.support.commands import one_sentence, run_main


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("OCTO_READINGS_DIR", "{tmp}/nowhere", "is not a folder; point OCTO_READINGS_DIR at the folder"),
        ("OCTO_SOURCE_DB", "{tmp}/missing.db", "does not exist; point OCTO_SOURCE_DB at the SQLite database file"),
        ("OCTO_SOURCE_DB", "{readings}/0432df65f7.json", "is not a SQLite database"),
        ("OCTO_LAKE_DIR", "{readings}/0432df65f7.json/lake", "json is a file; point OCTO_LAKE_DIR at a folder"),
        ("OCTO_WAREHOUSE", "{tmp}", "is a folder; set OCTO_WAREHOUSE to a file path"),
    ],
)
def test_a_wrong_setting_is_one_clear_sentence(sample_workspace, tmp_path, setting, value, says):
    value = value.format(tmp=tmp_path, readings=sample_workspace.readings)
    line = one_sentence(run_main(sample_workspace, tmp_path, **{setting: value}))
    assert line.startswith(f"{setting}: {value}") or line.startswith(f"{setting}: cannot write to")
    assert says in line


@pytest.mark.parametrize(
    "args, overrides, says",
    [
        (["--from", "2021-01-03", "--to", "2021-01-01"], {}, "--from 2021-01-03 is after --to 2021-01-01"),
        (["--from", "2020-12-01", "--to", "2020-12-31"], {}, "--to 2020-12-31 is before the first day"),
        (["--from", "2099-01-01", "--to", "2099-01-02"], {}, "--from 2099-01-01 has not ended yet"),
        (["--from", "1 January", "--to", "2021-01-02"], {}, "days are written YYYY-MM-DD"),
        ([], {"OCTO_DAYS_PER_RUN": "0"}, "OCTO_DAYS_PER_RUN: 0 is below the minimum (1); set it to 1 or more"),
        ([], {"OCTO_LANDING_OPEN_DAYS": "0"}, "OCTO_LANDING_OPEN_DAYS: 0 is below the minimum (1)"),
        ([], {"OCTO_WORKERS": "two"}, "OCTO_WORKERS: 'two' is not a whole number of processes; set it to 1 or more"),
        ([], {"OCTO_MEMORY_MB": "lots"}, "OCTO_MEMORY_MB: 'lots' is not a whole number of megabytes"),
    ],
)
def test_a_newcomers_mistake_is_one_sentence_naming_the_fix(sample_workspace, tmp_path, args, overrides, says):
    assert says in one_sentence(run_main(sample_workspace, tmp_path, *args, **overrides))


def test_an_empty_landing_folder_says_so(workspace, tmp_path):
    workspace.write_source([(1, "2020-01-01", None, "p", "m", "a")], [("Fixed", 0, 1, "p")], [("x", "m")])
    line = one_sentence(run_main(workspace, tmp_path))
    assert line.startswith("No readings for any day from 2021-01-01") and "OCTO_READINGS_DIR" in line


def test_make_run_works_without_dagster_home_and_reports_the_days_it_did_not_build(sample_workspace, tmp_path):
    """Without DAGSTER_HOME, the project's own .dagster (in the working folder) is used. A range
    with days no file holds builds the others, names those, and leaves them unpublished."""
    done = run_main(sample_workspace, tmp_path, "--from", "2021-01-02", "--to", "2021-01-05", DAGSTER_HOME=None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / ".dagster" / "dagster.yaml").is_file()
    assert "no landing file holds 2 day(s) of the range, not built: 2021-01-04, 2021-01-05" in done.stdout
    summary = done.stdout[done.stdout.index("\ncatalog ") :]
    assert "2021-01-02 .. 2021-01-03 (2 days)" in summary
    assert "active agreements on 2021-01-02" in summary and "active agreements on 2021-01-01" not in summary
    assert "kWh reconciled                     yes" in summary
    assert "step lake__readings" in done.stdout  # progress, as plain lines when not on a terminal
    assert sample_workspace.days("readings") == ["2021-01-02", "2021-01-03"]  # the days the table holds now
    for day in ("2021-01-04", "2021-01-05"):  # not even published empty: no commit of the day
        assert sample_workspace.published_day("readings", "date", day) is None


def test_on_a_terminal_make_run_shows_live_bars_with_elapsed_and_remaining_time(sample_workspace, tmp_path):
    master, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal has a size
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / ".dagster"),
        "OCTO_READINGS_DIR": str(sample_workspace.readings),
        "OCTO_SOURCE_DB": str(sample_workspace.source_db),
        "OCTO_LAKE_DIR": str(sample_workspace.lake),
        "OCTO_WAREHOUSE": str(sample_workspace.warehouse),
    }
    (tmp_path / ".dagster").mkdir()
    (tmp_path / ".dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "octo_assets.run"], stdout=terminal, stderr=terminal, env=env, cwd=tmp_path
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the run
            break
        if not chunk:
            break
        output += chunk
    assert run.wait(timeout=180) == 0
    text = output.decode(errors="replace")
    assert "\r" in text  # redrawn in place
    assert "reading the new landing files: 100%" in text and "100/100" in text and "files/s" in text
    assert "assembling 2021-01-03 (3 of 3 days)" in text
    assert "<00:00" in text  # elapsed<remaining, as tqdm shows them
