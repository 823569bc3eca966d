"""Benchmark: the pipeline (`make run`'s code path) against the issue's bare loop; fixed cost; the sensor; history.

    python -m bench.run --all     # what bench/RESULTS.md reports: the three below at their default sizes

    python -m bench.run --fixed-cost               # the pipeline on 10 meterpoints: a run's fixed cost
    python -m bench.run --compare 100000 1000000   # pipeline vs loop at each size: phases, memory, targets
    python -m bench.run --compare 1000000 --steps 1 2 4   # its pipeline side per OCTO_READINGS_STEPS, then a rebuild
    python -m bench.run --sensor 1000000           # the landing sensor's ticks over that many new files
    python -m bench.run --history                  # the day after 1, 10 and 30 days of history (below)
    python -m bench.run --history 1 2 3 --history-files 2000   # the same, small

Input is generated once per (meterpoints, --days) under WORK/input/ and reused. Every timed
command runs as a child of bench.measure (wall, CPU, peak RSS summed over its process tree) in a
fresh folder under WORK/runs/, right after every input file and Python's libraries were read
once (bench.measure.warm), so both sides start from the same warm page cache. The pipeline is
`python -m octo_assets.run` with OCTO_* pointing at the input and a fresh lake, warehouse and
DAGSTER_HOME (holding config/dagster.yaml). Its phases come from the run's event log (steps) and
from when it printed its lines (before the run). Rows and kWh written are checked against the
generator's totals. Markdown tables go to stdout, every figure to WORK/results.json.

The history case (--history [DAYS ...], default 1 10 30; --history-files a day, default 100,000):
does a day cost more after a month of deliveries than after one? Input: one folder a day,
readings/YYYY-MM-DD/<meterpoint>.json, 31 days (more if a checkpoint needs them), generated once
per size (bench.generate's dated layout; at 100,000 files a day, 3.1M files and about 12 GB).
In a fresh WORK/runs/history-FILES/ (lake, warehouse, DAGSTER_HOME, a copy of the source
database), day folders are landed one at a time into its readings/ as hard links (cp -al: nothing
copied; the pipeline lists with os.scandir and does not follow symlinked folders), and each is
built by an un-timed `python -m octo_assets.run --from DAY --to DAY`, as the daily schedule would,
then the landing sensor ticks (un-timed), as a deployed one would: its cursor follows the days.
At each N of DAYS, once N days are built, day N+1 is landed and timed: its run, `python -m
octo_assets.run --from D --to D`, then, in a process of its own, an idle landing-sensor tick
(bench.sensor --idle: after the ticks that learn the new day, one with nothing new; its seconds
and the process's peak RSS during it). The table gives each N's figures against the first N's:
flat when all four are within 1.2x (HISTORY_FLAT). Before each timed command, everything below
the history folder (landing area, lake, DAGSTER_HOME) and the libraries are read into the page
cache, as for the other cases.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import duckdb

from bench.generate import generate
from bench.measure import warm
from bench.sensor import INTERVAL_S
from octo_assets.lake import DAY_KEY, READINGS_TABLE, Lake
from octo_assets.relations import sql_list

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
LIBRARIES = {sysconfig.get_path(name) for name in ("stdlib", "purelib", "platlib")}
START, SEED = date(2021, 1, 1), 0
GENERATOR = 2  # bump when bench/generate.py changes its output: cached inputs are then regenerated
TINY = 10  # meterpoints of the fixed-cost run
FLOOR_TARGET = 3.0  # pipeline wall / the floor's wall at 1M meterpoints x 1 day
LOOP_UP_TO = 100_000  # the bare loop is run at sizes up to this (at 1M it holds 12 GB and its time swings)
MEMORY_TARGET_MB, LARGEST_TARGET_MB = 1536, 1024  # at 1M: all processes together, and the largest one
FIXED_TARGET_S = 3.0  # the 10-meterpoint run
SENSOR_TARGET_S = 120.0  # a million new files' day requested, ticks 30 s apart, from the first tick's start
TICK_LIMIT_S = 15.0
HISTORY_FLAT = 1.2  # the day after N days of history within 1.2x of the day after the first N (time, memory)
HISTORY_DAYS = 31  # days generated for --history at least: any checkpoints up to 30 reuse the same input
results: dict = {}


def ensure_input(args, meterpoints: int, days: int | None = None, layout: str = "flat") -> tuple[Path, dict]:
    """The generated input for these parameters (days: default --days); its summary.json, written
    last, marks it complete."""
    days = days or args.days
    dated = "-dated" if layout == "dated" else ""
    folder = args.work / "input" / f"mp{meterpoints}-d{days}-{START}-s{SEED}-g{GENERATOR}{dated}"
    if not (folder / "summary.json").exists():
        print(f"generating {folder} ...", flush=True)
        began = time.perf_counter()
        generate(folder, meterpoints, days, START, SEED, layout=layout)
        disk = subprocess.run(["du", "-sh", str(folder)], capture_output=True, text=True).stdout.split()[0]
        print(f"generated in {time.perf_counter() - began:.0f} s, {disk} on disk", flush=True)
    return folder, json.loads((folder / "summary.json").read_text())


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def measured(label: str, argv: list[str], run_dir: Path, args, env: dict | None = None, inp: Path | None = None):
    """argv under bench.measure, after a sync and warming inp and the libraries: its report (output in LABEL.log)."""
    report_path, log_path = run_dir / f"{label}.json", run_dir / f"{label}.log"
    os.sync()  # the writeback of earlier output (e.g. freshly generated input) would run during the timed run
    warmed = warm(inp) if inp else None
    for folder in LIBRARIES:
        warm(Path(folder))
    load = os.getloadavg()[0]
    warmed = f", input warmed in {warmed[0]:.0f} s, {warmed[1]:.0f} MB of it from disk" if warmed else ""
    print(f"running {label} (load {load:.2f}{warmed})", flush=True)
    child = subprocess.Popen(  # a session of its own, so that a timeout stops the whole tree
        [PY, "-m", "bench.measure", str(report_path), str(log_path), "--", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,
    )
    try:
        child.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    report = json.loads(report_path.read_text()) if report_path.exists() else {"exit_code": "timeout"}
    report.update(label=label, load_before=load, log=str(log_path))
    if report["exit_code"] != 0:
        tail = log_path.read_text().splitlines()[-20:] if log_path.exists() else []
        print(f"--- {label} FAILED ({report['exit_code']}); the end of {log_path}:", *tail, "---", sep="\n")
    elif inp and report["read_disk_mb"] > 64:
        print(f"note: {label} read {report['read_disk_mb']:.0f} MB from disk: its input was not all in the cache")
    return report


def pipeline_env(inp: Path, state: Path) -> dict:
    """OCTO_* at the input, and a fresh lake, warehouse and DAGSTER_HOME under state."""
    home = fresh(state / "dagster_home")
    shutil.copy(REPO / "config" / "dagster.yaml", home)
    return {
        "OCTO_READINGS_DIR": str(inp / "readings"),
        "OCTO_SOURCE_DB": str(inp / "case_study.db"),
        "OCTO_LAKE_DIR": str(state / "lake"),
        "OCTO_WAREHOUSE": str(state / "warehouse.duckdb"),
        "DAGSTER_HOME": str(home),
    }


def run_pipeline(label: str, inp: Path, run_dir: Path, args, env: dict | None = None, argv: list | None = None) -> dict:
    """`python -m octo_assets.run` (or argv) timed; env: a fresh pipeline_env under run_dir unless given."""
    env = env or pipeline_env(inp, fresh(run_dir))
    report = measured(label, argv or [PY, "-m", "octo_assets.run"], run_dir, args, env, inp)
    report["phases"] = phases(report, Path(env["DAGSTER_HOME"])) if report["exit_code"] == 0 else []
    return totals(report, readings_files(run_dir))


def run_steps(n: int, mp: int, inp: Path, run_dir: Path, args) -> dict:
    """--steps: the pipeline with OCTO_READINGS_STEPS=n on a fresh lake (the first build), then,
    on the same lake, the rebuild of its days (--from/--to: every file parsed again, in n steps)."""
    env = {**pipeline_env(inp, fresh(run_dir)), "OCTO_READINGS_STEPS": str(n)}
    last = START + timedelta(days=args.days - 1)
    build = run_pipeline(f"build-{mp}-steps{n}", inp, run_dir, args, env)
    rebuild = run_pipeline(f"rebuild-{mp}-steps{n}", inp, run_dir, args, env, day_run(START, last))
    return {"build": build, "rebuild": rebuild}


def run_floor(label: str, inp: Path, run_dir: Path, args) -> dict:
    """bench.floor over the input: its report, with the rows it read (it writes nothing)."""
    fresh(run_dir)
    report = measured(label, [PY, "-m", "bench.floor", str(inp / "readings")], run_dir, args, inp=inp)
    report["rows"] = report["kwh"] = None
    if report["exit_code"] == 0:
        line = Path(report["log"]).read_text().split("rows read: ")[-1]
        report["rows"] = int(line.split(",")[0])
    return report


def run_loop(label: str, inp: Path, run_dir: Path, args) -> dict:
    out = fresh(run_dir) / "out.parquet"
    return totals(
        measured(label, [PY, "-m", "bench.loop", str(inp / "readings"), str(out)], run_dir, args, inp=inp), [str(out)]
    )


def readings_files(run_dir: Path, day: date | None = None) -> list[str]:
    """The files of the lake's readings table (of one day) in its current Delta version."""
    lake = Lake(run_dir / "lake")
    if day is not None:
        return lake.day_files(READINGS_TABLE, DAY_KEY, day.isoformat())
    pinned = lake.pin(READINGS_TABLE)
    return pinned.files if pinned else []


