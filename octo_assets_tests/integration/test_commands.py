"""The commands as a user runs them, each a process of its own: `make run ARGS=…`, `python -m
octo_assets.run` on a terminal and in a log, `make sql`, `make migrate`. What each mistake says is
checked in-process, sentence by sentence (engine/test_settings.py, engine/test_run_cli.py,
engine/test_source_schema.py, in_process/test_unreadable_files.py); here, one mistake of each way
a sentence reaches the user proves the wiring: the sentence alone on stderr, no traceback, a
non-zero exit, and nothing written."""

import fcntl
import os
import re
import sqlite3
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from octo_assets_tests.support.commands import NO_AWS, one_sentence, quiet_dagster_home, run_main, workspace_env
from octo_assets_tests.support.workspace import REPO_ROOT


def nothing_written(ws) -> bool:
    lake = ws.lake
    return (not lake.exists() or not any(lake.iterdir())) and not Path(ws.warehouse).exists()


def drop_product_table(ws) -> None:
    with sqlite3.connect(ws.source_db) as con:
        con.execute("DROP TABLE product")
    con.close()


def unreadable_only(ws) -> None:
    for path in ws.readings.glob("*.json"):
        path.unlink()
    for n in range(2):
        (ws.readings / f"bad-{n}.json").write_bytes(b'{"columns": [')


@pytest.mark.parametrize(
    "args, overrides, prepare, says",
    [
        # a day given wrong: wanted_days's RunError, caught by main
        (["--from", "2021-01-03", "--to", "2021-01-01"], {}, None, "--from 2021-01-03 is after --to 2021-01-01"),
        # a number read as the definitions load: SettingError, caught by the module's __main__
        ([], {"OCTO_WORKERS": "two"}, None, "OCTO_WORKERS: 'two' is not a whole number of processes"),
        # a resource's problem: setting_problems, before anything is listed
        ([], {"OCTO_SOURCE_DB": "{tmp}/missing.db"}, None, "OCTO_SOURCE_DB: {tmp}/missing.db does not exist"),
        ([], {**NO_AWS, "OCTO_LAKE_DIR": "s3://bucket/lake"}, None, "OCTO_LAKE_DIR is on S3, but no AWS credentials"),
        # the source's schema, before anything is listed
        ([], {}, drop_product_table, "OCTO_SOURCE_DB: {db}: table 'product' is missing"),
        # nothing to build: after listing, before any run
        ([], {}, unreadable_only, "No readings for any day from 2021-01-01"),
    ],
    ids=["day", "number", "source", "credentials", "schema", "no readings"],
)
def test_a_mistake_stops_make_run_with_one_sentence_and_writes_nothing(
    sample_workspace, tmp_path, args, overrides, prepare, says
):
    ws = sample_workspace
    if prepare:
        prepare(ws)
    places = {"tmp": tmp_path, "readings": ws.readings, "db": ws.source_db}
    done = run_main(ws, tmp_path, *args, **{k: v.format(**places) if v else v for k, v in overrides.items()})
    assert one_sentence(done).startswith(says.format(**places))
    assert done.returncode == 1
    if prepare is not unreadable_only:  # refused before it lists or writes anything
        assert "listing the landing area" not in done.stdout
        assert nothing_written(ws)


@pytest.mark.skipif(not os.path.exists("/usr/bin/make") and not os.path.exists("/bin/make"), reason="no make")
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
        env=workspace_env(sample_workspace),
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


