"""Worker processes for the heavy part of a readings run: a standard process pool, made to behave.

- `spawn` start method: fresh interpreters. A forked copy of a run would inherit Dagster's
  threads and s3fs's event loop, neither of which survives a fork. A task names a function of a
  module that imports neither Dagster nor the run's entry point, so a worker starts in ~0.3 s.
- One core each: Polars in a worker runs single-threaded (POLARS_MAX_THREADS=1 before it is
  imported); the workers are the parallelism.
- Nothing outlives its run: each worker watches its parent and exits when it is gone (a run
  killed with SIGKILL cannot clean up after itself), and a pool that stops for any reason kills
  the processes it started.
- Failures are whole: a task's exception arrives with its traceback; a task running past the
  timeout, or a worker that died (out of memory, a signal), fails the run with a sentence that
  says which and how.
"""

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from octo_assets.settings import DEFAULT_TIMEOUT_S, WORKER_TIMEOUT_S


class WorkerError(Exception):
    """A worker failed, died or hung; the message says which and how."""


def _start_worker(parent: int) -> None:
    """Runs first in every worker, before any task is unpickled (so before Polars is imported)."""
    os.environ["POLARS_MAX_THREADS"] = "1"
    _die_with(parent)


def _die_with(parent: int) -> None:
    """Exit as soon as the parent is gone: at once through the kernel where it can (Linux), and
    by noticing the new parent within a second otherwise."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # already orphaned before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="octo-parent-watch", daemon=True).start()


class Pool:
    """`with Pool(workers) as pool: for result in pool.run(fn, tasks): ...` (results in task order).

    With one worker the tasks run in this process, one after the other: no start-up cost, and the
    same code path.
    """

    def __init__(self, workers: int, timeout_s: float = DEFAULT_TIMEOUT_S, what: str = "readings worker"):
        self.workers = workers
        self.timeout_s = timeout_s
        self.what = what
        self._executor: cf.ProcessPoolExecutor | None = None
        self._before: set[int] = set()
        self._started: dict[int, multiprocessing.Process] = {}  # kept: a dead one still tells its exit code

    def __enter__(self) -> "Pool":
        if self.workers > 1:
            self._before = {p.pid for p in multiprocessing.active_children()}
            self._executor = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._kill_workers()
            self._executor = None

    def _workers(self) -> list:
        """This pool's live processes (noting every one, so that its exit code can be told later)."""
        live = [p for p in multiprocessing.active_children() if p.pid not in self._before]
        self._started.update((p.pid, p) for p in live)
        return live

    def _kill_workers(self) -> None:
        for process in self._workers():
            try:
                process.kill()
            except OSError:
                pass
        for process in self._workers():
            process.join(timeout=5)

    def run(self, fn: Callable[[Any], Any], tasks: Iterable[Any], window: int | None = None) -> Iterator[Any]:
        """Each task's result, in task order. At most `window` tasks are submitted ahead of the
        one being waited for (default: two per worker), which bounds what results hold in memory."""
        tasks = iter(tasks)
        if self._executor is None:
            for task in tasks:
                yield fn(task)
            return
        window = window or 2 * self.workers
        pending: list[tuple[Any, cf.Future]] = []
        try:
            for task in tasks:
                pending.append((task, self._executor.submit(fn, task)))
                self._workers()
                if len(pending) >= window:
                    yield self._result(*pending.pop(0))
            while pending:
                yield self._result(*pending.pop(0))
        except BaseException:
            self.close()  # a failure, a timeout or an interrupted run: no worker goes on
            raise

    def _result(self, task: Any, future: cf.Future) -> Any:
        try:
            return future.result(timeout=self.timeout_s)
        except cf.TimeoutError:
            self.close()
            raise WorkerError(
                f"a {self.what} ran for more than {self.timeout_s:.0f} s on {describe(task)} and was stopped "
                f"(raise {WORKER_TIMEOUT_S} if such a task is expected to take longer)"
            ) from None
        except cf.process.BrokenProcessPool:
            self._workers()
            # the pool's own thread reaps the dead and terminates the rest, maybe this instant: a
            # process it is reaping can read as running here for a moment, so wait for every code
            deadline = time.monotonic() + 5
            for process in self._started.values():
                process.join(timeout=max(0.0, deadline - time.monotonic()))
            while any(p.exitcode is None for p in self._started.values()) and time.monotonic() < deadline:
                time.sleep(0.01)
            codes = [p.exitcode for p in self._started.values() if p.exitcode is not None]
            self.close()
            how = ", ".join(_exit_reason(code) for code in codes) or "it exited unexpectedly"
            raise WorkerError(f"a {self.what} died while working on {describe(task)} ({how})") from None
        except Exception as exc:
            # the worker's own traceback travels as the exception's cause: keep all of it
            remote = getattr(exc, "__cause__", None)
            details = str(remote) if remote is not None else "".join(traceback.format_exception(exc))
            raise WorkerError(
                f"a {self.what} failed on {describe(task)}: {type(exc).__name__}: {exc}\n{details}"
            ) from exc


def describe(task: Any) -> str:
    return task.describe() if hasattr(task, "describe") else repr(task)[:200]


def _exit_reason(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = ": out of memory?" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"
