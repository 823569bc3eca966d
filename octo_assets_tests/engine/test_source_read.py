"""The source snapshot read a chunk of rows at a time (bounded memory at a million agreements)
equals the tables as SQLite holds them, read here with plain sqlite3 and Python conversions,
whatever the chunk size: one row, a size dividing a table exactly, one more, all at once."""

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from octo_assets.source.snapshot import TABLES, SourceError, read_source
from octo_assets_tests.support.workspace import PAIR_SOURCE, UNTYPED_SOURCE_DDL

DATA = Path(__file__).resolve().parents[2] / "data" / "case_study.db"


def as_sqlite_holds(path: Path, table: str) -> list[tuple]:
    """The table's rows in rowid order, dates as dates and 0/1 as booleans (NULL stays None)."""
    kinds = TABLES[table]
    columns = ", ".join(f'"{c}"' for c in kinds)
    with sqlite3.connect(path) as connection:
        rows = connection.execute(f'SELECT {columns} FROM "{table}" ORDER BY rowid').fetchall()

    def typed(value, kind):
        if value is None:
            return None
        if kind == pl.Date:
            return date.fromisoformat(value)
        if kind == pl.Boolean:
            return bool(value)
        return value

    return [tuple(typed(v, k) for v, k in zip(row, kinds.values())) for row in rows]


@pytest.fixture
def source(tmp_path) -> Path:
    copy = tmp_path / "source.db"
    shutil.copy(DATA, copy)
    with sqlite3.connect(copy) as connection:  # open-ended agreements: NULLs inside some chunks only
        connection.execute("UPDATE agreement SET agreement_valid_to = NULL WHERE rowid IN (2, 50, 51)")
    return copy


@pytest.mark.parametrize("rows_per_read", [1, 2, 7, 50, 63, 64, 100_000])
def test_every_table_read_in_chunks_equals_what_sqlite_holds(source, rows_per_read):
    snapshot = read_source(source, rows_per_read=rows_per_read)
    assert set(snapshot.tables) == set(TABLES)
    for table, kinds in TABLES.items():
        frame = snapshot.tables[table]
        expected = as_sqlite_holds(source, table)
        assert frame.schema == pl.Schema(kinds), table
        assert frame.rows() == expected, table
        assert frame.n_chunks() == 1, table  # one chunk, as a whole read gives
    counts = {table: len(as_sqlite_holds(source, table)) for table in TABLES}
    assert counts == {"agreement": 210, "product": 63, "meterpoint": 100}
    assert snapshot.tables["agreement"]["agreement_valid_to"].null_count() >= 3


def test_an_empty_table_reads_as_an_empty_frame_of_its_types(source):
    with sqlite3.connect(source) as connection:
        connection.execute("DELETE FROM meterpoint")
    for rows_per_read in (1, 100_000):
        frame = read_source(source, rows_per_read=rows_per_read).tables["meterpoint"]
        assert frame.height == 0
        assert frame.schema == pl.Schema(TABLES["meterpoint"])


# -- nothing coerced: a value that does not fit its column fails the read, naming it ------------------


@pytest.mark.parametrize(
    "table, column, literal, shown",
    [
        ("agreement", "agreement_id", "'A-17'", "'A-17' (stored as text) is not an integer"),
        ("agreement", "agreement_id", "'0042'", "'0042' (stored as text) is not an integer"),
        ("agreement", "agreement_id", "17.5", "17.5 (stored as real) is not an integer"),
        ("product", "is_variable", "'yes'", "'yes' (stored as text) is not 0 or 1"),
        ("product", "is_variable", "2", "2 (stored as integer) is not 0 or 1"),
        ("agreement", "agreement_valid_from", "'2021-13-01'", "'2021-13-01' (stored as text) is not a date"),
        ("agreement", "agreement_valid_to", "'2021/01/05'", "'2021/01/05' (stored as text) is not a date"),
        ("agreement", "agreement_valid_to", "20210105", "20210105 (stored as integer) is not a date"),
        ("meterpoint", "meterpoint_id", "42", "42 (stored as integer) is not text"),
        ("product", "id", "'x1'", "'x1' (stored as text) is not an integer"),
    ],
)
def test_a_value_that_does_not_fit_its_column_fails_the_read_naming_it(workspace, table, column, literal, shown):
    """SQLite stores what a writer gives it; a cast would turn 'A-17' into 0 and '0042' into 42. (The
    snapshot step failing with this sentence, the last good snapshot staying: in_process/test_integrity.py.)"""
    ws = workspace
    ws.write_source(PAIR_SOURCE["agreement"], PAIR_SOURCE["product"], PAIR_SOURCE["meterpoint"], ddl=UNTYPED_SOURCE_DDL)
    assert set(read_source(ws.source_db).tables) == set(TABLES)  # as written, every value fits
    with sqlite3.connect(ws.source_db) as con:
        con.execute(f"UPDATE {table} SET {column} = {literal} WHERE rowid = 2")
    con.close()
    with pytest.raises(SourceError) as raised:
        read_source(ws.source_db)
    message = str(raised.value)
    assert message.startswith(f"{ws.source_db}: table '{table}', column '{column}', row 2: {shown}")
    assert "nothing was converted" in message and "\n" not in message