def test_make_run_works_without_dagster_home_and_reports_the_days_it_did_not_build(sample_workspace, tmp_path):
    """Without DAGSTER_HOME, the project's own .dagster (in the working folder) is used. A range
    with days no file holds builds the others, names those, and leaves them unpublished. In a log
    (not a terminal), progress is plain lines; the summary ends with the time taken."""
    done = run_main(sample_workspace, tmp_path, "--from", "2021-01-02", "--to", "2021-01-05", DAGSTER_HOME=None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / ".dagster" / "dagster.yaml").is_file()
    assert "no landing file holds 2 day(s) of the range, not built: 2021-01-04, 2021-01-05" in done.stdout
    summary = done.stdout[done.stdout.index("\ncatalog ") :]
    assert "2021-01-02 .. 2021-01-03 (2 days)" in summary
    assert "active agreements on 2021-01-02" in summary and "active agreements on 2021-01-01" not in summary
    assert "kWh reconciled                     yes" in summary
    # progress, as plain lines when not on a terminal, each phase with the time since the command began
    assert re.search(r"^step lake__readings\.readings_publish \(after \d+\.\d s\)$", done.stdout, re.MULTILINE)
    assert sample_workspace.days("readings") == ["2021-01-02", "2021-01-03"]  # the days the table holds now
    for day in ("2021-01-04", "2021-01-05"):  # not even published empty: no commit of the day
        assert sample_workspace.published_day("readings", "date", day) is None


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
    assert summary[-1].startswith("done in ") and summary[-1].endswith(" s")
    assert 0 < float(summary[-1].split()[2]) < 180
    for day in ("2021-01-04", "2021-01-05"):  # published empty: a commit of the day, with no file
        empty = sample_workspace.published_day("readings", "date", day)
        assert empty is not None and (empty.files, empty.rows) == ((), [])


def test_on_a_terminal_make_run_shows_live_bars_and_no_rate_of_noise(sample_workspace, tmp_path):
    master, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal has a size
    env = workspace_env(sample_workspace, DAGSTER_HOME=str(quiet_dagster_home(tmp_path / ".dagster")))
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
    assert "reading landing files: 100%" in text and "100/100" in text
    # a rate only over a second or more (the sample's phases are shorter), never millions a second
    assert not re.search(r"\d{5,}(\.\d+)? (files|parts)/s", text)
    assert "assembling 2021-01-03 (3 of 3 days)" in text
    assert re.search(r"100/100 \[00:\d\d\]", text)  # a count's elapsed time, as tqdm shows it
    assert re.search(r"step lake__readings\.readings_publish: 00:\d\d", text)  # a step's


def test_make_sql_says_what_to_do_without_a_catalog_in_one_sentence(tmp_path):
    """The prompt's mistakes are checked in-process (in_process/test_sql_prompt.py,
    in_process/test_delta_pipeline.py); here the process: one line, no traceback, exit 1."""
    env = {**os.environ, "OCTO_WAREHOUSE": str(tmp_path / "nowhere" / "warehouse.duckdb")}
    done = subprocess.run(
        [sys.executable, "-m", "octo_assets.sql", "-c", "SELECT 1"], env=env, capture_output=True, text=True
    )
    assert one_sentence(done).startswith(f"No catalog at {tmp_path / 'nowhere' / 'warehouse.duckdb'}")
    assert done.returncode == 1 and done.stdout == ""


def test_make_migrate_says_what_it_does_and_exits_1_where_it_migrates_nothing(tmp_path):
    """What it says of each lake it is given, and the migration itself: engine/test_migrate.py,
    in_process/test_delta_pipeline.py; here, the process: `--help` describes it and migrates
    nothing, and an empty OCTO_LAKE_DIR is one sentence on stderr, no traceback, exit 1."""
    old = tmp_path / "old" / "readings" / "date=2021-01-01" / "part-0.parquet"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"PAR1 a day of the lake from before Delta")
    command = [sys.executable, "-m", "octo_assets.migrate"]
    env = {**os.environ, "OCTO_LAKE_DIR": str(tmp_path / "old")}
    done = subprocess.run([*command, "--help"], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.startswith("usage: make migrate") and "Exits 0 when it migrated, 1" in done.stdout
    assert old.exists() and not (tmp_path / "old" / "_migrated").exists()  # asking for help migrated nothing

    (tmp_path / "empty").mkdir()
    env = {**os.environ, "OCTO_LAKE_DIR": str(tmp_path / "empty")}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert one_sentence(done).startswith(f"OCTO_LAKE_DIR: {tmp_path / 'empty'} is empty, so there is no lake")
    assert done.returncode == 1 and done.stdout == ""
