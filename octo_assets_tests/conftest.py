"""Fixtures every tier may use. Helpers live in octo_assets_tests.support; each tier's folder
(engine, in_process, integration) has a conftest that marks its tests with the tier's name."""

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from octo_assets.readings import assemble
from octo_assets.run import run_pipeline
from octo_assets.storage import Storage
from octo_assets_tests.support import seaweedfs
from octo_assets_tests.support.postgres import running_postgres
from octo_assets_tests.support.runs import snapshot
from octo_assets_tests.support.workspace import SAMPLE, SMALL_SOURCE, TEST_BUCKET, Workspace, new_workspace

SIGNALS_AT_START = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """Dagster's in-process execution leaves SIGTERM handled as SIGINT is (dagster._utils.interrupts).
    Where the suite was started with SIGINT ignored (`make test &` in a script), that is SIGTERM
    ignored for the rest of the session, and inherited by every process a later test starts: a
    SIGTERM sent to one (multiprocessing's Pool.terminate, a test's kill) then does nothing."""
    for number, handler in SIGNALS_AT_START.items():  # a module's fixture may have run Dagster first
        signal.signal(number, handler)
    yield
    for number, handler in SIGNALS_AT_START.items():
        signal.signal(number, handler)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One SeaweedFS server for the session (for each worker of a parallel session), its AWS_*
    variables set for this process and the processes the tests start (run workers, `dg dev`)."""
    server = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env().items():
                patch.setenv(name, value)
            Storage(f"s3://{TEST_BUCKET}").fs.mkdir(TEST_BUCKET)
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (support.postgres)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres(postgres_server):
    """A database of its own on the session's PostgreSQL server: no test sees another's rows."""
    return postgres_server.new_database()


@pytest.fixture
def workspace(tmp_path, request) -> Workspace:
    """A local workspace; parametrise `workspace` (indirectly) with BACKENDS to run on S3 too."""
    return new_workspace(tmp_path / "ws", getattr(request, "param", "local"), request)


@pytest.fixture
def sample_workspace(workspace) -> Workspace:
    """The case-study inputs, copied so that nothing the tests do touches data/."""
    shutil.copytree(SAMPLE / "readings", workspace.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", workspace.source_db)
    return workspace


@dataclass(frozen=True)
class BuiltSample:
    ws: Workspace
    instance: dg.DagsterInstance
    days: list[str]


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory) -> BuiltSample:
    """The case-study sample built once a session (once a worker of a parallel one) as `make run`
    builds it, on disk, with the instance that ran it: read it, never change it (copy_to first)."""
    ws = new_workspace(tmp_path_factory.mktemp("sample"), "local", None)
    shutil.copytree(SAMPLE / "readings", ws.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", ws.source_db)
    with dg.DagsterInstance.ephemeral() as instance:
        yield BuiltSample(ws, instance, run_pipeline(instance, ws.resources()).days)


@pytest.fixture
def instance():
    """A real Dagster instance with its storage in memory: what a test's runs, checks and sensor
    ticks need, without the SQLite files of a DAGSTER_HOME (a third of a small run's time)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(scope="module")
def module_workspace(tmp_path_factory, request) -> Workspace:
    """A workspace shared by one module's tests, for pipelines too slow to build per test."""
    return new_workspace(tmp_path_factory.mktemp("ws"), getattr(request, "param", "local"), request)


@pytest.fixture(scope="module")
def module_instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(scope="session")
def small_source_snapshot(tmp_path_factory) -> Path:
    """A lake holding SMALL_SOURCE's snapshot of 2021-01-01, made once a session by the snapshot
    step: the template `sourced` copies."""
    ws = new_workspace(tmp_path_factory.mktemp("small-source"), "local", None)
    ws.write_source(SMALL_SOURCE["agreement"], SMALL_SOURCE["product"], SMALL_SOURCE["meterpoint"])
    with dg.DagsterInstance.ephemeral() as instance:
        assert snapshot(ws, instance, "2021-01-01").success
    return ws.lake


@pytest.fixture
def sourced(workspace, small_source_snapshot):
    """A workspace whose source (SMALL_SOURCE: meterpoint m1 on product p1) was snapshotted on
    2021-01-01: the session's snapshot, copied into its lake (on disk or on S3)."""
    workspace.write_source(SMALL_SOURCE["agreement"], SMALL_SOURCE["product"], SMALL_SOURCE["meterpoint"])
    workspace.install_lake(small_source_snapshot)
    return workspace


@pytest.fixture
def fault_on(monkeypatch):
    """fault_on(day, fault): de-duplication of `day`'s rows goes wrong as `fault` says
    (support.faults); returns the list of the calls it altered (a test asserts the fault really
    happened). Assembly runs in the test's process (OCTO_WORKERS=1), where the fault is."""
    monkeypatch.setenv("OCTO_WORKERS", "1")
    real = assemble.deduplicate

    def install(day: str, fault: Callable) -> list:
        altered = []

        def deduplicate(frame: pl.DataFrame):
            kept, dropped, conflicts = real(frame)
            if frame.height and (frame["interval_start_local"].dt.date() == date.fromisoformat(day)).all():
                kept, dropped = fault(kept, dropped)
                altered.append(kept.height)
            return kept, dropped, conflicts

        monkeypatch.setattr(assemble, "deduplicate", deduplicate)
        return altered

    yield install
    monkeypatch.setattr(assemble, "deduplicate", real)
