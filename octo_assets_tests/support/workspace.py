"""Where a test's pipeline reads and writes: a Workspace under one tmp_path, or with the landing
area, the lake and the catalog under one prefix of the test S3 server."""

import re
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from octo_assets.lake import Lake
from octo_assets.resources import build_resources
from octo_assets.storage import Storage, register_filesystems

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "data"
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

        Files are uploaded oldest modification time first, each group of one modification second
        in a later second than the group before, because S3's upload time (one-second resolution)
        is the delivery time there. The server runs on this machine's clock: waiting for the next
        whole second is enough.
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
        last_upload_second = None
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
            if last_upload_second is not None:
                time.sleep(max(0.0, last_upload_second + 1.02 - time.time()))
            for rel in sorted(changed):
                landing.write_bytes(rel, local[rel].read_bytes())
            last_upload_second = int(time.time())

    def install_lake(self, folder: Path) -> None:
        """Put a local lake (a template a fixture built once) where this workspace's lake is: on
        disk or on the S3 server. Its Delta tables name their files by relative paths."""
        if not self.s3:
            shutil.copytree(folder, self.lake, dirs_exist_ok=True)
            return
        lake = self.lake_storage()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            lake.put_file(path.relative_to(folder).as_posix(), path)

    def copy_to(self, root: Path) -> "Workspace":
        """A copy of this local workspace under `root` (source, lake, catalog), for a test that
        changes what a shared, expensive one holds. The landing area is the same folder (a link):
        a copied file is a new version to the landing state (another inode), and would be read
        again. The copied catalog's views still read the original lake until a run rebuilds it."""
        assert not self.s3, "only a local workspace is copied"
        shutil.copytree(self.root, root, ignore=lambda folder, _: ["readings"] if folder == str(self.root) else [])
        (root / "readings").symlink_to(self.readings, target_is_directory=True)
        return Workspace(root)

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


# the smallest source: meterpoint m1 on product p1 ("Fixed") since 2020, account a1
SMALL_SOURCE = {
    "agreement": [(1, "2020-01-01", None, "p1", "m1", "a1")],
    "product": [("Fixed", 0, 1, "p1")],
    "meterpoint": [("Eastern", "m1")],
}

# two meterpoints on two products, one fixed and one variable
PAIR_SOURCE = {
    "agreement": [(1, "2020-01-01", None, "p1", "m1", "a1"), (2, "2020-01-01", None, "p2", "m2", "a2")],
    "product": [("Fixed", 0, 1, "p1"), ("Flexible", 1, 2, "p2")],
    "meterpoint": [("Eastern", "m1"), ("Eastern", "m2")],
}
# the source's tables without declared types: SQLite keeps whatever a writer stores
UNTYPED_SOURCE_DDL = """
CREATE TABLE agreement (agreement_id, agreement_valid_from, agreement_valid_to, product_id, meterpoint_id, account_id);
CREATE TABLE product (display_name, is_variable, id, product_id);
CREATE TABLE meterpoint (region, meterpoint_id);
"""

SOURCE_DDL = """
CREATE TABLE "agreement" ("agreement_id" INTEGER, "agreement_valid_from" DATE, "agreement_valid_to" DATE,
                          "product_id" TEXT, "meterpoint_id" TEXT, "account_id" TEXT);
CREATE TABLE "product" ("display_name" TEXT, "is_variable" INTEGER, "id" INTEGER, "product_id" TEXT);
CREATE TABLE "meterpoint" ("region" TEXT, "meterpoint_id" TEXT);
"""


TEST_BUCKET = "octo-tests"
# a test parametrised over BACKENDS runs on a local folder and on the session's S3 server; the
# `s3` mark leaves the second out of `make test-quick`. Only where the backend changes behaviour.
BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.s3)]


def new_workspace(root: Path, backend: str, request) -> Workspace:
    """A workspace under `root`; on "s3" the landing area, lake and catalog under a new prefix of the
    session's S3 server (the `s3_server` fixture)."""
    s3 = None
    if backend == "s3":
        request.getfixturevalue("s3_server")
        s3 = f"s3://{TEST_BUCKET}/{uuid.uuid4().hex[:12]}"
    ws = Workspace(root, s3)
    ws.readings.mkdir(parents=True)
    return ws
