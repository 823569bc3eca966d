"""Benchmark: `make run` with nothing new, after 1, 30 and 365 days landed. Is its cost flat?

    python -m bench.up_to_date                 # 1 30 365 days, 10 meterpoints a day
    python -m bench.up_to_date 1 3 --meterpoints 2

For each N, in a fresh folder under WORK (default /tmp/octo-bench/up-to-date): N dated delivery
folders (readings/YYYY-MM-DD/, one file of the previous day's readings per meterpoint), the
case-study source database, then `python -m octo_assets.run` once to build every day (not timed),
then REPEATS more times with nothing new, each timed: the command's wall time (Python and
Dagster's imports included) and the time it reports itself ("done in X s", from its start to its
end, imports excluded). Each run must build nothing. The table gives the medians and each N's
ratio to the first N's: flat when within FLAT.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
REPEATS = 5
FLAT = 1.2
FIRST = date(2021, 1, 1)
SOURCE_DB = REPO / "data" / "case_study.db"  # its meterpoint ids are not these: readings stay uncovered


def land(readings: Path, days: int, meterpoints: int) -> None:
    for number in range(days):
        day = FIRST + timedelta(days=number)
        folder = readings / (day + timedelta(days=1)).isoformat()
        folder.mkdir(parents=True)
        for meterpoint in range(meterpoints):
            rows = [
                [f"{day} {h:02d}:{m:02d}:00", round(0.1 + meterpoint / 100, 3), f"mp{meterpoint:04d}"]
                for h in range(24)
                for m in (0, 30)
            ]
            text = json.dumps({"columns": ["interval_start", "consumption_delta", "meterpoint_id"], "data": rows})
            (folder / f"mp{meterpoint:04d}.json").write_text(text)


def make_run(env: dict) -> tuple[float, float, str]:
    """(wall seconds, the seconds it reported, its output) of one `python -m octo_assets.run`."""
    started = time.monotonic()
    done = subprocess.run([PY, "-m", "octo_assets.run"], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"make run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    reported = re.search(r"^done in ([0-9.]+) s$", done.stdout, re.MULTILINE)
    return wall, float(reported.group(1)) if reported else float("nan"), done.stdout


def measure(work: Path, days: int, meterpoints: int) -> dict:
    root = work / f"days-{days}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "home").mkdir(parents=True)
    shutil.copy(REPO / "config" / "dagster.yaml", root / "home")
    land(root / "readings", days, meterpoints)
    env = {
        **os.environ,
        "OCTO_READINGS_DIR": str(root / "readings"),
        "OCTO_SOURCE_DB": str(SOURCE_DB),
        "OCTO_LAKE_DIR": str(root / "lake"),
        "OCTO_WAREHOUSE": str(root / "warehouse.duckdb"),
        "DAGSTER_HOME": str(root / "home"),
    }
    started = time.monotonic()
    make_run(env)
    print(f"{days} day(s) built in {time.monotonic() - started:.1f} s", flush=True)
    walls, reported = [], []
    for _ in range(REPEATS):
        wall, said, output = make_run(env)
        if "nothing to build" not in output:
            raise SystemExit(f"a run with nothing new built something:\n{output[-2000:]}")
        walls.append(wall)
        reported.append(said)
    return {"days": days, "wall": statistics.median(walls), "reported": statistics.median(reported)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", nargs="*", type=int, default=[1, 30, 365])
    parser.add_argument("--meterpoints", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("/tmp/octo-bench/up-to-date"))
    args = parser.parse_args()
    results = [measure(args.work, days, args.meterpoints) for days in args.days]
    base = results[0]
    print(f"\n`make run` with nothing new, median of {REPEATS} ({args.meterpoints} meterpoints a day)\n")
    print("| days landed | command wall s | ratio | its own time s | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        wall, own = r["wall"] / base["wall"], r["reported"] / base["reported"]
        print(f"| {r['days']} | {r['wall']:.2f} | {wall:.2f} | {r['reported']:.2f} | {own:.2f} |")
    worst = max(r["reported"] / base["reported"] for r in results)
    print(f"\n{'flat' if worst <= FLAT else 'NOT flat'}: its own time at most {worst:.2f}x the first's (flat: {FLAT}x)")


if __name__ == "__main__":
    main()
