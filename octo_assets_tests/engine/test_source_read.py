"""The source snapshot read a chunk of rows at a time (bounded memory at a million agreements)
equals the tables as SQLite holds them, read here with plain sqlite3 and Python conversions,
whatever the chunk size: one row, a size dividing a table exactly, one more, all at once."""

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from octo_assets.source.snapshot import TABLES, read_source

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
