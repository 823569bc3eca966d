import re
import shutil
import signal
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from octo_assets.lake import Lake
from octo_assets.resources import build_resources
from octo_assets.storage import Storage, register_filesystems
from octo_assets_tests import seaweedfs
from octo_assets_tests.postgres import running_postgres

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


SAMPLE = Path(__file__).resolve().parents[1] / "data"
COLUMNS = ["interval_start", "consumption_delta", "meterpoint_id"]


@dataclass
class Workspace:
    """Every location the pipeline reads or writes, under one tmp_path, or with the landing area,
    the lake and the catalog under one prefix of the test S3 server (`s3`).

    Tests write landing files into the local folder `readings`; on S3 the folder is mirrored to
    the landing prefix (`sync`) before each run, oldest file first, so delivery order holds.
    """

    root: Path
    s3: str | None = None  # s3://bucket/prefix

    @property
    def backend(self) -> str:
        return "s3" if self.s3 else "local"

    @property
    def readings(self) -> Path:
        return self.root / "readings"

    @property
    def source_db(self) -> Path:
        return self.root / "case_study.db"

    @property
    def lake(self) -> Path:
        """The local lake folder (local backend only)."""
        assert not self.s3, "the lake is on S3: use lake_url"
        return self.root / "lake"

    @property
    def readings_url(self) -> str:
        return f"{self.s3}/readings" if self.s3 else str(self.readings)

    @property
    def lake_url(self) -> str:
        return f"{self.s3}/lake" if self.s3 else str(self.root / "lake")

    @property
    def warehouse(self) -> str:
        return f"{self.s3}/warehouse.duckdb" if self.s3 else str(self.root / "warehouse.duckdb")

    def lake_storage(self) -> Storage:
        return Storage(self.lake_url)

    def resources(self) -> dict:
        return build_resources(self.readings_url, self.source_db, self.lake_url, self.warehouse)

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB that can read the lake, whichever backend holds it."""
        connection = duckdb.connect()
        register_filesystems(connection, [self.lake_url])
        return connection

    def query_lake(self, sql: str) -> list[tuple]:
        """`sql` with {lake} replaced by the lake's root, and {<table>} ({readings},
        {source/agreement}, {analytics/half_hourly_consumption}, ...) by the table's current
        version (table_sql)."""
        sql = _TABLE.sub(lambda m: self.table_sql(m.group(1)), sql.replace("{lake}", self.lake_url))
        with self.duckdb() as connection:
            return connection.execute(sql).fetchall()

    # -- the lake's Delta tables, as a reader sees them now ----------------------------------------

    def delta(self, table: str) -> DeltaTable:
        """A lake table's latest version (the test fails if the table does not exist)."""
        found = Lake(self.lake_url).delta(table)
        assert found is not None, f"no Delta table {table} under {self.lake_url}"
        return found

    def table_sql(self, table: str) -> str:
        """DuckDB's source for a table's current version: the Parquet files its Delta log lists
        now, the partition key read from their paths. (A glob of the table's folder would also read
        the files of versions replaced since, which stay until housekeeping vacuums them.)"""
        current = self.delta(table)
        files = current.file_uris()
        if files:
            return "read_parquet([" + ", ".join(_sql_literal(f) for f in files) + "], hive_partitioning = true)"
        schema = pa.schema(current.schema().to_arrow())  # no file: every day of the table is empty
        types = duckdb.connect().from_arrow(schema.empty_table()).dtypes
        columns = ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in zip(schema.names, types))
        return f"(SELECT {columns} LIMIT 0)"

    def days(self, table: str, key: str = "date") -> list[str]:
        """The days (partition values) holding files in a table's current version, sorted."""
        return sorted({str(p[key]) for p in self.delta(table).partitions()})

    def published_day(self, table: str, key: str, day: str) -> "PublishedDay | None":
        """What a table serves now for one day, and the commit that published it; None if no
        commit of the table ever published that day (or there is no table)."""
        current = Lake(self.lake_url).delta(table)
        if current is None:
            return None
        commits = [c for c in current.history() if c.get("partition") == day]
        if not commits:
            return None
        commit = max(commits, key=lambda c: int(c["version"]))
        files = tuple(sorted(current.file_uris(file_pruning_predicate=[(key, "=", day)])))
        rows = []
        if files:
            source = "[" + ", ".join(_sql_literal(f) for f in files) + "]"
            rows = self.query_lake(f"SELECT * FROM read_parquet({source}) ORDER BY ALL")
        return PublishedDay(int(commit["version"]), commit.get("dagster_run_id"), files, rows)

    def sync(self) -> None:
        """Mirror the local landing folder to the S3 landing prefix (nothing to do on disk).

        Files are uploaded oldest modification time first, a second apart between times, because
        S3's upload time (one-second resolution) is the delivery time there.
        """
        if not self.s3:
            return
        landing = Storage(self.readings_url)
        local = {p.relative_to(self.readings).as_posix(): p for p in self.readings.rglob("*") if p.is_file()}
        for entry in landing.list_files():
            if entry.path not in local:
                landing.delete(entry.path)
        remote = {e.path: e for e in landing.list_files()}
        by_mtime: dict[int, list[str]] = {}  # by second: S3's resolution
        for rel, path in local.items():
            by_mtime.setdefault(path.stat().st_mtime_ns // 1_000_000_000, []).append(rel)
        uploaded_any = False
        for _, rels in sorted(by_mtime.items()):
            changed = [
                r
                for r in rels
                if r not in remote
                or remote[r].size != local[r].stat().st_size
                or landing.read_bytes(r) != local[r].read_bytes()
            ]
            if not changed:
                continue
            if uploaded_any:
                time.sleep(1.05)
            for rel in sorted(changed):
                landing.write_bytes(rel, local[rel].read_bytes())
            uploaded_any = True

    def write_readings(self, name: str, rows: list, pretty: bool = False, columns=COLUMNS) -> Path:
        path = self.readings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        option = orjson.OPT_INDENT_2 if pretty else 0
        path.write_bytes(orjson.dumps({"columns": columns, "data": rows}, option=option))
        return path

    def write_source(
        self, agreements: list[tuple], products: list[tuple], meterpoints: list[tuple], ddl: str | None = None
    ) -> None:
        """agreements: (id, from, to, product_id, meterpoint_id, account_id);
        products: (display_name, is_variable, id, product_id); meterpoints: (region, meterpoint_id)."""
        self.source_db.unlink(missing_ok=True)
        with sqlite3.connect(self.source_db) as con:
            con.executescript(ddl or SOURCE_DDL)  # another schema for a test of odd source types
            con.executemany("INSERT INTO agreement VALUES (?, ?, ?, ?, ?, ?)", agreements)
            con.executemany("INSERT INTO product VALUES (?, ?, ?, ?)", products)
            con.executemany("INSERT INTO meterpoint VALUES (?, ?)", meterpoints)
        con.close()


@dataclass(frozen=True)
class PublishedDay:
    """One day of a Delta table as its current version serves it. Equal before and after a run:
    the run did not publish the day (no new commit of it, the same files, the same rows)."""

    version: int  # the table version whose commit last published the day
    run_id: str | None  # the Dagster run of that commit
    files: tuple[str, ...]  # the day's files in the current version (none: the day is empty)
    rows: list[tuple]  # the day's rows, sorted


_TABLE = re.compile(r"\{([a-z_]+(?:/[a-z_]+)?)\}")  # {readings}, {analytics/active_agreements}


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


SOURCE_DDL = """
CREATE TABLE "agreement" ("agreement_id" INTEGER, "agreement_valid_from" DATE, "agreement_valid_to" DATE,
                          "product_id" TEXT, "meterpoint_id" TEXT, "account_id" TEXT);
CREATE TABLE "product" ("display_name" TEXT, "is_variable" INTEGER, "id" INTEGER, "product_id" TEXT);
CREATE TABLE "meterpoint" ("region" TEXT, "meterpoint_id" TEXT);
"""


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One SeaweedFS server for the session, its AWS_* variables set for this process and the
    processes the tests start (run workers, `dagster dev`)."""
    server = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env().items():
                patch.setenv(name, value)
            Storage(f"s3://{TEST_BUCKET}").fs.mkdir(TEST_BUCKET)
            yield server
    finally:
        server.stop()


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server (octo_assets_tests.postgres)."""
    with running_postgres() as server:
        yield server


TEST_BUCKET = "octo-tests"
# on S3 a test starts the session's SeaweedFS server: slow (`make test-quick` runs the local one)
BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.slow)]


