"""A landing file that cannot be read is reported by the run that reads it: named with its reason in
the run's summary, in lake.readings_quarantine and lake.readings_files, and by a check that fails
in that run. On the case-study sample, as a new user would meet it with `make run`."""

import json

import pytest

from octo_assets import connect
from octo_assets.run.pipeline import print_summary, run_pipeline
from octo_assets_tests.support.commands import one_sentence, run_main
from octo_assets_tests.support.workspace import BACKENDS

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


def damage(ws, kind: str) -> str:
    """Replace one of the sample's files with an unreadable one; its name."""
    victim = sorted(ws.readings.glob("*.json"))[0]
    make, _ = UNREADABLE[kind]
    victim.write_bytes(make(victim.read_bytes()))
    return victim.name


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_make_run_names_an_unreadable_file_and_a_check_fails_in_that_run(sample_workspace, instance, capsys, kind):
    ws = sample_workspace
    name = damage(ws, kind)
    ws.sync()
    built = run_pipeline(instance, ws.resources())
    assert built.days == ["2021-01-01", "2021-01-02", LAST_DAY]
    assert ("readings_nothing_quarantined", "ERROR", LAST_DAY) in built.failed_checks

    print_summary(ws.warehouse, built.days, built.failed_checks)
    summary = capsys.readouterr().out
    _, reason = UNREADABLE[kind]
    assert "files rejected whole               1" in summary
    [named] = [line for line in summary.splitlines() if name in line]
    assert named.strip().startswith(f"{name} ({LAST_DAY}): ") and reason in named
    assert f"ERROR readings_nothing_quarantined on {LAST_DAY}" in summary

    with connect(ws.warehouse) as con:
        assert con.execute(
            "SELECT reading_date::VARCHAR, row_number, reason LIKE ? FROM lake.readings_quarantine", [f"%{reason}%"]
        ).fetchall() == [(LAST_DAY, None, True)]
        files = con.execute(
            "SELECT reading_date::VARCHAR, rows_loaded, duplicates, rows_quarantined "
            "FROM lake.readings_files WHERE source_file = ?",
            [name],
        ).fetchall()
        assert files == [(LAST_DAY, 0, 0, 0)]  # accounted on its day, with no rows
        # every other file loads: nothing else is lost
        assert con.execute("SELECT count(*) FROM lake.readings").fetchone() == (SAMPLE_ROWS - 143,)


def test_a_second_run_reports_it_again_on_the_same_day_and_nowhere_else(sample_workspace, instance):
    ws = sample_workspace
    name = damage(ws, "truncated")
    run_pipeline(instance, ws.resources())
    again = run_pipeline(instance, ws.resources(), ("2021-01-01", "2021-01-02"))
    assert not [c for c in again.failed_checks if c[0] == "readings_nothing_quarantined"]
    with connect(ws.warehouse) as con:
        assert con.execute(
            "SELECT reading_date::VARCHAR FROM lake.readings_quarantine WHERE source_file = ?", [name]
        ).fetchall() == [(LAST_DAY,)]


@pytest.mark.parametrize("kind", ["truncated", "other columns", "empty"])
def test_with_only_unreadable_files_the_sentence_names_them_not_the_landing_folder(workspace, tmp_path, kind):
    workspace.write_source([(1, "2020-01-01", None, "p", "m", "a")], [("Fixed", 0, 1, "p")], [("x", "m")])
    rows = [[f"2021-01-01 {h:02d}:00:00", 1, "m"] for h in range(24)]
    good = json.dumps({"columns": ["interval_start", "consumption_delta", "meterpoint_id"], "data": rows}).encode()
    for n in range(2):
        make, _ = UNREADABLE[kind]
        (workspace.readings / f"bad-{n}.json").write_bytes(make(good))
    line = one_sentence(run_main(workspace, tmp_path))
    _, reason = UNREADABLE[kind]
    assert "2 landing file(s) could not be read" in line
    assert f"bad-0.json: {reason}" in line and "bad-1.json" in line
    assert "put the landing files there" not in line
