"""One shape for every check: a SQL query that returns the offending rows.

No rows: the check passes. Otherwise its metadata counts them and shows the first ones,
so the UI names the meterpoints, files or agreements at fault, not just a red light.
"""

import dagster as dg
import duckdb
import polars as pl

from octo_assets.analytics.queries import bind
from octo_assets.metadata import markdown_table

SHOWN = 20


def offenders(sql: str, relations: dict[str, str | None], parameters: dict | None = None) -> pl.DataFrame:
    with duckdb.connect() as connection:
        bind(connection, relations)
        return connection.sql(sql, params=parameters or {}).pl()


def check_result(
    found: pl.DataFrame,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=found.height == 0,
        severity=severity,
        metadata={
            "offending_rows": found.height,
            "offenders": dg.MetadataValue.md(markdown_table(found, SHOWN) if found.height else "none"),
            **metadata,
        },
    )


def per_day(days: list[str], find) -> pl.DataFrame:
    """Offenders of each day of the run, with the day in front; `find(day)` returns a frame."""
    frames = [find(day).select(pl.lit(day).alias("day"), pl.all()) for day in days]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
