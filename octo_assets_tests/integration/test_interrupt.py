"""Ctrl-C or `kill` during `make run`: one sentence, exit 130 (SIGINT) or 143 (SIGTERM), no
traceback, and the next `make run` completes with the same totals. Real runs of
`python -m octo_assets.run` on an input big enough to be signalled while it works."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.generate import generate
from octo_assets_tests.support.workspace import Workspace

pytestmark = pytest.mark.serial  # signals sent to real runs, timed against their progress: alone on the machine


REPO_ROOT = Path(__file__).resolve().parents[2]
SENTENCE = (
    "make run was interrupted ({name}) and stopped; the days it had not finished are left as they were, "
    "and `make run` again resumes the work."
)


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """3,000 meterpoints, 3 days: about 10 s of work on two cores."""
    folder = tmp_path_factory.mktemp("landed")
    return folder, generate(folder, 3000, days=3, processes=2)


def run_env(landed_folder: Path, tmp_path: Path) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OCTO_READINGS_DIR": str(landed_folder / "readings"),
        "OCTO_SOURCE_DB": str(landed_folder / "case_study.db"),
        "OCTO_LAKE_DIR": str(tmp_path / "lake"),
        "OCTO_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "OCTO_STAGING_DIR": str(tmp_path / "staging"),
    }


def as_started(ignore_sigint: bool):
    def start() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # a shell script's `make run &`: SIGINT ignored; else a terminal's foreground job
        signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL)

    return start


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def signalled_run(env: dict, cwd: Path, when: str, signum: int, ignore_sigint: bool, worker: bool = False):
    """Start a run, wait for the progress line `when`, signal it as a terminal (Ctrl-C: the whole
    foreground process group) or `kill PID` would, or (`worker`) its working process alone, as the
    kernel's OOM killer would; (exit code, stdout, stderr)."""
    run = subprocess.Popen(
        [sys.executable, "-m", "octo_assets.run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,  # its own foreground group, as a terminal gives a job
        preexec_fn=as_started(ignore_sigint),
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in run.stdout] + [lines.put(None)], daemon=True).start()
    errors: list[str] = []
    threading.Thread(target=lambda: errors.append(run.stderr.read()), daemon=True).start()
    out = []
    try:
        deadline = time.monotonic() + 120
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, f"the run ended before {when!r}: {''.join(out)}"
            out.append(line)
            if when in line:
                break
        if worker:
            [working] = children(run.pid)  # the supervisor's one child, in a process group of its own
            os.kill(working, signum)
        elif signum == signal.SIGINT:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        else:
            run.send_signal(signum)  # kill PID
        code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()  # its working process follows it (parent-death signal)
            run.wait()
    while (line := lines.get(timeout=10)) is not None:
        out.append(line)
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    return code, "".join(out), errors[0] if errors else ""


def totals(tmp_path: Path) -> tuple:
    """The readings table's current version (the interrupted run's files may be in none)."""
    [found] = Workspace(tmp_path).query_lake("SELECT count(*), sum(consumption_kwh)::DOUBLE FROM {readings}")
    return found


@pytest.mark.parametrize(
    "signum, ignore_sigint, when",
    [
        (signal.SIGINT, False, "step lake__readings"),  # inside the Dagster run, the workers assembling
        (signal.SIGINT, False, "step readings_parse["),  # before it, make run's pre-pass parsing
        (signal.SIGTERM, True, "step lake__readings"),  # `make run &` in a script, then `kill PID`
        (signal.SIGTERM, True, "step analytics__half_hourly_consumption"),
    ],
)
def test_an_interrupted_run_says_so_in_one_sentence_and_the_next_run_completes(
    landed, tmp_path, signum, ignore_sigint, when
):
    folder, generated = landed
    env = run_env(folder, tmp_path)
    code, out, err = signalled_run(env, tmp_path, when, signum, ignore_sigint)
    assert code == 128 + signum, (out[-2000:], err[-3000:])
    assert "Traceback" not in err and "Traceback" not in out
    assert err.strip().splitlines() == [SENTENCE.format(name=signal.Signals(signum).name)]
    assert "\ncatalog " not in out  # it stopped: no summary

    again = subprocess.run(
        [sys.executable, "-m", "octo_assets.run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    # it rebuilds what the stopped run left (its summary reconciles the three tables), or, when the
    # signal came as the run's last analytics step ended, only the catalog
    assert "kWh reconciled" in again.stdout or "catalog rebuilt" in again.stdout, again.stdout
    assert "NO: the three tables disagree" not in again.stdout, again.stdout
    assert totals(tmp_path) == (generated["rows"], pytest.approx(generated["total_kwh"], abs=1e-6))


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGABRT])
def test_a_working_process_killed_by_a_signal_makes_the_run_exit_128_plus_its_number(landed, tmp_path, signum):
    """What a shell reports for a process a signal killed (137 for SIGKILL): the supervisor passes
    it on, not Python's -9 made into 247. (The mapping: engine/test_run_cli.py.)"""
    folder, _ = landed
    code, out, err = signalled_run(run_env(folder, tmp_path), tmp_path, "step lake__readings", signum, False, True)
    assert code == 128 + signum, (out[-2000:], err[-3000:])
    assert "\ncatalog " not in out  # it stopped: no summary
