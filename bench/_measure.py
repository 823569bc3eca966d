"""Run one command and report wall time, CPU, peak memory and bytes read of its whole process tree.

    python -m bench._measure REPORT.json -- CMD [ARGS...]

How each figure is taken, and why it is right for a tree (e.g. Dagster's multiprocess executor):
- wall_s: from spawn until every process of the tree has exited and been reaped.
- cpu_s: user + system time from getrusage(RUSAGE_CHILDREN) of this launcher, which holds only
  this one tree. The kernel adds a child's times (including the children it reaped) when reaped.
- peak_rss_mb: the larger of
    * max_process_rss_mb: ru_maxrss of RUSAGE_CHILDREN, the kernel's exact high-water mark of the
      single largest process in the tree (exact for a single-process command; it has a floor of
      this launcher's ~13 MB, which the kernel charges to the child before exec), and
    * tree_pss_mb: the largest sum of Pss over all live processes of the tree, sampled every 50 ms
      from /proc/PID/smaps_rollup. Pss splits pages shared by forked workers, so they count once;
      a spike shorter than the interval can be missed, which the first figure backs up.
- rchar_mb / read_bytes_mb: /proc/PID/io of each process read while it is a zombie (reaped with
  WNOWAIT first), which includes the I/O of the descendants it reaped. rchar counts every byte
  returned by read() including page-cache hits (what a warm benchmark reads); read_bytes only
  what came from the block device.
The launcher makes itself a child subreaper, so orphaned grandchildren are re-parented here and
are counted too, instead of escaping to init.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import threading
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
SAMPLE_SECONDS = 0.05


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # exited while scanning
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # comm may contain spaces or ')'
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # exited, or a zombie without an address space
        pass
    return 0


class _PssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.wait(SAMPLE_SECONDS):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _descendants(me)))


def _zombie_io(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/io").read_text()
    return {key: int(value) for key, value in (line.split(": ") for line in text.splitlines())}


def _reap_all(main_pid: int) -> tuple[int, dict[str, int]]:
    """Reap the whole tree; return the main child's exit code and the tree's summed I/O."""
    exit_code, io = -1, {"rchar": 0, "read_bytes": 0}
    while True:
        try:
            pid = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT).si_pid
        except ChildProcessError:
            return exit_code, io
        for key, value in _zombie_io(pid).items():
            if key in io:
                io[key] += value
        _, status = os.waitpid(pid, 0)
        if pid == main_pid:
            exit_code = os.waitstatus_to_exitcode(status)


def measure(cmd: list[str]) -> dict:
    _become_subreaper()
    sampler = _PssSampler()
    sampler.start()
    began = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    exit_code, io = _reap_all(pid)
    wall = time.perf_counter() - began
    sampler.stop.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    max_process_mb = usage.ru_maxrss / 1024  # KiB on Linux
    tree_mb = sampler.peak_kb / 1024
    return {
        "cmd": cmd,
        "exit_code": exit_code,
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(max(max_process_mb, tree_mb), 1),
        "max_process_rss_mb": round(max_process_mb, 1),
        "tree_pss_mb": round(tree_mb, 1),
        "rchar_mb": round(io["rchar"] / 2**20, 1),
        "read_bytes_mb": round(io["read_bytes"] / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._measure", description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given")
    report = measure(cmd)
    args.report.write_text(json.dumps(report) + "\n")
    raise SystemExit(report["exit_code"])


if __name__ == "__main__":
    main()
