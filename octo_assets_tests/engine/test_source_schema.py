"""A source database without a table or column the snapshot reads: `make run` refuses with one
sentence before it lists or writes anything, and the snapshot asset fails with the same sentence."""

import sqlite3

import dagster as dg
import pytest

from octo_assets.source.snapshot import TABLES, schema_problem
from octo_assets_tests.support.commands import one_sentence, run_main
from octo_assets_tests.support.runs import materialize

FIX = "; point OCTO_SOURCE_DB at the business's SQLite database, which has the tables agreement ("

DAMAGE = {
    "no agreement table": ("DROP TABLE agreement", "table 'agreement' is missing"),
    "no product table": ("DROP TABLE product", "table 'product' is missing"),
    "no meterpoint table": ("DROP TABLE meterpoint", "table 'meterpoint' is missing"),
    "a column missing": (
        "ALTER TABLE agreement DROP COLUMN agreement_valid_to",
        "table 'agreement' lacks column(s) agreement_valid_to",
    ),
    "columns of two tables missing": (
        "ALTER TABLE product DROP COLUMN is_variable; ALTER TABLE meterpoint DROP COLUMN region",
        "table 'product' lacks column(s) is_variable, and table 'meterpoint' lacks column(s) region",
    ),
    "a table and a column missing": (
        "DROP TABLE meterpoint; ALTER TABLE product DROP COLUMN display_name",
        "table 'meterpoint' is missing, and table 'product' lacks column(s) display_name",
    ),
    "an empty database": (
        "DROP TABLE agreement; DROP TABLE product; DROP TABLE meterpoint",
        "tables 'agreement', 'product', 'meterpoint' are missing",
    ),
}


def damaged(ws, kind: str) -> str:
    """Damage the workspace's source database; the sentence expected."""
    script, says = DAMAGE[kind]
    with sqlite3.connect(ws.source_db) as con:
        con.executescript(script)
    con.close()
    return f"OCTO_SOURCE_DB: {ws.source_db}: {says}{FIX}"


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_schema_problem_names_the_file_what_is_missing_and_the_fix(sample_workspace, kind):
    assert schema_problem(sample_workspace.source_db) is None
    says = damaged(sample_workspace, kind)
    problem = schema_problem(sample_workspace.source_db)
    assert problem.startswith(says) and "\n" not in problem
    for table, columns in TABLES.items():  # the whole schema wanted, to compare with what is there
        assert f"{table} ({', '.join(columns)})" in problem


@pytest.mark.parametrize("kind", ["no product table", "a column missing", "an empty database"])
def test_make_run_refuses_before_it_lists_or_writes_anything(sample_workspace, tmp_path, kind):
    says = damaged(sample_workspace, kind)
    done = run_main(sample_workspace, tmp_path)
    assert one_sentence(done).startswith(says)  # one line, no traceback
    assert "listing the landing area" not in done.stdout
    lake = sample_workspace.lake
    assert not lake.exists() or not any(lake.iterdir())
    assert not (tmp_path / "ws" / "warehouse.duckdb").exists()


@pytest.mark.parametrize("kind", ["no product table", "an empty database"])
def test_the_snapshot_asset_fails_with_the_same_sentence(sample_workspace, instance, kind):
    says = damaged(sample_workspace, kind)
    result = materialize(sample_workspace, instance, dg.AssetSelection.groups("source").materializable())
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    sentence = error.message.strip().split(": ", 1)[-1]  # after the class name, as make run shows it
    assert sentence == schema_problem(sample_workspace.source_db)
    assert sentence.startswith(says)
    lake = sample_workspace.lake
    assert not (lake / "source").exists()  # no snapshot published
