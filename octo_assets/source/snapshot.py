"""Read the source SQLite database into typed frames, without ever writing to it.

All three tables are read inside one read transaction, so they are from the same moment. Nothing
is coerced: SQLite keeps whatever a writer stored (a column's declared type is only a hint), so
each column's values are first checked against what the column must hold, in SQL, and a value
that does not fit (an `agreement_id` of 'A-17' or '0042', an `is_variable` of 'yes', a date of
'2021-13-01', an id stored as a number) fails the snapshot with a sentence naming the table, the
column, the row and the value. Ids are kept as text exactly as stored (`0123`, `3674e80033`).
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# table -> {column: type}
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
# SQL true where a stored value does not fit the column (NULLs fit every column; the checks judge them)
_UNFIT = {
    pl.Int64: ("an integer", "typeof({c}) != 'integer'"),
    pl.String: ("text", "typeof({c}) != 'text'"),
    pl.Boolean: ("0 or 1", "typeof({c}) != 'integer' OR {c} NOT IN (0, 1)"),
    pl.Date: (
        "a date YYYY-MM-DD",
        "typeof({c}) != 'text' OR {c} NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' OR date({c}) IS NOT {c}",
    ),
}


class SourceError(Exception):
    """The source database cannot be snapshotted; the message names the file and the reason."""


@dataclass(frozen=True)
class SourceSnapshot:
    tables: dict[str, pl.DataFrame]


# rows fetched at a time: a million rows as Python tuples take about 600 MB, a frame a tenth of it
ROWS_PER_READ = 100_000


def read_source(path: Path, busy_timeout_s: float = 10.0, rows_per_read: int = ROWS_PER_READ) -> SourceSnapshot:
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
        for table in TABLES:
            _check_values(connection, path, table)
        return SourceSnapshot({table: _read_table(connection, table, rows_per_read) for table in TABLES})
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: {_explain(exc)}") from exc
    finally:
        connection.close()


def schema_problem(path: Path, busy_timeout_s: float = 1.0) -> str | None:
    """One sentence naming the file, the tables or columns the snapshot reads that it lacks, and the
    fix; None if it has them all (or cannot be read: the snapshot says why). Opened read-only."""
    uri = f"file:{path.resolve().as_posix()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s)
        try:
            return _schema_problem(connection, path)
        finally:
            connection.close()
    except sqlite3.Error:
        return None


def _schema_problem(connection: sqlite3.Connection, path: Path) -> str | None:
    missing_tables, missing_columns = [], []
    for table, columns in TABLES.items():
        found = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
        if not found:
            missing_tables.append(table)
        elif missing := sorted(set(columns) - found):
            missing_columns.append(f"table {table!r} lacks column(s) {', '.join(missing)}")
    if not missing_tables and not missing_columns:
        return None
    if len(missing_tables) == 1:
        missing_columns.insert(0, f"table {missing_tables[0]!r} is missing")
    elif missing_tables:
        missing_columns.insert(0, f"tables {', '.join(repr(t) for t in missing_tables)} are missing")
    wanted = "; ".join(f"{table} ({', '.join(columns)})" for table, columns in TABLES.items())
    return (
        f"OCTO_SOURCE_DB: {path}: {', and '.join(missing_columns)}; point OCTO_SOURCE_DB at the business's "
        f"SQLite database, which has the tables {wanted}."
    )


def _check_columns(connection: sqlite3.Connection, path: Path) -> None:
    problem = _schema_problem(connection, path)
    if problem:
        raise SourceError(problem)


def _check_values(connection: sqlite3.Connection, path: Path, table: str) -> None:
    """Fail on the first stored value that does not fit its column (and count the others)."""
    for column, dtype in TABLES[table].items():
        expected, unfit = _UNFIT[dtype]
        condition = f'"{column}" IS NOT NULL AND ({unfit.format(c=chr(34) + column + chr(34))})'
        bad = connection.execute(
            f'SELECT rowid, "{column}", typeof("{column}"), count(*) OVER () FROM "{table}" WHERE {condition} '
            "ORDER BY rowid LIMIT 1"
        ).fetchone()
        if bad:
            rowid, value, stored, total = bad
            more = f" (and {total - 1} more such value(s) in the column)" if total > 1 else ""
            raise SourceError(
                f"{path}: table {table!r}, column {column!r}, row {rowid}: {value!r} (stored as {stored}) "
                f"is not {expected}{more}; nothing was converted, and the previous snapshot stays in use"
            )


def _read_table(connection: sqlite3.Connection, table: str, rows_per_read: int) -> pl.DataFrame:
    schema = TABLES[table]
    columns = ", ".join(f'"{c}"' for c in schema)
    cursor = connection.execute(f'SELECT {columns} FROM "{table}" ORDER BY rowid')
    as_read = {c: (pl.String if t == pl.Date else pl.Int64 if t == pl.Boolean else t) for c, t in schema.items()}
    parts = [pl.DataFrame(schema=as_read)]
    while rows := cursor.fetchmany(rows_per_read):
        parts.append(pl.DataFrame(rows, schema=as_read, orient="row", strict=True))
    frame = pl.concat(parts, rechunk=True)
    return frame.with_columns(
        *[pl.col(c).str.strptime(pl.Date, "%Y-%m-%d", strict=True) for c, t in schema.items() if t == pl.Date],
        *[pl.col(c).cast(pl.Boolean) for c, t in schema.items() if t == pl.Boolean],
    )


def _explain(exc: sqlite3.DatabaseError) -> str:
    message = str(exc)
    if "locked" in message or "busy" in message:
        return f"database is locked by a writer ({message}); the previous snapshot stays in use, retry later"
    if "not a database" in message or "malformed" in message:
        return f"file is not a readable SQLite database ({message})"
    return message