def totals(report: dict, files: list[str]) -> dict:
    """Rows and kWh in what the run wrote (consumption_kwh, else consumption_delta)."""
    report["rows"] = report["kwh"] = None
    if report["exit_code"] == 0 and files:
        source = f"read_parquet({sql_list(files)})"
        with duckdb.connect() as con:
            columns = [d[0] for d in con.execute(f"SELECT * FROM {source} LIMIT 0").description]
            kwh = "consumption_kwh" if "consumption_kwh" in columns else "consumption_delta"
            report["rows"], report["kwh"] = con.execute(f"SELECT count(*), sum({kwh}) FROM {source}").fetchone()
    return report


def check(report: dict, summary: dict) -> str:
    if report["exit_code"] != 0:
        return "FAILED"
    rows = f"rows {'ok' if report['rows'] == summary['rows'] else 'WRONG'}"
    if report["kwh"] is None and report["label"].startswith("floor"):
        return rows  # the floor parses, and adds up nothing
    kwh_ok = math.isclose(report["kwh"] or 0, summary["total_kwh"], rel_tol=1e-9, abs_tol=1e-3)
    return f"{rows}, kWh {'ok' if kwh_ok else 'WRONG'}"


def phases(report: dict, dagster_home: Path) -> list[tuple[str, float, float]]:
    """(phase, start, seconds), from spawn: before the Dagster run, split at each line the process
    printed; each step of the run (from its event log), the run's time outside them; after it."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs(limit=1)[0].run_id
        run = instance.get_run_stats(run_id)
        steps = sorted((s.start_time, s.end_time, s.step_key) for s in instance.get_run_step_stats(run_id))
    t0, wall = report["started_at"], report["wall_s"]
    run_start, run_end = run.start_time - t0, run.end_time - t0
    log = Path(report["log"]).read_bytes().decode(errors="replace")  # not read_text: a \r (a progress bar) is no line
    printed = [(line.split(maxsplit=1) + [""])[:2] for line in log.split("\n") if line]
    marks = [(0.0, "start-up and imports, until the first line printed")]
    marks += [(float(t), f"after '{text[:50]}'") for t, text in printed if float(t) < run_start]
    found = [(name, t, end - t) for (t, name), (end, _) in zip(marks, [*marks[1:], (run_start, "")])]
    found += [(f"step {key}", start - t0, end - start) for start, end, key in steps]
    in_steps, reach = 0.0, 0.0
    for start, end, _ in steps:  # steps that overlap (each in its own process) count once
        in_steps, reach = in_steps + max(0.0, end - max(start, reach)), max(reach, end)
    return [*found, ("Dagster run, outside its steps", run_start, run_end - run_start - in_steps),
            ("after the run (summary), until exit", run_end, wall - run_end)]  # fmt: skip


def table(header: list[str], rows: list[list]) -> None:
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |")


def print_phases(report: dict, top: int = 8, floor: float | None = None) -> None:
    """The phases of a pipeline run, its `top` longest steps shown, the others summed; each
    against the floor's wall time when given."""
    if not report.get("phases"):
        return
    steps = sorted((p for p in report["phases"] if p[0].startswith("step ")), key=lambda p: -p[2])
    shown = [p for p in report["phases"] if not p[0].startswith("step ") or p in steps[:top]]
    rows = []
    for name, start, seconds in shown:
        inside = [mb for t, mb in report["samples"] if start <= t <= start + seconds and "outside" not in name]
        share = [f"{seconds / floor:.2f}"] if floor else []
        rows.append([name, f"{start:.1f}", f"{seconds:.2f}", *share, f"{max(inside):.0f}" if inside else None])
    if len(steps) > top:
        other = sum(p[2] for p in steps[top:])
        share = [f"{other / floor:.2f}"] if floor else []
        rows.insert(-2, [f"the other {len(steps) - top} steps", "", f"{other:.2f}", *share, ""])
    print(
        f"\nphases of {report['label']}: wall {report['wall_s']:.2f} s, peak RSS sum {report['peak_rss_mb']:.0f} MB; "
        f"others used {report['others_cpu_s']:.1f} CPU s, hypervisor steal {report['steal_s']:.1f} s"
    )
    share = ["x the floor"] if floor else []
    table(["phase", "from s", "seconds", *share, "peak RSS sum MB in it (0.5 s samples)"], rows)


