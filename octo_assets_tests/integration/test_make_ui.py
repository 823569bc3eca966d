"""`make ui` stops when told to, however it was started: in a script's background job SIGINT is
ignored, and `dg dev` (which handles SIGTERM as SIGINT) would then ignore `kill` too, leaving the
UI and its daemon running. The Makefile gives it SIGINT's default back. On a port in use it starts
nothing: one sentence naming the process holding the port and a free one to use instead."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from octo_assets_tests.support.commands import as_a_shell_runs_make
from octo_assets_tests.support.dagster_dev import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.serial,  # signals to make and dg dev, whose whole process tree must end: alone on the machine
    pytest.mark.skipif(
        not (REPO_ROOT / ".venv" / "bin" / "dg").exists(),
        reason="make ui runs the repository's .venv (make test makes it)",
    ),
]


def descendants(pid: int, depth: int | None = None) -> set[int]:
    """Every process under `pid` (its children only with depth=1), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    if depth == 1:
        return set(children.get(pid, []))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    gone = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            gone.add(pid)
            continue
        if state == "Z":
            gone.add(pid)
    return pids - gone


def ignore_sigint() -> None:  # as a script's `make ui &` starts it: SIGINT ignored, SIGTERM not
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("target", ["make", "dg dev"])
def test_make_ui_in_the_background_stops_on_sigterm_with_everything_it_started(tmp_path, target):
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # the daemon's sensors, on by default, tick at once: on the test's own (empty) places, never on
    # the repository's data/
    env = settings_beside(tmp_path, "case_study.db")
    make = subprocess.Popen(
        ["make", "ui", f"PORT={port}", f"DAGSTER_HOME={home}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=ignore_sigint,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()
                break
            except OSError:
                assert make.poll() is None and time.monotonic() < deadline, "make ui did not start"
                time.sleep(1)
        started = descendants(make.pid)
        assert len(started) >= 3  # dg dev, the webserver, the daemon (and their code servers)
        victim = make.pid if target == "make" else descendants(make.pid, depth=1).pop()  # make's one child
        os.kill(victim, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while alive(started | {make.pid}) and time.monotonic() < deadline:
            make.poll()
            time.sleep(0.5)
        assert not alive(started | {make.pid}), f"still running after SIGTERM to {target}: {alive(started)}"
    finally:
        try:
            os.killpg(make.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        make.wait(timeout=30)


def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


def settings_beside(folder: Path, source_db: str) -> dict:
    """`make`'s environment as a shell gives it, the pipeline's places in `folder`: a daemon that
    `make ui` starts writes nothing into the repository's data/."""
    places = {"OCTO_READINGS_DIR": "readings", "OCTO_SOURCE_DB": source_db, "OCTO_LAKE_DIR": "lake"}
    places["OCTO_WAREHOUSE"] = "warehouse.duckdb"
    return {**as_a_shell_runs_make(), **{name: str(folder / rel) for name, rel in places.items()}}


def make_ui_that_should_stop(port: str, home: Path) -> subprocess.CompletedProcess:
    """`make ui PORT=port`, expected to stop at once; if it does not (dg dev started), everything
    it started is killed and the test fails. Its settings point beside `home`: a daemon started by
    mistake writes nothing into the repository's data/."""
    env = settings_beside(home.parent, "none.db")
    make = subprocess.Popen(
        ["make", "ui", f"PORT={port}", f"DAGSTER_HOME={home}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = make.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(make.pid, signal.SIGKILL)
        out, err = make.communicate()
        pytest.fail(f"make ui PORT={port} did not stop: {out[-500:]} {err[-500:]}")
    return subprocess.CompletedProcess(make.args, make.returncode, out, err)


def test_make_ui_on_a_port_in_use_says_who_holds_it_and_starts_nothing(tmp_path):
    """dg dev on a port in use would print "Serving", fail to bind, and never exit, its daemon
    running: make ui checks the port first."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = make_ui_that_should_stop(str(port), dagster_home(tmp_path))
    me = Path("/proc/self/comm").read_text().strip()
    sentence, *made = done.stderr.strip().splitlines()
    found = re.fullmatch(rf"make ui: port {port} is in use by process {os.getpid()} \({re.escape(me)}\); "
                         r"stop it, or run make ui PORT=(\d+)\.", sentence)  # fmt: skip
    assert found, sentence
    assert int(found.group(1)) != port
    assert len(made) == 1 and made[0].startswith("make: *** ") and done.returncode != 0  # make's own line
    assert "dg dev" not in done.stdout and "Serving" not in done.stdout + done.stderr  # nothing started


@pytest.mark.parametrize("port", ["abc", "0", "65536", "3000x"])
def test_make_ui_on_something_that_is_not_a_port_says_so(tmp_path, port):
    done = make_ui_that_should_stop(port, dagster_home(tmp_path))
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        f"make ui: PORT={port} is not a port; give a number from 1 to 65535, as in make ui PORT=3001."
    )
    assert "dg dev" not in done.stdout
