"""A source database without a table or column the snapshot reads is one sentence naming the file,
what is missing and the fix (source.snapshot.schema_problem). `make run` says it before it lists or
writes anything (integration/test_commands.py); the snapshot step fails with the same sentence
(in_process/test_faults.py)."""

import sqlite3

import pytest

from octo_assets.source.snapshot import TABLES, schema_problem

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