FORMATS = [("wall_s", ".2f"), ("cpu_s", ".1f"), ("peak_rss_mb", ".0f"), ("max_process_rss_mb", ".0f")]
FORMATS += [("read_disk_mb", ".0f"), ("others_cpu_s", ".1f")]
FIGURES = ["what", "wall s", "CPU s", "peak RSS sum MB", "largest process MB", "read from disk MB", "others' CPU s"]
FIGURES += ["readings/s", "check"]


def figures(what: str, r: dict, summary: dict | None = None) -> list:
    rate = f"{r['rows'] / r['wall_s']:,.0f}" if r.get("rows") else None
    checked = check(r, summary) if summary else None
    numbers = [f"{r[key]:{spec}}" if key in r else None for key, spec in FORMATS]
    return [what, *numbers, rate, checked]


def fixed_cost(args) -> None:
    """The pipeline on a tiny input: what any run costs, whatever its data (start-up and imports in its phases)."""
    inp, summary = ensure_input(args, TINY)
    tiny = run_pipeline(f"pipeline-{TINY}", inp, args.work / "runs" / "fixed", args)
    results["fixed_cost"] = {"pipeline": tiny}
    table(FIGURES, [figures(f"pipeline (make run), {TINY} meterpoints x 1 day", tiny, summary)])
    print_phases(tiny)


