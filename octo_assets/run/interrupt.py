"""Ctrl-C and `kill` during `make run`: one sentence, an exit code, and the next run resumes.

`python -m octo_assets.run` is two processes. The first (`supervise`, standard library only) starts
the second, which does the work, in a process group of its own, and passes it SIGINT and SIGTERM.
Ctrl-C reaches the whole foreground process group; in one process, Dagster's helper processes
(the `watch_orphans` babysitters of its log capture) would each print a KeyboardInterrupt
traceback, and the readings workers would be interrupted mid-task. In a group of its own, only
the working process hears it, and stops its run in order.

In the working process (`install`), SIGINT (unless it was ignored when the run started, as in a
script's background job) and SIGTERM raise `Interrupted`. Dagster's in-process execution replaces
both while a run executes (and leaves SIGTERM handled as SIGINT is, ignored in a background job:
dagster._utils.interrupts), so `restore` puts them back after each run, and `received` tells,
through the signal wakeup fd that no handler replaces, whether one arrived while Dagster held them.
"""

import os
import signal
import socket
import subprocess
import sys

WORKING = "OCTO_RUN_WORKING"  # set in the working process's environment
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM stopped the run."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM, as a shell reports them

    def sentence(self) -> str:
        name = signal.Signals(self.signum).name
        return (
            f"make run was interrupted ({name}) and stopped; the days it had not finished are left as they were, "
            "and `make run` again resumes the work."
        )


def supervise(args: list[str]) -> int:
    """Run `python -m octo_assets.run ARGS` in its own process group, passing it SIGINT and SIGTERM;
    its exit code (128 + the signal's number if a signal killed it)."""
    parent = os.getpid()

    def die_with_parent() -> None:  # in the working process, before it starts
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            os._exit(1)

    worker = subprocess.Popen(
        [sys.executable, "-m", "octo_assets.run", *args],
        env={**os.environ, WORKING: "1"},
        process_group=0,
        preexec_fn=die_with_parent,
    )

    def forward(signum, _frame) -> None:
        try:
            worker.send_signal(signum)
        except ProcessLookupError:
            pass

    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN or signum == signal.SIGTERM:
            signal.signal(signum, forward)
    return exit_status(worker.wait())


def exit_status(returncode: int) -> int:
    """The working process's exit code as a shell reports it: its own, or 128 + the number of the
    signal that killed it (Popen gives that as minus the number: SIGKILL, -9, is 137)."""
    return 128 - returncode if returncode < 0 else returncode


_wakeup: tuple[socket.socket, socket.socket] | None = None  # (read end, write end)
_installed: dict[int, object] = {}


def install() -> None:
    """In the working process: SIGINT (unless ignored) and SIGTERM raise Interrupted; note every signal."""
    global _wakeup
    if _wakeup is None:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        _wakeup = reader, writer
    for signum in SIGNALS:
        if signum == signal.SIGINT and signal.getsignal(signum) is signal.SIG_IGN:
            continue
        signal.signal(signum, _interrupt)
        _installed[signum] = _interrupt
    sys.unraisablehook = _quiet_interrupts
    received()  # forget what came before


def _quiet_interrupts(unraisable) -> None:
    """An Interrupted raised inside a finaliser (a garbage-collector callback of SQLAlchemy's, say)
    cannot propagate, and Python would print its traceback; the run still learns of the signal
    through the wakeup socket (`received`), so say nothing."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def restore() -> None:
    """Our handlers again, after Dagster replaced them for a run."""
    for signum, handler in _installed.items():
        signal.signal(signum, handler)


def received() -> int | None:
    """SIGINT or SIGTERM if one arrived since the last call (whichever handler took it), else None."""
    if _wakeup is None:
        return None
    found = None
    while True:
        try:
            data = _wakeup[0].recv(4096)
        except (BlockingIOError, InterruptedError):
            return found
        if not data:
            return found
        for number in data:
            if number in SIGNALS:
                found = found or number


def _interrupt(signum: int, _frame) -> None:
    for number in _installed:  # one sentence, whatever a second Ctrl-C does
        signal.signal(number, _ignore)
    raise Interrupted(signum)


def _ignore(_signum: int, _frame) -> None:
    """A second signal, after the first: nothing. Not SIG_IGN, which the processes started from
    now on (Dagster's log tailers, for the snapshot's run finishing in its thread) would inherit,
    and then ignore the SIGTERM that stops them."""
