"""The landing sensor's ticks over a generated landing folder, evaluated in process.

    OCTO_READINGS_DIR=... OCTO_SOURCE_DB=... OCTO_LAKE_DIR=... DAGSTER_HOME=... python -m bench.sensor OUT.json

On the instance in DAGSTER_HOME (fresh), the source snapshot is materialised first: without one
the sensor waits. Then three ticks, as octo_assets_tests/test_automation_sensors.py evaluates them:
  first (warm): no cursor, every landed file is new; the files were read just before;
  idle: the first tick's cursor, nothing changed;
  first (cold): no cursor again, after the files' data was evicted from the page cache
  (posix_fadvise DONTNEED; directory entries and inodes stay cached). Skipped with --no-cold.
OUT.json gets, per tick: seconds, bytes read from disk, run requests, the process's RSS before it and
its peak RSS during it.
"""

import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from bench.measure import disk_read, warm
from octo_assets.automation.jobs import SNAPSHOT_ASSETS
from octo_assets.automation.landing_sensor import landing_sensor
from octo_assets.definitions import ASSETS, defs


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    """One evaluation of the landing sensor: the only code here that knows the sensor's interface.

    It gets the resources it declares (today `landing`; a `lake` too once it takes one), built
    from the OCTO_* settings as `make run` builds them.
    """
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


def timed_tick(name: str, instance: dg.DagsterInstance, cursor: str | None) -> tuple[dict, str | None]:
    before = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])
    Path("/proc/self/clear_refs").write_text("5")  # resets this process's peak RSS (VmHWM) to its current RSS
    read, began = disk_read(), time.perf_counter()
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
        "skip message": (result.skip_message or "")[:60],
    }, result.cursor


def main(out: Path, cold: bool) -> None:
    landing = Path(defs.resources["landing"].path)
    with dg.DagsterInstance.get() as instance:
        began = time.perf_counter()
        snapshot = dg.materialize(ASSETS, selection=SNAPSHOT_ASSETS, instance=instance, resources=defs.resources)
        assert snapshot.success, "the source snapshot failed"
        report = {"snapshot_s": round(time.perf_counter() - began, 2), "ticks": []}
        report["warm_s"] = warm(landing)[0]
        first, cursor = timed_tick("first tick, all files new (warm)", instance, None)
        idle, _ = timed_tick("idle tick, nothing new", instance, cursor)
        report["ticks"] += [first, idle]
        if cold:
            evict(landing)
            report["ticks"].append(timed_tick("first tick, all files new (cold)", instance, None)[0])
    out.write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--no-cold" not in sys.argv)