def compare(args) -> None:
    """The pipeline against the floor (and, up to LOOP_UP_TO, the bare loop) at each size: wall,
    CPU, peak memory, phases; the issue's targets."""
    results.setdefault("compare", {})
    for mp in args.compare:
        inp, summary = ensure_input(args, mp)
        runs = args.work / "runs" / f"mp{mp}-d{args.days}"
        floor = run_floor(f"floor-{mp}", inp, runs / "floor", args)
        loop = run_loop(f"loop-{mp}", inp, runs / "loop", args) if mp <= LOOP_UP_TO else None
        steps = {n: run_steps(n, mp, inp, runs / f"steps-{n}", args) for n in args.steps}
        pipe = None if steps else run_pipeline(f"pipeline-{mp}", inp, runs / "pipeline", args)
        results["compare"][mp] = {"summary": summary, "floor": floor, "loop": loop, "pipeline": pipe, "steps": steps}
        print(f"\n{mp:,} meterpoints x {args.days} day(s): {summary['rows']:,} readings in {summary['files']:,} files")
        rows = [figures("pipeline (make run)", pipe, summary)] if pipe else []
        rows += [figures("the floor (bench.floor)", floor, summary)]
        rows += [figures("bare loop (bench.loop)", loop, summary)] if loop else []
        table(FIGURES, rows)
        base = floor["wall_s"] if floor["exit_code"] == 0 else None
        if steps:
            print_steps(steps, summary, base)
            continue
        print(f"\npipeline / floor: **{pipe['wall_s'] / base:.2f}x**" if base else "")
        print_phases(pipe, floor=base)


