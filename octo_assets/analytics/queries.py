"""Run the analytics SQL files over Parquet with DuckDB, returning Polars frames.

Each query sees plain relation names (`readings`, `agreement`, `product`), bound here to the
Parquet files of one partition or snapshot, so the SQL reads like what an analyst would write.
"""

from importlib.resources import files

import duckdb
import polars as pl

from octo_assets.relations import bind


def sql_text(name: str) -> str:
    return files("octo_assets.analytics").joinpath("sql", f"{name}.sql").read_text()


def run_query(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    relations: dict[str, str | None],
    parameters: dict[str, object],
) -> pl.DataFrame:
    bind(connection, relations)
    return connection.sql(sql_text(name), params=parameters).pl()
