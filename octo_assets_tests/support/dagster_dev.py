"""`dg dev` (what `make ui` runs) for the tests: started on a free loopback port with its own
DAGSTER_HOME and the workspace's settings, talked to through its GraphQL API, and stopped with
its whole process group (webserver, daemon, code server, run workers)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from octo_assets_tests.support.workspace import REPO_ROOT, Workspace

LOCATION = "octo_assets"
REPOSITORY = "__repository__"
STOP_S = 20  # a graceful shutdown, then the process group is killed


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())


@dataclass
class DagsterDev:
    """A running `dg dev` (webserver + daemon + code server) and its GraphQL endpoint."""

    process: subprocess.Popen
    url: str
    log: Path
    deadline: Deadline
    workspace: Workspace

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def post(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        timeout = max(1.0, min(15.0, self.deadline.remaining()))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def query(self, query: str, variables: dict | None = None) -> dict:
        answer = self.post(query, variables)
        assert not answer.get("errors"), f"GraphQL errors: {answer['errors']}"
        return answer["data"]

    def wait_for(self, what: str, probe: Callable[[], object]):
        """Polls `probe` until it returns something truthy, within the time budget."""
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"dg dev exited ({self.process.returncode}) waiting for {what}:\n{self.log_tail()}")
            value = probe()
            if value:
                return value
            if not self.deadline.remaining():
                pytest.fail(f"timed out after {self.deadline.seconds} s waiting for {what}:\n{self.log_tail()}")
            time.sleep(0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dagster_home(root: Path) -> Path:
    """`root/dagster_home` with the instance of `make ui` (config/dagster.yaml); made once."""
    home = root / "dagster_home"
    if not home.exists():
        home.mkdir()
        shutil.copy(REPO_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    return home


def start_dagster_dev(root: Path, ws: Workspace, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(root)),
        "OCTO_READINGS_DIR": str(ws.readings),
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_LAKE_DIR": str(ws.lake),
        "OCTO_WAREHOUSE": str(ws.warehouse),
        "VIRTUAL_ENV": sys.prefix,
    }
    # as `make ui` runs it, from pyproject's [tool.dg]; the code server runs on this interpreter, not .venv's
    dg = Path(sys.executable).parent / "dg"
    command = [str(dg), "dev", "--use-active-venv", "-h", "127.0.0.1", "-p", str(port)]
    with open(root / "dagster-dev.log", "wb") as log:
        # its own process group: the code server and run workers are stopped with it
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)  # dg dev shuts its services down on SIGTERM
    try:
        process.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
    except ProcessLookupError:
        pass
    process.wait(timeout=5)


def location_loaded(dev: DagsterDev) -> bool:
    try:
        data = dev.query("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
    except OSError:  # refused or timed out: not serving yet
        return False
    entries = data["workspaceOrError"].get("locationEntries", [])
    return any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries)


@contextmanager
def running_dagster_dev(root: Path, ws: Workspace, budget_s: float) -> Iterator[DagsterDev]:
    """`dg dev` on `root/dagster_home` (made if missing) and the workspace, once its code location
    has loaded; `budget_s` bounds the start and every later `wait_for`. Stopped on exit."""
    port = free_port()
    process = start_dagster_dev(root, ws, port)
    try:
        server = DagsterDev(process, f"http://127.0.0.1:{port}", root / "dagster-dev.log", Deadline(budget_s), ws)
        server.wait_for(f"code location {LOCATION} to load", lambda: location_loaded(server))
        yield server
    finally:
        stop(process)
