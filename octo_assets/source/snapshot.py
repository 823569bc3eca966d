"""Read the source SQLite database into typed frames, without ever writing to it.

Ids are kept as text exactly as stored (`0123`, `3674e80033`): nothing here guesses types.
All three tables are read inside one read transaction, so they are from the same moment.
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# table -> {column: type}; the SQL casts make the types explicit whatever SQLite holds
TABLES: dict[str, dict[str, pl.DataType]] = {
    "agreement": {
        "agreement_id": pl.Int64,
        "agreement_valid_from": pl.Date,
        "agreement_valid_to": pl.Date,
        "product_id": pl.String,
        "meterpoint_id": pl.String,
        "account_id": pl.String,
    },
    "product": {
        "product_id": pl.String,
        "display_name": pl.String,
        "is_variable": pl.Boolean,
        "id": pl.Int64,
    },
    "meterpoint": {
        "meterpoint_id": pl.String,
        "region": pl.String,
    },
}
_SQL_CAST = {pl.Int64: "INTEGER", pl.String: "TEXT", pl.Date: "TEXT", pl.Boolean: "INTEGER"}


class SourceError(Exception):
    """The source database cannot be snapshotted; the message names the file and the reason."""


@dataclass(frozen=True)
class SourceSnapshot:
    tables: dict[str, pl.DataFrame]


def read_source(path: Path, busy_timeout_s: float = 10.0) -> SourceSnapshot:
    if not path.is_file():
        raise SourceError(f"{path}: source database not found (set OCTO_SOURCE_DB)")
    uri = f"file:{path.resolve().as_posix()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s)
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: cannot open read-only: {exc}") from exc
    try:
        connection.execute("BEGIN")  # one snapshot of all three tables
        _check_columns(connection, path)
        return SourceSnapshot({table: _read_table(connection, path, table) for table in TABLES})
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: {_explain(exc)}") from exc
    finally:
        connection.close()


def _check_columns(connection: sqlite3.Connection, path: Path) -> None:
    for table, columns in TABLES.items():
        found = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
        if not found:
            raise SourceError(f"{path}: table {table!r} is missing")
        missing = sorted(set(columns) - found)
        if missing:
            raise SourceError(f"{path}: table {table!r} lacks column(s) {', '.join(missing)}")


def _read_table(connection: sqlite3.Connection, path: Path, table: str) -> pl.DataFrame:
    schema = TABLES[table]
    select = ", ".join(f'CAST("{c}" AS {_SQL_CAST[t]}) AS "{c}"' for c, t in schema.items())
    rows = connection.execute(f'SELECT {select} FROM "{table}" ORDER BY rowid').fetchall()
    text = {c: (pl.String if t == pl.Date else t) for c, t in schema.items()}
    try:
        frame = pl.DataFrame(rows, schema=text, orient="row", strict=True)
        return frame.with_columns(
            pl.col(c).str.strptime(pl.Date, "%Y-%m-%d", strict=True) for c, t in schema.items() if t == pl.Date
        )
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise SourceError(f"{path}: table {table!r} has a value of the wrong type: {exc}") from exc


def _explain(exc: sqlite3.DatabaseError) -> str:
    message = str(exc)
    if "locked" in message or "busy" in message:
        return f"database is locked by a writer ({message}); the previous snapshot stays in use, retry later"
    if "not a database" in message or "malformed" in message:
        return f"file is not a readable SQLite database ({message})"
    return message
