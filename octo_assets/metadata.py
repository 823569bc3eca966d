"""Metadata every materialisation carries: schema, column lineage, row count and a preview."""

from collections.abc import Mapping, Sequence

import dagster as dg
import polars as pl

PREVIEW_ROWS = 10


def column_schema(
    schema: Mapping[str, pl.DataType | str], descriptions: Mapping[str, str] | None = None
) -> dg.TableSchema:
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype), description=descriptions.get(name)) for name, dtype in schema.items()]
    )


def column_lineage(lineage: Mapping[str, Sequence[tuple[dg.AssetKey, str]]]) -> dg.TableColumnLineage:
    """{column: [(upstream asset, upstream column), ...]}"""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=key, column_name=name) for key, name in deps]
            for column, deps in lineage.items()
        }
    )


def markdown_table(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A small Markdown table of the first rows, for the UI (no pandas needed)."""
    head = frame.head(rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + " --- |" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |")
    if frame.height > rows:
        lines.append(f"\n_{rows} of {frame.height} rows_")
    return "\n".join(lines)


def location(uri: str) -> dg.MetadataValue:
    """Where a file is, as the UI shows it: a path on disk, a URL on object storage."""
    return dg.MetadataValue.url(uri) if "://" in uri else dg.MetadataValue.path(uri)


def table_metadata(
    frame: pl.DataFrame, lineage: dg.TableColumnLineage | None = None, descriptions: Mapping[str, str] | None = None
) -> dict:
    metadata = {
        "dagster/column_schema": column_schema(frame.schema, descriptions),
        "dagster/row_count": frame.height,
        "preview": dg.MetadataValue.md(markdown_table(frame)),
    }
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    return metadata


def version_metadata(published) -> dict:
    """Where a published day is: its Delta table and the version its commit made (lake.Published);
    the commit itself names the run and the partition."""
    metadata = {"path": location(published.uri)}
    if published.version is not None:
        metadata["delta_version"] = published.version
    return metadata