STEPS_FIGURES = ["wall s", "x floor", "largest process MB", "peak RSS sum MB", "check"]


def print_steps(steps: dict, summary: dict, base: float | None) -> None:
    """--steps: each N's first build and rebuild, against the floor's wall (base); then their phases."""
    rows = []
    for n, runs in steps.items():
        row = [n]
        for r in runs.values():
            ok = r["exit_code"] == 0
            row += [f"{r['wall_s']:.2f}" if ok else None, f"{r['wall_s'] / base:.2f}x" if ok and base else None]
            row += [f"{r['max_process_rss_mb']:.0f}" if ok else None, f"{r['peak_rss_mb']:.0f}" if ok else None]
            row += [check(r, summary)]
        rows.append(row)
    table(["OCTO_READINGS_STEPS", *(f"{run}: {f}" for run in ("build", "rebuild") for f in STEPS_FIGURES)], rows)
    for runs in steps.values():
        for r in runs.values():
            print_phases(r, floor=base)


def print_targets() -> None:
    """The issue's targets, each against what this run measured."""
    rows = []
    fixed = results.get("fixed_cost", {}).get("pipeline", {})
    if fixed.get("rows"):
        rows.append([f"{TINY} meterpoints x 1 day (fixed cost) <= {FIXED_TARGET_S:.0f} s",
                     f"**{fixed['wall_s']:.1f} s**", verdict(fixed["wall_s"] <= FIXED_TARGET_S)])  # fmt: skip
    done = results.get("compare", {}).get(1_000_000)
    if done and done["pipeline"] and done["pipeline"]["rows"] and done["floor"]["rows"]:
        pipe, floor = done["pipeline"], done["floor"]
        ratio = f"{pipe['wall_s']:.1f} s / {floor['wall_s']:.1f} s = **{pipe['wall_s'] / floor['wall_s']:.2f}x**"
        rows.append([f"1,000,000 x 1 day: pipeline <= {FLOOR_TARGET:.0f}x the floor", ratio,
                     verdict(pipe["wall_s"] <= FLOOR_TARGET * floor["wall_s"])])  # fmt: skip
        largest, summed = pipe["max_process_rss_mb"], pipe["peak_rss_mb"]
        rows.append(["1,000,000 x 1 day: largest process <= 1 GiB", f"**{largest:.0f} MB**",
                     verdict(largest <= LARGEST_TARGET_MB)])  # fmt: skip
        rows.append(["1,000,000 x 1 day: all processes <= 1.5 GiB", f"**{summed:.0f} MB**",
                     verdict(summed <= MEMORY_TARGET_MB)])  # fmt: skip
    requested = results.get("sensor", {}).get("requested_after_s")
    if requested is not None:
        slowest = results["sensor"]["slowest_tick_s"]
        rows.append([f"{results['sensor']['files']:,} new files' day requested <= {SENSOR_TARGET_S:.0f} s, "
                     f"each tick < {TICK_LIMIT_S:.0f} s", f"**{requested:.0f} s**, slowest tick {slowest:.1f} s",
                     verdict(requested <= SENSOR_TARGET_S and slowest < TICK_LIMIT_S)])  # fmt: skip
    if rows:
        table(["target", "measured in this run", "verdict"], rows)


