"""Fixtures every tier may use. Helpers live in octo_assets_tests.support; each tier's folder
(engine, in_process, integration) has a conftest that marks its tests with the tier's name."""

import shutil
import signal

import dagster as dg
import pytest

from octo_assets.storage import Storage
from octo_assets_tests.support import seaweedfs
from octo_assets_tests.support.postgres import running_postgres
from octo_assets_tests.support.workspace import SAMPLE, TEST_BUCKET, Workspace, new_workspace

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
