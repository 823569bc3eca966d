"""Task functions for test_workers: a spawned worker imports them by module name."""

import os
import signal
import time


def pid(_) -> int:
    time.sleep(0.05)  # long enough that every worker of a pool gets some of the tasks
    return os.getpid()


def square(n: int) -> int:
    return n * n


def fail_on_three(n: int) -> int:
    if n == 3:
        raise ValueError(f"cannot stage {n}: the file is broken")
    return n


def die(how: str) -> None:
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
