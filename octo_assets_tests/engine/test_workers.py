"""The worker pool of a readings run behaves: results in order, whole errors, no worker left behind
when one dies, hangs, or its run is killed; the staging area goes with its run."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from octo_assets.readings.workers import Pool, WorkerError
from octo_assets.resources import ReadingsWorkers, resources_from_env
from octo_assets.settings import WorkerLimits
from octo_assets.staging import staging_area, sweep_staging
from octo_assets_tests.support import worker_tasks


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return status not in {"Z", "X"}


def wait_gone(pids, timeout_s: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_task_order(workers):
    with Pool(workers) as pool:
        assert list(pool.run(worker_tasks.square, range(20))) == [n * n for n in range(20)]


def test_a_failing_task_fails_the_run_with_the_workers_whole_traceback():
    with Pool(2) as pool, pytest.raises(WorkerError) as raised:
        list(pool.run(worker_tasks.fail_on_three, range(6)))
    message = str(raised.value)
    assert "failed on 3" in message and "cannot stage 3: the file is broken" in message
    assert "worker_tasks.py" in message and "fail_on_three" in message  # the worker's own frames


@pytest.mark.parametrize("how, reason", [("exit", "exit code 3"), ("kill", "killed by SIGKILL")])
def test_a_worker_that_dies_fails_the_run_and_says_how(how, reason):
    with Pool(2) as pool:
        pids = set(pool.run(worker_tasks.pid, range(4)))
        with pytest.raises(WorkerError) as raised:
            list(pool.run(worker_tasks.die, [how]))
    assert "died" in str(raised.value) and reason in str(raised.value)
    assert wait_gone(pids) == []


def test_a_worker_that_hangs_past_the_timeout_is_stopped():
    with Pool(2, timeout_s=1) as pool:
        pids = set(pool.run(worker_tasks.pid, range(4)))
        started = time.monotonic()
        with pytest.raises(WorkerError) as raised:
            list(pool.run(worker_tasks.sleep, [60, 60]))
        assert time.monotonic() - started < 10
    assert "ran for more than 1 s on 60" in str(raised.value) and "OCTO_WORKER_TIMEOUT_S" in str(raised.value)
    assert wait_gone(pids) == []


ORPHANING_RUN = textwrap.dedent(
    """
    import sys
    from octo_assets.readings.workers import Pool
    from octo_assets_tests.support import worker_tasks

    if __name__ == "__main__":
        with Pool(2) as pool:
            print(*set(pool.run(worker_tasks.pid, range(8))), flush=True)
            list(pool.run(worker_tasks.sleep, [600, 600]))
    """
)


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_a_run_killed_or_terminated(tmp_path, signal_number):
    script = tmp_path / "run.py"
    script.write_text(ORPHANING_RUN)
    run = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=_default_signals,
    )
    pids = [int(p) for p in run.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    time.sleep(0.5)  # the workers are sleeping in their tasks
    run.send_signal(signal_number)
    try:
        run.wait(timeout=30)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"the run outlived signal {signal_number} by 30 s; its signal state: {_signal_state(run.pid)}")
    assert wait_gone(pids) == []


def _default_signals() -> None:
    """A run as a shell or a daemon starts it: SIGTERM and SIGINT neither blocked nor ignored,
    whatever this test process inherited (see conftest.signal_handlers_restored)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _signal_state(pid: int) -> str:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "gone"
    return ", ".join(line for line in lines if line.startswith(("State", "SigBlk", "SigIgn", "SigCgt")))


def test_the_staging_area_is_removed_when_its_run_fails_and_swept_when_its_run_was_killed(tmp_path, monkeypatch):
    monkeypatch.setenv("OCTO_STAGING_DIR", str(tmp_path / "staging"))
    with pytest.raises(RuntimeError):
        with staging_area() as folder:
            (folder / "staged.arrow").write_bytes(b"x" * 100)
            raise RuntimeError("the run failed")
    assert not folder.exists()

    killed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from octo_assets.staging import staging_area\nimport time\n"
            "with staging_area() as f:\n    print(f, flush=True)\n    time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    left = Path(killed.stdout.readline().strip())
    assert left.is_dir()
    assert sweep_staging(tmp_path / "staging") == []  # its run is alive: kept
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    with staging_area() as mine:
        assert not left.exists() and mine.is_dir()  # the next run swept it


def test_staging_left_by_a_run_killed_before_it_took_its_lock_is_swept_by_owner(tmp_path, monkeypatch):
    """The folder exists before its lock does: a kill in between leaves a folder with no lock
    file. Its owner's process id in its name tells a dead owner's folder from a live one's."""
    monkeypatch.setenv("OCTO_STAGING_DIR", str(tmp_path / "staging"))
    root = tmp_path / "staging"
    root.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    without_lock = root / f"run-{dead_pid}-abc"  # killed between mkdtemp and its lock
    unlocked = root / f"run-{dead_pid}-def"  # killed after: the lock file stays, nobody holds it
    foreign = root / "run-legacy"  # no process id in the name: judged by its lock alone
    odd = root / "run-²-jkl"  # digits int() refuses: not a process id either
    young = root / f"run-{os.getpid()}-ghi"  # this process is alive: its folder is kept, locked or not
    for folder in (without_lock, unlocked, foreign, odd, young):
        folder.mkdir()
        (folder / "staged.arrow").write_bytes(b"x")
    (unlocked / ".owner").touch()
    (foreign / ".owner").touch()
    swept = [without_lock.name, unlocked.name, foreign.name, odd.name]
    assert sorted(p.name for p in sweep_staging(root)) == sorted(swept)
    assert [p.name for p in root.iterdir()] == [young.name]


def test_how_a_run_uses_the_machine_is_set_through_the_workers_resource(monkeypatch):
    """OCTO_WORKERS, OCTO_WORKER_TIMEOUT_S and OCTO_MEMORY_MB become the `workers` resource's fields,
    and the engine gets plain values from it."""
    for name in ("OCTO_WORKERS", "OCTO_WORKER_TIMEOUT_S", "OCTO_MEMORY_MB"):
        monkeypatch.delenv(name, raising=False)
    assert resources_from_env()["workers"].limits() == WorkerLimits(len(os.sched_getaffinity(0)), 1800.0, 256)
    monkeypatch.setenv("OCTO_WORKERS", "3")
    monkeypatch.setenv("OCTO_WORKER_TIMEOUT_S", "90.5")
    monkeypatch.setenv("OCTO_MEMORY_MB", "16")
    assert resources_from_env()["workers"].limits() == WorkerLimits(3, 90.5, 16)
    with pytest.raises(dg.Failure, match="OCTO_MEMORY_MB: 8 is below the minimum \\(16\\)"):
        ReadingsWorkers(memory_mb=8).limits()