def verdict(met: bool) -> str:
    return "met" if met else "**NOT met**"


def sensor(args) -> None:
    """The landing sensor over --sensor new files: every tick until it learnt them all, then an idle one."""
    inp, summary = ensure_input(args, args.sensor)
    run_dir = fresh(args.work / "runs" / f"sensor-{args.sensor}")
    options = [*(["--no-cold"] if args.no_cold else []), *(["--cold-start"] if args.cold_start else [])]
    argv = [PY, "-m", "bench.sensor", str(run_dir / "ticks.json"), *options]
    report = measured(f"sensor-{args.sensor}", argv, run_dir, args, pipeline_env(inp, run_dir))
    if report["exit_code"] == 0:
        ticks = json.loads((run_dir / "ticks.json").read_text())
        results["sensor"] = {"process": report, **ticks}
        print(
            f"\nlanding sensor, {summary['files']:,} new files (after a source snapshot, {ticks['snapshot_s']:.1f} s; "
            f"other processes used {report['others_cpu_s']:.1f} CPU s in the {report['wall_s']:.0f} s of it all):"
        )
        shown = [{**tick, "skip message": tick["skip message"][:60]} for tick in ticks["ticks"]]
        table(list(shown[0]), [list(tick.values()) for tick in shown])
        requested = ticks.get("requested_at_s")
        slowest = max(tick["seconds"] for tick in ticks["ticks"])
        results["sensor"].update(files=summary["files"], requested_after_s=requested, slowest_tick_s=slowest)
        if requested is not None:
            print(f"\nthe day requested {requested} s after the first tick began (ticks {INTERVAL_S} s apart)")


def land(inp: Path, landing: Path, day: date) -> None:
    """Make a generated day folder appear in the landing area as hard links: nothing is copied, and
    each file is a new version there (a new link changes its ctime); os.scandir would not follow a
    symlinked folder."""
    subprocess.run(["cp", "-al", str(inp / "readings" / day.isoformat()), str(landing / day.isoformat())], check=True)


def day_run(day: date, last: date | None = None) -> list[str]:
    return [PY, "-m", "octo_assets.run", "--from", day.isoformat(), "--to", (last or day).isoformat()]


def build_day(day: date, run_dir: Path, env: dict) -> float:
    """The day's run, un-timed, as the daily schedule would make it: its wall seconds (output in build-DAY.log)."""
    log, began = run_dir / f"build-{day}.log", time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(day_run(day), cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=out).returncode
    if code != 0:
        raise SystemExit(
            "\n".join([f"building {day} failed ({code}); the end of {log}:", *log.read_text().splitlines()[-20:]])
        )
    return round(time.perf_counter() - began, 2)


