"""Where things are. Every location is a setting, read from the environment with a default."""

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from octo_assets.lake import Lake

DEFAULTS = {
    "OCTO_READINGS_DIR": "data/readings",
    "OCTO_SOURCE_DB": "data/case_study.db",
    "OCTO_LAKE_DIR": "data/lake",
    "OCTO_WAREHOUSE": "data/warehouse.duckdb",
}


def setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


class LandingFolder(dg.ConfigurableResource):
    """The folder readings files land in (read recursively)."""

    path: str

    def root(self) -> Path:
        root = Path(self.path).expanduser().resolve()
        if not root.is_dir():
            raise dg.Failure(f"Landing folder {root} does not exist: set OCTO_READINGS_DIR to the readings folder.")
        return root


class SourceDatabase(dg.ConfigurableResource):
    """The nightly SQLite database; only ever opened read-only."""

    path: str
    busy_timeout_s: float = 10.0  # how long to wait for a writer to finish before giving up


class LakeStorage(dg.ConfigurableResource):
    """The root of the Parquet lake."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class Warehouse(dg.ConfigurableResource):
    """The analysts' DuckDB catalog file (views over the lake)."""

    path: str


def build_resources(readings_dir: str, source_db: str, lake_dir: str, warehouse: str) -> dict:
    return {
        "landing": LandingFolder(path=str(readings_dir)),
        "source_db": SourceDatabase(path=str(source_db)),
        "lake": LakeStorage(root=str(lake_dir)),
        "warehouse": Warehouse(path=str(warehouse)),
        # analytics SQL runs in a private in-memory database over Parquet, never in the catalog
        "duckdb": DuckDBResource(database=":memory:", connection_config={"threads": 2}),
    }


def resources_from_env() -> dict:
    return build_resources(
        setting("OCTO_READINGS_DIR"), setting("OCTO_SOURCE_DB"), setting("OCTO_LAKE_DIR"), setting("OCTO_WAREHOUSE")
    )
