import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import orjson
import pytest

from octo_assets.resources import build_resources

SAMPLE = Path(__file__).resolve().parents[1] / "data"
COLUMNS = ["interval_start", "consumption_delta", "meterpoint_id"]


@dataclass
class Workspace:
    """Every location the pipeline reads or writes, all under one tmp_path."""

    root: Path

    @property
    def readings(self) -> Path:
        return self.root / "readings"

    @property
    def source_db(self) -> Path:
        return self.root / "case_study.db"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def resources(self) -> dict:
        return build_resources(self.readings, self.source_db, self.lake, self.warehouse)

    def write_readings(self, name: str, rows: list, pretty: bool = False, columns=COLUMNS) -> Path:
        path = self.readings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        option = orjson.OPT_INDENT_2 if pretty else 0
        path.write_bytes(orjson.dumps({"columns": columns, "data": rows}, option=option))
        return path

    def write_source(self, agreements: list[tuple], products: list[tuple], meterpoints: list[tuple]) -> None:
        """agreements: (id, from, to, product_id, meterpoint_id, account_id);
        products: (display_name, is_variable, id, product_id); meterpoints: (region, meterpoint_id)."""
        self.source_db.unlink(missing_ok=True)
        with sqlite3.connect(self.source_db) as con:
            con.executescript(SOURCE_DDL)
            con.executemany("INSERT INTO agreement VALUES (?, ?, ?, ?, ?, ?)", agreements)
            con.executemany("INSERT INTO product VALUES (?, ?, ?, ?)", products)
            con.executemany("INSERT INTO meterpoint VALUES (?, ?)", meterpoints)
        con.close()


SOURCE_DDL = """
CREATE TABLE "agreement" ("agreement_id" INTEGER, "agreement_valid_from" DATE, "agreement_valid_to" DATE,
                          "product_id" TEXT, "meterpoint_id" TEXT, "account_id" TEXT);
CREATE TABLE "product" ("display_name" TEXT, "is_variable" INTEGER, "id" INTEGER, "product_id" TEXT);
CREATE TABLE "meterpoint" ("region" TEXT, "meterpoint_id" TEXT);
"""


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.readings.mkdir(parents=True)
    return ws


@pytest.fixture
def sample_workspace(workspace) -> Workspace:
    """The case-study inputs, copied so that nothing the tests do touches data/."""
    shutil.copytree(SAMPLE / "readings", workspace.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", workspace.source_db)
    return workspace


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        yield instance


@pytest.fixture(scope="module")
def module_workspace(tmp_path_factory) -> Workspace:
    """A workspace shared by one module's tests, for pipelines too slow to build per test."""
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    ws.readings.mkdir(parents=True)
    return ws


@pytest.fixture(scope="module")
def module_instance(tmp_path_factory):
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        yield instance


def materialize(
    ws: Workspace,
    instance,
    selection,
    partition_keys: list[str] | None = None,
    run_config=None,
    resources: dict | None = None,
):
    """Materialise a selection (with its checks) through Dagster, as the UI would; never raises."""
    from octo_assets.definitions import ASSET_CHECKS, ASSETS

    tags = {}
    if partition_keys:
        tags = {
            "dagster/asset_partition_range_start": partition_keys[0],
            "dagster/asset_partition_range_end": partition_keys[-1],
        }
    return dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=selection,
        instance=instance,
        resources=resources or ws.resources(),
        tags=tags,
        run_config=run_config,
        raise_on_error=False,
    )


def check_outcomes(result) -> dict[str, tuple[bool, str, dict]]:
    """check name -> (passed, severity, metadata values)"""
    return {
        e.check_name: (e.passed, e.severity.value, {k: v.value for k, v in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }
