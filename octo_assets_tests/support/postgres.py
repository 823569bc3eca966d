"""A real PostgreSQL server for the tests: initdb + pg_ctl on a free loopback port, as the
unprivileged `postgres` user when the tests run as root (CI). Debian's package provides the
binaries (.ci/install-postgres). One server a session; each test gets a database of its own."""

import itertools
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PRODUCTION_YAML = Path(__file__).resolve().parents[2] / "config" / "dagster.production.yaml"
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


_DATABASES = itertools.count(1)


@dataclass
class Postgres:
    port: int
    user: str = "octo"
    password: str = "octo-test-password"
    host: str = "127.0.0.1"
    database: str = DATABASE

    def new_database(self) -> "Postgres":
        """The same server with a database of its own, made now: a test sees no other test's rows."""
        name = f"{DATABASE}_{next(_DATABASES)}"
        self.execute(f"CREATE DATABASE {name}", db="postgres")
        return Postgres(self.port, self.user, self.password, self.host, name)

    def env(self) -> dict[str, str]:
        """What a deployment sets for config/dagster.production.yaml."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.database,
        }

    def execute(self, sql: str, db: str | None = None) -> list[tuple]:
        import psycopg2

        con = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=db or self.database
        )
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


@contextmanager
def running_postgres() -> Iterator[Postgres]:
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
