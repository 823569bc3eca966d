"""The deployment's instance (config/dagster.production.yaml) on a real PostgreSQL server:
the pipeline runs on it, and its runs and materialisations are rows in Postgres."""

import shutil
from collections.abc import Iterator

import dagster as dg
import pytest

from octo_assets.run import run_pipeline
from octo_assets_tests.support.postgres import PRODUCTION_YAML


@pytest.fixture
def production_instance(postgres, tmp_path, monkeypatch) -> Iterator[dg.DagsterInstance]:
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_the_production_instance_keeps_everything_in_postgres(production_instance):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    instance = production_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.run_queue_config.max_concurrent_runs == 3


def test_the_pipeline_runs_on_the_production_instance(production_instance, postgres, sample_workspace):
    days = run_pipeline(production_instance, sample_workspace.resources()).days

    runs = production_instance.get_runs()
    # the first snapshot, then the days in one single-run backfill
    success = dg.DagsterRunStatus.SUCCESS
    assert sorted((r.job_name, r.status) for r in runs) == [("build_all", success), ("source_snapshot_job", success)]
    assert dict(postgres.execute("SELECT status, count(*) FROM runs GROUP BY status")) == {"SUCCESS": 2}
    rows = postgres.execute(
        "SELECT asset_key, count(*) FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key"
    )
    materialisations = {dg.AssetKey.from_db_string(key).to_user_string(): n for key, n in rows}
    [(check_executions,)] = postgres.execute("SELECT count(*) FROM asset_check_executions")
    pools = postgres.execute('SELECT concurrency_key, "limit" FROM concurrency_limits')
    daily = [
        "lake/readings",
        "analytics/active_agreements",
        "analytics/half_hourly_consumption",
        "analytics/daily_product_consumption",
    ]
    assert materialisations == {
        **{key: len(days) for key in daily},  # one per partition
        "lake/agreement": 1,
        "lake/product": 1,
        "lake/meterpoint": 1,
        "warehouse/catalog": 1,
    }
    assert check_executions > 0
    assert pools == [("duckdb_catalog", 1)]  # the catalog's pool took the default limit, shared by every host
