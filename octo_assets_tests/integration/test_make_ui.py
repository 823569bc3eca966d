"""`make ui` stops when told to, however it was started: in a script's background job SIGINT is
ignored, and `dg dev` (which handles SIGTERM as SIGINT) would then ignore `kill` too, leaving the
UI and its daemon running. The Makefile gives it SIGINT's default back."""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

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
    make = subprocess.Popen(
        ["make", "ui", f"PORT={port}", f"DAGSTER_HOME={home}"],
        cwd=REPO_ROOT,
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
