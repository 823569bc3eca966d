"""The deployment's instance (config/dagster.production.yaml) on a real PostgreSQL server:
the pipeline runs on it, and its runs and materialisations are rows in Postgres."""

import shutil
from collections.abc import Iterator

import dagster as dg
import pytest

from octo_assets.home import recorded_lake, refusal
from octo_assets.resources import LakeStorage
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
    # the new files parsed (make run's pre-pass), the first snapshot, then the days in one run
    success = dg.DagsterRunStatus.SUCCESS
    assert sorted((r.job_name, r.status) for r in runs) == [
        ("build_all", success),
        ("readings_prepass_job", success),
        ("source_snapshot_job", success),
    ]
    assert dict(postgres.execute("SELECT status, count(*) FROM runs GROUP BY status")) == {"SUCCESS": 3}
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


def test_the_lake_a_deployment_serves_is_recorded_in_its_database_not_in_a_home_folder(
    production_instance, postgres_server, tmp_path, monkeypatch
):
    """Each process of a deployment (webserver, daemon, every run's pod) has a DAGSTER_HOME folder
    of its own, which it does not share: the lake the instance serves is a row in PostgreSQL, so a
    process with a new home on the same database is refused another lake as the first one is, and
    another database serves another lake (octo_assets.home)."""
    first, second = tmp_path / "first_lake", tmp_path / "second_lake"
    first.mkdir()
    second.mkdir()
    assert refusal(production_instance, LakeStorage(root=str(first))) is None  # its first use
    pod_home = tmp_path / "pod_home"
    pod_home.mkdir()
    shutil.copy(PRODUCTION_YAML, pod_home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(pod_home)) as pod:
        assert recorded_lake(pod) == str(first)
        assert refusal(pod, LakeStorage(root=f"{first}/")) is None
        assert refusal(pod, LakeStorage(root=str(second))) == (
            f"The Dagster instance of {pod_home} (its runs in PostgreSQL) holds the runs of the lake {first}, "
            f"not of OCTO_LAKE_DIR {second}: give that lake an instance of its own (another database: "
            f"DAGSTER_PG_DB), or set OCTO_LAKE_DIR back to {first}."
        )
    for name, value in postgres_server.new_database().env().items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(pod_home)) as other:
        assert recorded_lake(other) is None
        assert refusal(other, LakeStorage(root=str(second))) is None