def follow_sensor(run_dir: Path, env: dict) -> None:
    """The landing sensor's ticks after a day's run, un-timed: a deployed sensor ticks every 30 s,
    so its cursor follows the deliveries; without these, the checkpoint's first tick would compare
    every day delivered since the last checkpoint."""
    argv = [PY, "-m", "bench.sensor", str(run_dir / "follow-ticks.json"), "--idle", str(run_dir / "sensor-cursor.json")]
    done = subprocess.run(argv, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the sensor's ticks after a day failed ({done.returncode}):\n{done.stderr[-3000:]}")


def checkpoint(n: int, day: date, run_dir: Path, env: dict, args) -> dict:
    """The day landed after n days of history: its run, then an idle sensor tick, each timed in its own process."""
    run = measured(f"run-after-{n}", day_run(day), run_dir, args, env, run_dir)
    run["phases"] = phases(run, Path(env["DAGSTER_HOME"])) if run["exit_code"] == 0 else []
    totals(run, readings_files(run_dir, day))
    ticks_path = run_dir / f"tick-after-{n}-ticks.json"
    argv = [PY, "-m", "bench.sensor", str(ticks_path), "--idle", str(run_dir / "sensor-cursor.json")]
    tick = measured(f"tick-after-{n}", argv, run_dir, args, env, run_dir)
    ticks = json.loads(ticks_path.read_text())["ticks"] if tick["exit_code"] == 0 else []
    return {"days": n, "day": day.isoformat(), "run": run, "tick_process": tick, "ticks": ticks}


def history_point(c: dict) -> dict:
    """The four figures the history table compares (None where the command failed): the run's wall
    and peak RSS sum; the idle tick's seconds and its process's peak RSS during it."""
    run, idle = c["run"], c["ticks"][-1] if c["ticks"] else {}
    ran = run["exit_code"] == 0
    return {"days": c["days"], "run_s": run["wall_s"] if ran else None, "run_mb": run["peak_rss_mb"] if ran else None,
            "tick_s": idle.get("seconds"), "tick_mb": idle.get("peak RSS in the tick MB")}  # fmt: skip


HISTORY_KEYS = {"run_s": ".2f", "run_mb": ".0f", "tick_s": ".2f", "tick_mb": ".0f"}
HISTORY_HEADER = ["history days", "next day's run s", "its peak RSS sum MB", "idle tick s", "tick peak RSS MB"]
HISTORY_HEADER += ["run time x", "run memory x", "tick time x", "tick memory x", f"flat (all <= {HISTORY_FLAT}x)"]


def history_rows(points: list[dict], limit: float = HISTORY_FLAT) -> list[list]:
    """The history table: each checkpoint's figures, their ratios to the first checkpoint's, and
    whether all four ratios are within limit (the first row is the reference)."""
    rows = []
    for n, point in enumerate(points):
        shown = [None if point[key] is None else f"{point[key]:{spec}}" for key, spec in HISTORY_KEYS.items()]
        ratios = [point[key] / points[0][key] if point[key] and points[0][key] else None for key in HISTORY_KEYS]
        if None in ratios:
            flat = "FAILED"
        elif n == 0:
            flat = "(reference)"
        else:
            flat = "flat" if all(ratio <= limit for ratio in ratios) else "**not flat**"
        rows.append([point["days"], *shown, *(None if r is None else f"{r:.2f}x" for r in ratios), flat])
    return rows


def history(args) -> None:
    """The day after N days of history, for each N of --history: its run and an idle sensor tick (module docstring)."""
    checkpoints, files = sorted(set(args.history)), args.history_files
    inp, summary = ensure_input(args, files, max(HISTORY_DAYS, checkpoints[-1] + 1), "dated")
    run_dir = fresh(args.work / "runs" / f"history-{files}")
    (run_dir / "readings").mkdir()
    shutil.copy(inp / "case_study.db", run_dir)  # in run_dir, so that warming run_dir warms all a run reads
    env = pipeline_env(run_dir, run_dir)
    record = results["history"] = {"files_a_day": files, "summary": summary, "builds": {}, "checkpoints": []}
    built = 0  # days landed and built: START, START + 1, ...
    for n in checkpoints:
        for k in range(built, n):
            day = START + timedelta(days=k)
            land(inp, run_dir / "readings", day)
            seconds = record["builds"][day.isoformat()] = build_day(day, run_dir, env)
            follow_sensor(run_dir, env)
            print(f"history: {day} landed and built, the sensor ticked (un-timed) in {seconds:.1f} s", flush=True)
        day = START + timedelta(days=n)
        land(inp, run_dir / "readings", day)
        record["checkpoints"].append(checkpoint(n, day, run_dir, env, args))
        built = n + 1
    print_history(record)


def print_history(record: dict) -> None:
    checkpoints, by_day = record["checkpoints"], record["summary"]["by_day"]
    print(
        f"\nhistory: the next day's run ({record['files_a_day']:,} new files) after N days, then the sensor's process:"
    )
    lines = []
    for c in checkpoints:
        lines.append(figures(f"run of {c['day']} after {c['days']} days", c["run"], by_day[c["day"]]))
        lines.append(figures(f"sensor ticks after {c['days']} days (process)", c["tick_process"]))
    table(FIGURES, lines)
    ticks = [
        {"history days": c["days"], **t, "skip message": t["skip message"][:60]}
        for c in checkpoints
        for t in c["ticks"]
    ]
    if ticks:
        print("\nthe landing sensor's ticks after each run (the last of each, idle, is the one compared):")
        table(list(ticks[0]), [list(t.values()) for t in ticks])
    for c in checkpoints:
        if c["ticks"] and c["ticks"][-1]["run requests"]:
            print(f"note: the idle tick after {c['days']} days requested runs: it was not idle")
        print_phases(c["run"])
    rows = record["table"] = history_rows([history_point(c) for c in checkpoints])
    print("\nhistory: the day after N days, against the day after the first N")
    table(HISTORY_HEADER, rows)
    if len(rows) > 1:
        print(f"\nthe day after {rows[-1][0]} days against the day after {rows[0][0]}, its run and the idle tick, "
              f"in time and peak memory, within {HISTORY_FLAT}x: {verdict(rows[-1][-1] == 'flat')}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="--fixed-cost --compare 100000 1000000 --sensor 1000000")
    parser.add_argument("--fixed-cost", action="store_true")
    parser.add_argument("--compare", type=int, nargs="+", metavar="METERPOINTS", default=[])
    parser.add_argument(
        "--steps", type=int, nargs="+", metavar="N", default=[], help="--compare's pipeline per OCTO_READINGS_STEPS=N"
    )
    parser.add_argument("--sensor", type=int, metavar="FILES")
    parser.add_argument("--history", type=int, nargs="*", metavar="DAYS", help="checkpoints, days (default 1 10 30)")
    parser.add_argument("--history-files", type=int, default=100_000, metavar="FILES", help="a day (default 100,000)")
    parser.add_argument("--days", type=int, default=1, help="days in each file (default 1)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/octo-bench"))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per timed command")
    parser.add_argument("--no-cold", action="store_true", help="skip the sensor's cold first tick")
    parser.add_argument("--cold-start", action="store_true", help="the sensor's first tick cold too (every tick)")
    args = parser.parse_args(argv)
    if args.all:
        args.fixed_cost, args.compare, args.sensor = True, [100_000, 1_000_000], args.sensor or 1_000_000
    if args.history is not None:
        args.history = args.history or [1, 10, 30]
        if min(args.history) < 1:
            parser.error("--history: checkpoints are days of history, 1 or more")
    if not (args.fixed_cost or args.compare or args.sensor or args.history):
        parser.error("give --all, --fixed-cost, --compare, --sensor or --history")
    args.work, began = args.work.resolve(), time.perf_counter()
    packages = {p: version(p) for p in ("dagster", "polars", "duckdb", "pyarrow", "orjson")}
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    results["machine"] = {"cores": os.cpu_count(), "memory_gib": round(memory, 1), "kernel": platform.release(),
                          "python": platform.python_version(), **packages, "load": os.getloadavg()}  # fmt: skip
    print(json.dumps(results["machine"]))
    steps = ((args.fixed_cost, fixed_cost), (args.compare, compare), (args.sensor, sensor), (args.history, history))
    for wanted, step in steps:
        if wanted:
            step(args)
    if args.days == 1:
        print_targets()
    results["minutes"] = round((time.perf_counter() - began) / 60, 1)
    (args.work / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    disk = subprocess.run(["du", "-sh", str(args.work)], capture_output=True, text=True).stdout.split()[0]
    print(f"\ndone in {results['minutes']} min; {args.work} holds {disk}; every figure in {args.work}/results.json")


if __name__ == "__main__":
    main()
