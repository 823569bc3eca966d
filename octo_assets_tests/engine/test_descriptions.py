"""Every column of every asset is described, in one sentence, with the decided meaning of ids."""

import dagster as dg
import pytest

from octo_assets import descriptions
from octo_assets.analytics.tables import TABLES as ANALYTICS_TABLES
from octo_assets.definitions import defs
from octo_assets.readings.ingest import LAKE_SCHEMA
from octo_assets.source.snapshot import TABLES

TABLES_WITHOUT_COLUMNS = {"warehouse/catalog"}  # a DuckDB file of views: its columns are the views'


def asset_schemas() -> dict[str, dg.TableSchema | None]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): graph.get(key).metadata.get("dagster/column_schema") for key in graph.get_all_asset_keys()
    }


def test_every_asset_but_the_catalog_has_a_column_schema():
    schemas = asset_schemas()
    assert {key for key, schema in schemas.items() if schema is None} == TABLES_WITHOUT_COLUMNS
    assert len(schemas) == 10


def test_every_column_of_every_asset_schema_is_described():
    for key, schema in asset_schemas().items():
        for column in schema.columns if schema else []:
            assert column.description and column.description.strip(), f"{key}.{column.name}"


def test_the_asset_schemas_are_the_tables_columns():
    schemas = asset_schemas()
    # the Parquet file's columns, and the day its path names (lake.readings shows it: test_pipeline)
    assert [c.name for c in schemas["lake/readings"].columns if c.name != "reading_date"] == list(LAKE_SCHEMA)
    for table, columns in TABLES.items():
        assert [c.name for c in schemas[f"lake/{table}"].columns] == list(columns)
    for table in ANALYTICS_TABLES:
        assert [c.name for c in schemas[f"analytics/{table.name}"].columns] == list(table.schema)
        assert set(table.column_descriptions) == set(table.schema)
    assert [c.name for c in schemas["landing/readings_files"].columns] == [
        "interval_start",
        "consumption_delta",
        "meterpoint_id",
    ]
    source_db = {c.name: c.type for c in schemas["source/case_study_db"].columns}
    assert source_db["agreement.agreement_id"] == source_db["product.id"] == "INTEGER"
    assert source_db["agreement.meterpoint_id"] == source_db["product.product_id"] == "TEXT"


ALL_TABLES = {
    name: columns for name, columns in vars(descriptions).items() if name.isupper() and isinstance(columns, dict)
}


@pytest.mark.parametrize("table", sorted(set(ALL_TABLES) - {"VIEWS", "SOURCE_TABLES"}))
def test_each_description_is_one_sentence(table):
    for column, text in ALL_TABLES[table].items():
        assert text.strip() and text.endswith("."), (table, column)
        assert ". " not in text, (table, column)  # one sentence


def test_ids_are_text_except_agreement_id_and_product_id():
    for table, columns in descriptions.VIEWS.items():
        for column, text in columns.items():
            if column in ("agreement_id", "id"):
                assert "an integer as in the source" in text, (table, column)
            elif column.endswith("_id"):
                assert "as text exactly as" in text, (table, column)


def test_the_two_agreement_rules_are_told_apart():
    assert "valid_from < as_of_date" in descriptions.ACTIVE_AGREEMENTS["as_of_date"]
    assert "valid_from <= day < valid_to" in descriptions.DAILY_PRODUCT_CONSUMPTION["product_display_name"]
    assert "NULL = no agreement covered the reading" in descriptions.DAILY_PRODUCT_CONSUMPTION["product_display_name"]
