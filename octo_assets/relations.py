"""Relation names bound to the Parquet files of a lake version in DuckDB, so that SQL reads like what an analyst would
write (`FROM readings`), whoever runs it: the analytics, the checks, the catalog."""

import duckdb

from octo_assets.storage import register_filesystems


def bind(connection: duckdb.DuckDBPyConnection, relations: dict[str, list[str]]) -> None:
    """Bind each relation name to Parquet files (none: an empty relation of the right columns)."""
    connection.execute("SET TimeZone = 'UTC'")
    register_filesystems(connection, [uri for files in relations.values() for uri in files])
    for relation, files in relations.items():
        source = f"read_parquet({sql_list(files)})" if files else f"({EMPTY[relation]})"
        connection.execute(f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT * FROM {source}")


def sql_literal(path: str) -> str:
    """A path as a SQL string literal (DDL cannot take bound parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def sql_list(paths: list[str]) -> str:
    """Paths as a SQL list literal, for read_parquet([...])."""
    return "[" + ", ".join(sql_literal(p) for p in paths) + "]"


# a day with no readings still gets its (empty) partition
EMPTY = {
    "readings": "SELECT NULL::VARCHAR AS meterpoint_id, NULL::TIMESTAMPTZ AS interval_start_utc, "
    "NULL::TIMESTAMP AS interval_start_local, NULL::DECIMAL(18, 3) AS consumption_kwh LIMIT 0",
}
