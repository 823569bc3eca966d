"""The deployment's instance (config/dagster.production.yaml) on a real PostgreSQL server:
the pipeline runs on it, and its runs and materialisations are rows in Postgres."""

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from octo_assets.run import run_pipeline

PRODUCTION_YAML = Path(__file__).resolve().parents[1] / "config" / "dagster.production.yaml"
SERVER_USER = "postgres"  # initdb and postgres refuse to run as root; Debian's package creates this user
COMMAND_TIMEOUT_S = 30
DATABASE = "dagster"


def unavailable(reason: str):
    """No server here: a skip on a developer's machine, a failure in CI, which installs one
    (.ci/install-postgres) and must not pass by skipping."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def server_bin() -> Path:
    """The newest PostgreSQL server's binaries: Debian keeps them off PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    initdb = debian[-1] if debian else shutil.which("initdb")
    if not initdb:
        unavailable("no PostgreSQL server binaries (initdb): run .ci/install-postgres")
    return Path(initdb).parent


def as_server_user() -> list[str]:
    """The command prefix that runs the server unprivileged when the tests run as root (CI)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        unavailable(f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL as")
    return ["runuser", "-u", SERVER_USER, "--"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    port: int
    user: str = "octo"
    password: str = "octo-test-password"
    host: str = "127.0.0.1"

    def env(self) -> dict[str, str]:
        """What a deployment sets for config/dagster.production.yaml."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": DATABASE,
        }

    def execute(self, sql: str, db: str = DATABASE) -> list[tuple]:
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password, dbname=db)
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()


def run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, cwd="/")
    except subprocess.TimeoutExpired:
        unavailable(f"PostgreSQL {what} timed out after {COMMAND_TIMEOUT_S} s")
    if done.returncode:
        unavailable(f"PostgreSQL {what} failed: {(done.stderr or done.stdout).strip()[-800:]}")


def init_and_start(bindir: Path, prefix: list[str], root: Path, pg: Postgres) -> None:
    data = root / "data"
    password_file = root / "password"
    password_file.write_text(pg.password)
    password_file.chmod(0o644)  # read by the server user
    run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            pg.user,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        "initdb",
    )
    # loopback TCP for Dagster (with a password, as in a deployment), the unix socket in our own dir
    options = (
        f"-c listen_addresses=127.0.0.1 -p {pg.port} -c unix_socket_directories={shlex.quote(str(root))} -c fsync=off"
    )
    run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(COMMAND_TIMEOUT_S),
            "start",
        ],
        "start",
    )


def stop(bindir: Path, prefix: list[str], root: Path) -> None:
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "-t", "20", "stop"],
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
        cwd="/",
    )


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL server on 127.0.0.1, stopped and deleted afterwards."""
    try:
        import dagster_postgres  # noqa: F401
    except ImportError:
        unavailable("dagster-postgres is not installed: pip install -e '.[postgres]'")
    bindir, prefix = server_bin(), as_server_user()
    # not tmp_path: pytest keeps that private to the user running the tests, and the server
    # runs as another user when that is root
    root = Path(tempfile.mkdtemp(prefix="octo-pg-"))
    try:
        if prefix:
            shutil.chown(root, SERVER_USER)
        pg = Postgres(port=free_port())
        init_and_start(bindir, prefix, root, pg)
        try:
            pg.execute(f"CREATE DATABASE {DATABASE}", db="postgres")
            yield pg
        finally:
            stop(bindir, prefix, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
    assert concurrency.run_queue_config.max_concurrent_runs == 4


def test_the_pipeline_runs_on_the_production_instance(production_instance, postgres, sample_workspace):
    days = run_pipeline(production_instance, sample_workspace.resources())

    runs = production_instance.get_runs()
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]  # one single-run backfill
    assert dict(postgres.execute("SELECT status, count(*) FROM runs GROUP BY status")) == {"SUCCESS": 1}
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
