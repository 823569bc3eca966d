"""A landing file that cannot be read is reported by the run that reads it: named with its reason in
the run's summary, in lake.readings_quarantine and lake.readings_files, and by a check that fails
in that run. On the case-study sample, as a new user would meet it with `make run`: six of its
files each broken another way, in one run (on the S3 server: an empty object)."""

import gzip
import io
import json
import shutil
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from octo_assets import connect
from octo_assets.run.pipeline import Built, RunError, print_summary, run_pipeline
from octo_assets_tests.support.workspace import SAMPLE, Workspace

SAMPLE_ROWS = 14300  # the case study's readings, 143 a file
LAST_DAY = "2021-01-03"

UNREADABLE = {
    "truncated": (lambda good: good[: len(good) // 2], "invalid JSON: unexpected end of data"),
    "empty": (lambda good: b"", "file is empty"),
    "other columns": (
        lambda good: good.replace(b'"consumption_delta"', b'"kwh"'),
        "columns are ['interval_start', 'kwh', 'meterpoint_id']",
    ),
    "not an object": (lambda good: b"[1, 2, 3]", "expected a JSON object, found list"),
    "binary": (lambda good: bytes(range(256)), "invalid JSON"),
    "no data array": (lambda good: good.replace(b'"data"', b'"rows"'), 'no "data" array'),
}


def damage(ws, kind: str, victim_index: int = 0) -> str:
    """Replace one of the sample's files with an unreadable one; its name."""
    victim = sorted(ws.readings.glob("*.json"))[victim_index]
    make, _ = UNREADABLE[kind]
    victim.write_bytes(make(victim.read_bytes()))
    return victim.name


@dataclass
class Damaged:
    ws: Workspace
    built: Built
    summary: str  # what make run printed after it
    names: dict[str, str]  # kind -> the file broken that way


def summary_of(ws, built) -> str:
    printed = io.StringIO()
    with redirect_stdout(printed):
        print_summary(ws.warehouse, built.days, built.failed_checks)
    return printed.getvalue()


@pytest.fixture(scope="module")
def damaged(module_workspace, module_instance) -> Damaged:
    """The sample with six files broken, one of each kind, built by one run as `make run` does."""
    ws = module_workspace
    shutil.copytree(SAMPLE / "readings", ws.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", ws.source_db)
    names = {kind: damage(ws, kind, index) for index, kind in enumerate(UNREADABLE)}
    built = run_pipeline(module_instance, ws.resources())
    return Damaged(ws, built, summary_of(ws, built), names)


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_make_run_names_an_unreadable_file_and_a_check_fails_in_that_run(damaged, kind):
    ws, built, summary, name = damaged.ws, damaged.built, damaged.summary, damaged.names[kind]
    assert built.days == ["2021-01-01", "2021-01-02", LAST_DAY]
    assert ("readings_nothing_quarantined", "ERROR", LAST_DAY) in built.failed_checks
    _, reason = UNREADABLE[kind]
    assert f"files rejected whole               {len(UNREADABLE)}" in summary
    [named] = [line for line in summary.splitlines() if name in line]
    assert named.strip().startswith(f"{name} ({LAST_DAY}): ") and reason in named
    assert f"ERROR readings_nothing_quarantined on {LAST_DAY}" in summary

    with connect(ws.warehouse) as con:
        assert con.execute(
            "SELECT reading_date::VARCHAR, row_number, reason LIKE ? FROM lake.readings_quarantine "
            "WHERE source_file = ?",
            [f"%{reason}%", name],
        ).fetchall() == [(LAST_DAY, None, True)]
        files = con.execute(
            "SELECT reading_date::VARCHAR, rows_loaded, duplicates, rows_quarantined "
            "FROM lake.readings_files WHERE source_file = ?",
            [name],
        ).fetchall()
        assert files == [(LAST_DAY, 0, 0, 0)]  # accounted on its day, with no rows


def test_the_broken_files_are_all_the_quarantine_holds_and_every_other_file_loads(damaged):
    with connect(damaged.ws.warehouse) as con:
        quarantined = con.execute("SELECT source_file, row_number FROM lake.readings_quarantine ORDER BY 1").fetchall()
        loaded = con.execute("SELECT count(*), count(DISTINCT source_file) FROM lake.readings").fetchone()
    assert quarantined == [(name, None) for name in sorted(damaged.names.values())]
    assert loaded == (SAMPLE_ROWS - 143 * len(UNREADABLE), 100 - len(UNREADABLE))  # nothing else is lost


@pytest.mark.parametrize("workspace", [pytest.param("s3", marks=pytest.mark.s3)], indirect=True)
def test_on_s3_an_empty_object_is_named_and_a_check_fails_in_that_run(sample_workspace, instance):
    """A zero-byte object is the store's own kind of empty file: the whole path on S3, one file."""
    ws = sample_workspace
    name = damage(ws, "empty")
    ws.sync()
    built = run_pipeline(instance, ws.resources())
    assert ("readings_nothing_quarantined", "ERROR", LAST_DAY) in built.failed_checks
    summary = summary_of(ws, built)
    assert "files rejected whole               1" in summary
    [named] = [line for line in summary.splitlines() if name in line]
    assert named.strip() == f"{name} ({LAST_DAY}): file is empty"
    with connect(ws.warehouse) as con:
        assert con.execute("SELECT source_file, reading_date::VARCHAR FROM lake.readings_quarantine").fetchall() == [
            (name, LAST_DAY)
        ]
        assert con.execute("SELECT count(*) FROM lake.readings").fetchone() == (SAMPLE_ROWS - 143,)


def test_a_second_run_reports_it_again_on_the_same_day_and_nowhere_else(damaged, tmp_path):
    ws = damaged.ws.copy_to(tmp_path / "copy")
    with dg.DagsterInstance.ephemeral() as instance:
        again = run_pipeline(instance, ws.resources(), ("2021-01-01", "2021-01-02"))
    assert not [c for c in again.failed_checks if c[0] == "readings_nothing_quarantined"]
    with connect(ws.warehouse) as con:
        found = con.execute("SELECT source_file, reading_date::VARCHAR FROM lake.readings_quarantine").fetchall()
    assert sorted(found) == sorted((name, LAST_DAY) for name in damaged.names.values())


def no_readings_sentence(ws, instance) -> str:
    """What `make run` stops with when no day can be built (run_pipeline's RunError)."""
    with pytest.raises(RunError) as raised:
        run_pipeline(instance, ws.resources())
    sentence = str(raised.value)
    assert "\n" not in sentence
    return sentence


@pytest.mark.parametrize("kind", ["truncated", "other columns", "empty"])
def test_with_only_unreadable_files_the_sentence_names_them_not_the_landing_folder(workspace, instance, kind):
    workspace.write_source([(1, "2020-01-01", None, "p", "m", "a")], [("Fixed", 0, 1, "p")], [("x", "m")])
    rows = [[f"2021-01-01 {h:02d}:00:00", 1, "m"] for h in range(24)]
    good = json.dumps({"columns": ["interval_start", "consumption_delta", "meterpoint_id"], "data": rows}).encode()
    for n in range(2):
        make, _ = UNREADABLE[kind]
        (workspace.readings / f"bad-{n}.json").write_bytes(make(good))
    line = no_readings_sentence(workspace, instance)
    _, reason = UNREADABLE[kind]
    assert line.startswith("No readings for any day from 2021-01-01")
    assert "2 landing file(s) could not be read" in line
    assert f"bad-0.json: {reason}" in line and "bad-1.json" in line
    assert "put the landing files there" not in line


def test_an_empty_landing_folder_says_so(workspace, instance):
    workspace.write_source([(1, "2020-01-01", None, "p", "m", "a")], [("Fixed", 0, 1, "p")], [("x", "m")])
    line = no_readings_sentence(workspace, instance)
    assert line.startswith("No readings for any day from 2021-01-01") and "OCTO_READINGS_DIR" in line
    assert line.endswith("put the landing files there, or point OCTO_READINGS_DIR at them.")


def test_make_run_reads_json_gz_and_any_case_and_names_every_other_file_and_row(sample_workspace, instance):
    """`make run` over the sample delivered in every way a landing area sees: gzipped, upper-case
    names, a sub-folder, files that are not readings, a corrupt gzip, rows of days never built."""
    ws = sample_workspace
    files = sorted(ws.readings.glob("*.json"))
    files[0].rename(files[0].with_suffix(".JSON"))
    for victim, name in [(files[1], f"{files[1].stem}.json.gz"), (files[2], f"2021-01-04/{files[2].stem}.JSON.GZ")]:
        (ws.readings / name).parent.mkdir(exist_ok=True)
        (ws.readings / name).write_bytes(gzip.compress(victim.read_bytes()))
        victim.unlink()
    foreign = ["README", "notes.txt", "readings.csv", "x.json.bak", "2021-01-04/deliveries.zip"]
    for name in foreign:
        (ws.readings / name).write_bytes(b"not readings\n")
    (ws.readings / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (ws.readings / "broken.json.gz").write_bytes(gzip.compress(files[3].read_bytes())[:100])
    edges = [
        ["2020-12-31 23:30:00", 1.0, "edge"],
        ["2021-01-02 00:00:00", 1.0, "edge"],
        ["2099-01-01 00:00:00", 1.0, "edge"],
    ]
    ws.write_readings("edges.json", edges)
    built = run_pipeline(instance, ws.resources())
    assert built.days == ["2021-01-01", "2021-01-02", LAST_DAY]
    summary = summary_of(ws, built)
    rejected = sorted([*foreign, "broken.json.gz"])
    assert f"files rejected whole               {len(rejected)}" in summary
    for name in foreign:
        assert f"    {name} ({LAST_DAY}): not a readings file: only .json and .json.gz are read" in summary
    assert f"    broken.json.gz ({LAST_DAY}): gzip data is truncated: the file ends mid-stream" in summary
    assert "rows quarantined                   2" in summary and ".DS_Store" not in summary
    with connect(ws.warehouse) as con:
        assert con.execute("SELECT count(*) FROM lake.readings").fetchone() == (SAMPLE_ROWS + 1,)  # every reading
        sources = {s for (s,) in con.execute("SELECT DISTINCT source_file FROM lake.readings").fetchall()}
        assert {files[0].with_suffix(".JSON").name, f"{files[1].stem}.json.gz"} <= sources
        assert f"2021-01-04/{files[2].stem}.JSON.GZ" in sources
        quarantined = con.execute(
            "SELECT source_file, row_number, reading_date::VARCHAR, reason FROM lake.readings_quarantine ORDER BY ALL"
        ).fetchall()
        whole = [(name, None, LAST_DAY) for name in rejected]
        assert [row[:3] for row in quarantined if row[1] is None] == whole
        seen = datetime.now(ZoneInfo("Europe/London")).date()
        assert [row for row in quarantined if row[1] is not None] == [
            ("edges.json", 1, "2021-01-02", "reading dated 2020-12-31, before the first partition 2021-01-01"),
            ("edges.json", 3, "2021-01-02", "reading dated 2099-01-01, more than a day after its file was first "
             f"seen ({seen}): a half hour cannot be read before it has begun"),
        ]  # fmt: skip
        accounted = con.execute(
            "SELECT source_file, reading_date::VARCHAR, rows_loaded, duplicates, rows_quarantined "
            "FROM lake.readings_files WHERE rows_loaded = 0 OR source_file = 'edges.json' ORDER BY 1"
        ).fetchall()
        assert accounted == sorted([*[(n, LAST_DAY, 0, 0, 0) for n in rejected], ("edges.json", "2021-01-02", 1, 0, 2)])
