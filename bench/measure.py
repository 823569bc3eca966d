"""Run one command as a child; report wall, CPU and peak memory of its whole process tree.
warm() reads a folder into the page cache before a timed run.

    python -m bench.measure REPORT.json LOG -- CMD [ARGS...]

- wall_s: from spawn until every process of the tree has exited and been reaped.
- cpu_s: user + system of RUSAGE_CHILDREN: this launcher holds only the one tree, and the kernel
  adds a child's times (with those of the children it reaped) when it is reaped.
- peak_rss_mb: the largest sum of RSS over every live process of the tree, sampled every 50 ms
  from /proc/PID/statm (cheap: no page-table walk, so it does not slow the run). Pages shared
  between processes (libraries) count once per process: an upper bound, never flattering.
- others_cpu_s: CPU the rest of the machine used meanwhile (this launcher included, ~1%), and
  steal_s: time the hypervisor gave the vCPUs to others. On 2 cores, either slows the run.
- max_process_rss_mb: ru_maxrss, the kernel's exact high-water mark of the largest single process
  (it catches a spike shorter than the interval; floor: this launcher's ~13 MB).
- read_disk_mb: bytes the tree read from the block device (/proc/PID/io of each zombie): a warm
  run reads only a few libraries from disk.
- samples: [seconds since spawn, RSS sum MB], one every ~0.5 s plus the peak, to place the peak.
- LOG: the child's stdout and stderr, each line prefixed with the seconds since spawn at which it
  arrived (set PYTHONUNBUFFERED=1 for a Python child), to time the phases a run prints.
The launcher is a child subreaper: orphaned grandchildren are re-parented to it and counted.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SAMPLE_S = 0.05
KEEP_EVERY_S = 0.5
PAGE_MB, TICK = os.sysconf("SC_PAGE_SIZE") / 2**20, os.sysconf("SC_CLK_TCK")


def warm(folder: Path) -> tuple[float, float]:
    """Read every file below folder once (4 threads): (seconds, MB that came from disk).

    Run just before each timed run: this VM's proactive reclaim (DAMON pageout) evicts files
    that sit idle, so input generated or read minutes ago may be back on disk.
    """
    paths = [os.path.join(parent, name) for parent, _, names in os.walk(folder) for name in names]
    began, before = time.perf_counter(), disk_read()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(_read_all, [paths[n::4] for n in range(4)]))
    return round(time.perf_counter() - began, 2), round((disk_read() - before) / 2**20, 1)


def _read_all(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            f.read()


def disk_read() -> int:
    return int(Path("/proc/self/io").read_text().split("read_bytes: ")[1].split()[0])


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_bytes()
            except OSError:  # exited while scanning
                continue
            children.setdefault(int(stat.rpartition(b")")[2].split()[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def _machine_cpu() -> tuple[float, float]:
    """(seconds busy, seconds stolen by the hypervisor) of all CPUs since boot, from /proc/stat."""
    user, nice, system, _, _, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * PAGE_MB
    except (OSError, IndexError):  # exited, or a zombie
        return 0.0


def _sample(began: float, stop: threading.Event, samples: list, peak: list) -> None:
    """Every SAMPLE_S: the tree's RSS sum; keeps the peak and a sample every KEEP_EVERY_S."""
    me = os.getpid()
    while not stop.wait(SAMPLE_S):
        t, mb = round(time.perf_counter() - began, 2), round(sum(_rss_mb(pid) for pid in _descendants(me)), 1)
        peak[:] = max(peak, [t, mb], key=lambda sample: sample[1])
        if not samples or t - samples[-1][0] >= KEEP_EVERY_S:
            samples.append([t, mb])


def _copy_lines(stream, log_path: Path, began: float) -> None:
    with open(log_path, "w") as log:
        for line in stream:
            log.write(f"{time.perf_counter() - began:8.3f} {line.decode(errors='replace')}")
            log.flush()


def measure(cmd: list[str], log_path: Path) -> dict:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    started_at, began, machine = time.time(), time.perf_counter(), _machine_cpu()
    stop, samples, peak = threading.Event(), [], [0.0, 0.0]
    sampler = threading.Thread(target=_sample, args=(began, stop, samples, peak))
    sampler.start()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    copier = threading.Thread(target=_copy_lines, args=(child.stdout, log_path, began))
    copier.start()
    exit_code, read_bytes = -1, 0
    while True:  # reap the whole tree, reading each zombie's I/O counters first
        try:
            pid = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT).si_pid
        except ChildProcessError:
            break
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        read_bytes += int(io["read_bytes"])
        status = os.waitpid(pid, 0)[1]
        if pid == child.pid:
            exit_code, child.returncode = os.waitstatus_to_exitcode(status), os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    stop.set()
    sampler.join()
    copier.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, stolen = (after - before for after, before in zip(_machine_cpu(), machine))
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "cmd": cmd,
        "exit_code": exit_code,
        "started_at": started_at,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "others_cpu_s": round(busy - cpu, 1),
        "steal_s": round(stolen, 1),
        "peak_rss_mb": peak[1],
        "peak_at_s": peak[0],
        "max_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "read_disk_mb": round(read_bytes / 2**20, 1),
        "samples": sorted([*samples, peak]),
    }


if __name__ == "__main__":
    report_path, log_path, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        raise SystemExit(__doc__.splitlines()[2])
    report = measure(command, Path(log_path))
    Path(report_path).write_text(json.dumps(report) + "\n")
    raise SystemExit(report["exit_code"])
