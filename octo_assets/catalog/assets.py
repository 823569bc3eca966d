"""The catalog asset: the analysts' DuckDB file of views over the lake."""

import dagster as dg

from octo_assets.catalog.views import build_catalog
from octo_assets.keys import ACTIVE_AGREEMENTS, AGREEMENT, HALF_HOURLY, METERPOINT, PRODUCT, PRODUCT_DAY, READINGS
from octo_assets.metadata import location
from octo_assets.resources import LakeStorage, Warehouse

CATALOG_POOL = "duckdb_catalog"


@dg.asset(
    key=["warehouse", "catalog"],
    deps=[
        READINGS,
        AGREEMENT,
        PRODUCT,
        METERPOINT,
        ACTIVE_AGREEMENTS,
        HALF_HOURLY,
        PRODUCT_DAY,
    ],
    group_name="warehouse",
    pool=CATALOG_POOL,  # one writer of the catalog file at a time
    description="DuckDB catalog file: schemas `lake` and `analytics`, views over the Parquet lake.",
)
def catalog(lake: LakeStorage, warehouse: Warehouse) -> dg.MaterializeResult:
    storage, name = warehouse.location()
    views = build_catalog(lake.lake(), storage, name)
    return dg.MaterializeResult(
        metadata={
            "views": dg.MetadataValue.md("\n".join(f"- `{v}`" for v in views)),
            "path": location(storage.uri(name)),
        }
    )