def new_workspace(root: Path, backend: str, request) -> Workspace:
    s3 = None
    if backend == "s3":
        request.getfixturevalue("s3_server")
        s3 = f"s3://{TEST_BUCKET}/{uuid.uuid4().hex[:12]}"
    ws = Workspace(root, s3)
    ws.readings.mkdir(parents=True)
    return ws


@pytest.fixture
def workspace(tmp_path, request) -> Workspace:
    """A local workspace; parametrise `backend` (indirectly) to run on S3 too."""
    return new_workspace(tmp_path / "ws", getattr(request, "param", "local"), request)


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
def module_workspace(tmp_path_factory, request) -> Workspace:
    """A workspace shared by one module's tests, for pipelines too slow to build per test."""
    return new_workspace(tmp_path_factory.mktemp("ws"), getattr(request, "param", "local"), request)


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
    from octo_assets.automation.jobs import FRESHNESS
    from octo_assets.definitions import ASSET_CHECKS, ASSETS

    ws.sync()
    if isinstance(selection, dg.AssetSelection):
        selection = selection - FRESHNESS  # judged on a clock by its own sensor, not by runs
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


def failure_message(result) -> str:
    """The sentence of a run's one failed step: the user's error, not Dagster's wrapper."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message.removeprefix("dagster._core.definitions.events.Failure: ").strip()


def check_outcomes(result) -> dict[str, tuple[bool, str, dict]]:
    """check name -> (passed, severity, metadata values)"""
    return {
        e.check_name: (e.passed, e.severity.value, {k: v.value for k, v in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }
