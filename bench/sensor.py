"""The landing sensor's ticks over a generated landing folder, evaluated in process.

    OCTO_READINGS_DIR=... OCTO_SOURCE_DB=... OCTO_LAKE_DIR=... DAGSTER_HOME=... python -m bench.sensor OUT.json
    ... python -m bench.sensor OUT.json --idle CURSOR.json   # the history case (below)

On the instance in DAGSTER_HOME (fresh), the source snapshot is materialised first: without one
the sensor waits. Then ticks, as octo_assets_tests/in_process/test_automation_sensors.py evaluates them, each
on the cursor of the one before, until the sensor has learnt the days of every file:
  first (warm): no cursor, every landed file is new; the files were read just before (with
  --cold-start, evicted as for the second: every tick reads from disk);
  second (cold): the files' data evicted from the page cache before it (posix_fadvise DONTNEED;
  directory entries and inodes stay cached). Skipped with --no-cold;
  catching up: the ticks after, until one has nothing left to learn;
  idle: one more, nothing changed.
A tick reads new files for a bounded time (landing_sensor.READ_BUDGET_S) and resumes on the next.
OUT.json gets, per tick: seconds, bytes read from disk, run requests, the process's RSS before it and
its peak RSS during it, the reading workers' peak RSS (summed, sampled); and `requested_at_s`: when the
day was requested, counted from the first tick's start, the ticks 30 s apart as the daemon runs them.

--idle (bench.run --history): on an instance and lake the runs have already built, ticks from the
cursor in CURSOR.json (none the first time) until the sensor has learnt every landed file (the day
just landed), then one idle tick, the one reported; the cursor is saved back, so the next
checkpoint's ticks go on from it as a deployed sensor's would.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.measure import _descendants, _rss_mb, disk_read, warm

if TYPE_CHECKING:
    import dagster as dg

LEFT = "left to read"  # the sensor's skip message while it has files to learn the days of
INTERVAL_S = 30  # landing_sensor's minimum_interval_seconds: when the next tick may start


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    """One evaluation of the landing sensor: the only code here that knows the sensor's interface.

    It gets the resources it declares (today `landing`; a `lake` too once it takes one), built
    from the OCTO_* settings as `make run` builds them.
    """
    # imported here, not above: the sensor's reading workers (spawned) import this module, run as
    # __main__, again; a deployed sensor's (dagster's code server, `python -m dagster`) do not
    import dagster as dg

    from octo_assets.automation.landing_sensor import landing_sensor
    from octo_assets.definitions import defs

    resources = {key: defs.resources[key] for key in landing_sensor.required_resource_keys}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
    return landing_sensor.evaluate_tick(context)


def evict(folder: Path) -> None:
    os.sync()  # a dirty page (the input may be freshly generated) cannot be evicted
    for parent, _, names in os.walk(folder):
        for name in names:
            fd = os.open(os.path.join(parent, name), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


class WorkersPeak:
    """The largest sum of RSS of this process's children (the sensor's reading workers), sampled
    every 50 ms while in the block (a spawned child's own ru_maxrss would start at its parent's)."""

    def __enter__(self) -> WorkersPeak:
        self.mb, self._done = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.mb = max(self.mb, sum(_rss_mb(pid) for pid in _descendants(os.getpid())))

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def timed_tick(name: str, instance: dg.DagsterInstance, cursor: str | None) -> tuple[dict, str | None]:
    before = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])
    Path("/proc/self/clear_refs").write_text("5")  # resets this process's peak RSS (VmHWM) to its current RSS
    read, began = disk_read(), time.perf_counter()
    with WorkersPeak() as workers:
        result = tick(instance, cursor)
    seconds, status = time.perf_counter() - began, Path("/proc/self/status").read_text()
    print(f"{name}: {seconds:.2f} s, {len(result.run_requests or [])} run requests", flush=True)
    return {
        "tick": name,
        "seconds": round(seconds, 2),
        "read from disk MB": round((disk_read() - read) / 2**20),
        "run requests": len(result.run_requests or []),
        "process RSS before MB": round(before / 1024),
        "peak RSS in the tick MB": round(int(status.split("VmHWM:")[1].split()[0]) / 1024),
        "workers' peak RSS MB": round(workers.mb),  # summed over the reading workers (readings.learn)
        "skip message": result.skip_message or "",
    }, result.cursor


def requested_at(ticks: list[dict]) -> float | None:
    """Seconds from the first tick's start to the end of the first that requested runs, the ticks
    INTERVAL_S apart as the daemon starts them (or back to back when one takes longer)."""
    start = end = 0.0
    for n, tick_report in enumerate(ticks):
        start = max(n * INTERVAL_S, end)
        end = start + tick_report["seconds"]
        if tick_report["run requests"]:
            return round(end, 1)
    return None


def main(out: Path, cold: bool, cold_start: bool = False) -> None:
    import dagster as dg

    from octo_assets.automation.jobs import SNAPSHOT_ASSETS
    from octo_assets.definitions import ASSETS, defs

    landing = Path(defs.resources["landing"].path)
    with dg.DagsterInstance.get() as instance:
        began = time.perf_counter()
        snapshot = dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=defs.resources)
        assert snapshot.success, "the source snapshot failed"
        report = {"snapshot_s": round(time.perf_counter() - began, 2), "ticks": []}
        report["warm_s"] = warm(landing)[0]
        if cold_start:
            evict(landing)
        first = "first tick, all files new (cold page cache)" if cold_start else "first tick, all files new (warm)"
        tick_report, cursor = timed_tick(first, instance, None)
        report["ticks"].append(tick_report)
        if cold:
            evict(landing)
            tick_report, cursor = timed_tick("second tick (cold page cache)", instance, cursor)
            report["ticks"].append(tick_report)
        while LEFT in report["ticks"][-1]["skip message"]:
            tick_report, cursor = timed_tick(f"catching up, tick {len(report['ticks']) + 1}", instance, cursor)
            report["ticks"].append(tick_report)
        report["requested_at_s"] = requested_at(report["ticks"])
        report["ticks"].append(timed_tick("idle tick, nothing new", instance, cursor)[0])
    out.write_text(json.dumps(report) + "\n")


def idle(out: Path, cursor_file: Path) -> None:
    """Ticks on the saved cursor until nothing is left to learn, then the idle tick; the cursor saved back."""
    import dagster as dg

    cursor = cursor_file.read_text() if cursor_file.exists() else None
    with dg.DagsterInstance.get() as instance:
        ticks: list[dict] = []
        while not ticks or LEFT in ticks[-1]["skip message"]:
            tick_report, cursor = timed_tick(f"learning the landed files, tick {len(ticks) + 1}", instance, cursor)
            ticks.append(tick_report)
        tick_report, cursor = timed_tick("idle tick, nothing new", instance, cursor)
        ticks.append(tick_report)
    if cursor:
        cursor_file.write_text(cursor)
    out.write_text(json.dumps({"ticks": ticks}) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.sensor", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold second tick")
    parser.add_argument("--cold-start", action="store_true", help="the first tick cold too: every tick reads from disk")
    parser.add_argument("--idle", type=Path, metavar="CURSOR.json", help="the history case's idle tick")
    args = parser.parse_args()
    if args.idle:
        idle(args.out, args.idle)
    else:
        main(args.out, not args.no_cold, args.cold_start)
