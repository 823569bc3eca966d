"""Benchmark harness: the pipeline against two reference ingesters, and the issue's other targets.

    python -m bench.run --all --repeat 2    # every mode below in turn: the figures of bench/RESULTS.md

    python -m bench.run                    # pipeline vs duckdb vs loop on 100,000 meterpoints x 1 day
    python -m bench.run --scaling          # pipeline rows/s at 1x, 2x and 4x 25,000 meterpoints
    python -m bench.run --backfill         # peak memory of a 30-day run against a 1-day run (10,000 meterpoints)
    python -m bench.run --incremental      # bytes read by the run of a newly landed day, after 29 days
    python -m bench.run --fixed-cost       # 3 trivial assets under both executors; the pipeline on 10 meterpoints

Every mode takes --meterpoints, --days and --layout (defaults above; --backfill and
--incremental use the per_day layout, one sub-folder a day), --repeat N (the fastest of N runs
is reported), --work DIR, --start, --seed and --timeout.

Input is generated once per parameter set under WORK/input/ and reused while its summary.json
matches. Each measured command runs as a child of `bench._measure` (see there for how time,
memory and bytes read are taken) in a fresh folder under WORK/runs/, with its output in a .log
file beside its .json report. Rows and kWh are counted afterwards in the Parquet written and
checked against the generator's own totals. The input of each run is read once just before it
(see warm), so this measures warm-cache throughput; a run that still read from disk says so.
bench/readtrace.py breaks a run's bytes read down by kind of file, from an strace log.
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
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta
from functools import partial
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import duckdb

from bench.generate import LAYOUTS, day_slots, generate
from octo_assets.readings.landing import scan_landing

REPO = Path(__file__).resolve().parent.parent
KWH_COLUMNS = ("consumption_kwh", "consumption_delta")  # first one present in the output is summed
CONTENDERS = ("pipeline", "duckdb", "loop")
PIPELINE = [sys.executable, "-m", "octo_assets.run"]
TRIVIAL = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "bench.trivial", "--select", "*"]
EXECUTORS = ("multiprocess", "in_process")
SCALES = (1, 2, 4)
MODES = ("fixed-cost", "compare", "scaling", "backfill", "incremental")  # --all runs them in this order
# (meterpoints, days, layout) of each mode. The scaling base is large enough that the fixed
# cost is a minor part of the 1x run; the fixed cost is the pipeline on a tiny input.
MODE_SIZES = {
    "compare": (100_000, 1, "per_meterpoint"),
    "scaling": (25_000, 1, "per_meterpoint"),
    "backfill": (10_000, 30, "per_day"),
    "incremental": (10_000, 30, "per_day"),
    "fixed-cost": (10, 1, "per_meterpoint"),
}
# Targets of the issue.
BACKFILL_MAX_RATIO = 1.2  # peak memory of the whole backfill / of one day
SCALING_TOLERANCE = 0.15  # rows/s at 2x and 4x against 1x
INCREMENTAL_SLACK = 1.25  # "about 1/N of the landing": at most a quarter above one day's share
ISSUE_FIXED_COST_S = {"multiprocess": 8.0, "in_process": 3.0}  # what the issue measured, for reference
COLD_READ_MB = 64  # more from disk than all the libraries a run loads (~50 MB): its input was not warm


def ensure_input(work: Path, meterpoints: int, days: int, start: date, layout: str, seed: int) -> tuple[Path, dict]:
    """Generated input for these parameters, reused when its summary says it is the same."""
    wanted = {"meterpoints": meterpoints, "days": days, "start": start.isoformat(), "layout": layout, "seed": seed}
    folder = work / "input" / f"{layout}-{meterpoints}x{days}-{start.isoformat()}-s{seed}"
    summary_path = folder / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if all(summary.get(key) == value for key, value in wanted.items()):
            print(f"reusing input {folder}")
            return folder, summary
    print(f"generating input {folder} ...", flush=True)
    summary = asdict(generate(folder, meterpoints, days, start, seed, layout))
    return folder, summary


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def new_dagster_home(parent: Path) -> Path:
    home = parent / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").touch()  # an empty instance: local storage under DAGSTER_HOME
    return home


def warm(folder: Path) -> None:
    """Read every file below folder, so that a run reading it measures warm-cache throughput.

    Files do not stay cached by themselves here: the VM's proactive reclaim (DAMON, action
    pageout) pages out what has been idle for a while, e.g. input generated minutes ago.
    """
    for parent, _, names in os.walk(folder):
        for name in names:
            Path(parent, name).read_bytes()


def run_measured(
    label: str, argv: list[str], env: dict[str, str], out_dir: Path, timeout: float, reads: Path | None = None
) -> dict:
    """Run argv under bench._measure; its report, with the output in OUT_DIR/LABEL.log.

    reads: the input folder the command reads, warmed first.
    """
    report_path, log_path = out_dir / f"{label}.json", out_dir / f"{label}.log"
    report_path.unlink(missing_ok=True)
    if reads:
        warm(reads)
    print(f"running {label} ...", flush=True)
    with open(log_path, "w") as log:
        # A session of its own, so a timeout can stop the whole tree.
        child = subprocess.Popen(
            [sys.executable, "-m", "bench._measure", str(report_path), "--", *argv],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            print(f"{label} timed out after {timeout:.0f} s")
    report = json.loads(report_path.read_text()) if report_path.exists() else {"exit_code": child.returncode}
    if report.get("read_bytes_mb", 0) > COLD_READ_MB:
        print(f"note: {label} read {report['read_bytes_mb']:.0f} MB from disk: not a warm-cache figure")
    if report["exit_code"] != 0:
        tail = log_path.read_text().splitlines()[-25:]
        print(f"--- {label} failed (exit {report['exit_code']}); last lines of {log_path}:")
        print("\n".join(tail))
        print("---")
    return {"name": label, **report}


def with_totals(report: dict, parquet_glob: str) -> dict:
    report["rows"], report["kwh"] = output_totals(parquet_glob)
    return report


def output_totals(parquet_glob: str) -> tuple[int | None, float | None]:
    """Rows and kWh in what a run wrote; None where there is no output or no kWh column."""
    with duckdb.connect() as con:
        source = "read_parquet(?, hive_partitioning = true)"
        try:
            columns = [d[0] for d in con.execute(f"SELECT * FROM {source} LIMIT 0", [parquet_glob]).description]
        except duckdb.IOException:  # no output files
            return None, None
        column = next((c for c in KWH_COLUMNS if c in columns), None)
        kwh_sql = f'sum("{column}")' if column else "NULL"
        return con.execute(f"SELECT count(*), {kwh_sql} FROM {source}", [parquet_glob]).fetchone()


def run_pipeline(
    label: str, landing: Path, inp: Path, state: Path, timeout: float, days: tuple[date, date] | None = None
) -> dict:
    """One `python -m octo_assets.run` with its lake, catalog and Dagster instance under `state`.

    days: the --from/--to range; None builds every landed day. The report gains the rows and
    kWh of the lake's readings and the seconds of the run's steps.
    """
    dagster_home = new_dagster_home(state)
    env = {
        "OCTO_READINGS_DIR": str(landing),
        "OCTO_SOURCE_DB": str(inp / "case_study.db"),
        "OCTO_LAKE_DIR": str(state / "lake"),
        "OCTO_WAREHOUSE": str(state / "warehouse.duckdb"),
        "DAGSTER_HOME": str(dagster_home),
    }
    argv = [*PIPELINE, "--from", days[0].isoformat(), "--to", days[1].isoformat()] if days else PIPELINE
    report = run_measured(label, argv, env, state, timeout, landing)
    report["steps"] = step_seconds(dagster_home)
    return with_totals(report, str(state / "lake" / "readings" / "**" / "*.parquet"))


def step_seconds(dagster_home: Path) -> dict[str, float]:
    """Seconds of the latest run in this instance (key "run") and of each of its steps."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        run_id = runs[0].run_id
        run = instance.get_run_stats(run_id)
        steps = {
            s.step_key: s.end_time - s.start_time
            for s in instance.get_run_step_stats(run_id)
            if s.start_time and s.end_time
        }
    return {"run": run.end_time - run.start_time, **steps} if run.start_time and run.end_time else steps


def fresh_pipeline_run(
    label: str, inp: Path, state: Path, timeout: float, days: tuple[date, date] | None = None
) -> dict:
    """run_pipeline on inp's landing folder, in a fresh state folder."""
    return run_pipeline(label, inp / "readings", inp, fresh_dir(state), timeout, days)


def run_contender(name: str, inp: Path, work: Path, timeout: float) -> dict:
    """Run one contender on inp/readings in a fresh folder; its report plus output totals."""
    if name == "pipeline":
        return fresh_pipeline_run(name, inp, work / "runs" / name, timeout)
    run_dir = fresh_dir(work / "runs" / name)
    out = run_dir / "out.parquet"
    argv = [sys.executable, "-m", "bench.reference", name, str(inp / "readings"), str(out)]
    return with_totals(run_measured(name, argv, {}, run_dir, timeout, inp / "readings"), str(out))


def best_of(repeat: int, label: str, run: Callable[[], dict]) -> dict:
    """The fastest of `repeat` successful runs: on a shared 2-core box the noise is all slowdown."""
    runs = [run() for _ in range(repeat)]
    ok = [r for r in runs if r["exit_code"] == 0]
    if len(runs) > 1:
        print(f"{label} wall s per run: {', '.join(_fmt(r.get('wall_s'), '.2f') for r in runs)}")
    return min(ok, key=lambda r: r["wall_s"]) if ok else runs[-1]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _check(result: dict, summary: dict) -> str:
    """Rows and kWh against the expected ones; a summary without total_kwh checks rows only."""
    if result["exit_code"] != 0:
        return f"FAILED (exit {result['exit_code']})"
    rows_ok = result["rows"] == summary["rows"]
    kwh, expected_kwh = result["kwh"], summary.get("total_kwh")
    if expected_kwh is None:
        kwh_text = "kWh not checked"
    elif kwh is None:
        kwh_text = "kWh ?"
    else:
        # Inputs have 3 decimals; the tolerance only absorbs float summation error.
        kwh_ok = math.isclose(kwh, expected_kwh, rel_tol=1e-9, abs_tol=1e-3)
        kwh_text = "kWh ok" if kwh_ok else f"kWh {kwh:.3f}!"
    return f"{'rows ok' if rows_ok else 'rows MISMATCH'}, {kwh_text}"


def print_machine() -> None:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    packages = ", ".join(f"{p} {version(p)}" for p in ("dagster", "duckdb", "polars", "pyarrow"))
    print(f"machine: {os.cpu_count()} cores, {memory_gib:.1f} GiB; Python {platform.python_version()}, {packages}")


def print_header(mode: str) -> None:
    loads = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n===== {mode} (load average {loads}) =====", flush=True)


def print_table(results: list[dict], summary: dict) -> None:
    print(
        f"\ninput: {summary['meterpoints']} meterpoints x {summary['days']} days ({summary['layout']}), "
        f"{summary['files']} files, {summary['rows']} rows, {summary['total_kwh']} kWh"
    )
    header = (
        f"{'contender':<10}{'wall s':>9}{'rows':>11}{'rows/s':>11}{'peak RSS MB':>13}{'cpu s':>8}{'read MB':>9}  check"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ok = r["exit_code"] == 0
        rate = r["rows"] / r["wall_s"] if ok and r["rows"] else None
        print(
            f"{r['name']:<10}{_fmt(r.get('wall_s'), '.2f'):>9}{_fmt(r['rows'], 'd'):>11}{_fmt(rate, ',.0f'):>11}"
            f"{_fmt(r.get('peak_rss_mb'), '.0f'):>13}{_fmt(r.get('cpu_s'), '.1f'):>8}"
            f"{_fmt(r.get('rchar_mb'), '.0f'):>9}  {_check(r, summary)}"
        )
    _print_ratios({r["name"]: r for r in results if r["exit_code"] == 0})


def _print_ratios(ok: dict[str, dict]) -> None:
    if "pipeline" not in ok:
        return
    for other in ("duckdb", "loop"):
        if other in ok:
            a, b = ok["pipeline"], ok[other]
            wall, rss = a["wall_s"] / b["wall_s"], a["peak_rss_mb"] / b["peak_rss_mb"]
            print(f"pipeline/{other}: wall x{wall:.2f}, peak RSS x{rss:.2f}")


def print_profile(report: dict, outside: dict[str, float], top: int = 6) -> None:
    """Where a pipeline run's wall time went: outside the Dagster run, its steps, between steps.

    outside: seconds of parts measured separately that happen before the run starts.
    """
    steps = dict(report.get("steps") or {})
    run = steps.pop("run", None)
    if run is None:
        return
    in_steps = sum(steps.values())
    apart = "; ".join(f"{name} {seconds:.2f} s" for name, seconds in outside.items())
    print(f"\nwhere the time goes ({report['name']}, wall {report['wall_s']:.2f} s):")
    print(
        f"  outside the Dagster run {report['wall_s'] - run:6.2f} s  (interpreter, imports, definitions, "
        f"run set-up, summary{'; measured apart: ' + apart if apart else ''})"
    )
    print(
        f"  Dagster run             {run:6.2f} s  = {len(steps)} steps {in_steps:.2f} s (in process, one "
        f"after another) + {run - in_steps:.2f} s between them"
    )
    ranked = sorted(steps.items(), key=lambda item: -item[1])
    for key, seconds in ranked[:top]:
        print(f"    {key:<70}{seconds:6.2f} s")
    rest = ranked[top:]
    if rest:
        print(f"    {f'the other {len(rest)} steps':<70}{sum(s for _, s in rest):6.2f} s")


def import_seconds(work: Path, timeout: float) -> dict:
    """`import octo_assets.run` in a fresh interpreter: the start-up every run pays."""
    argv = [sys.executable, "-c", "import octo_assets.run"]
    return run_measured("import", argv, {}, fresh_dir(work / "runs" / "import"), timeout)


def landing_scan_seconds(readings: Path) -> float:
    """A landing scan with no index yet: what `make run` does before its run starts."""
    began = time.perf_counter()
    scan_landing(readings)
    return time.perf_counter() - began


def run_compare(args: argparse.Namespace) -> None:
    """The pipeline against the reference ingesters on the same input."""
    names = [name for name in args.contenders.split(",") if name]
    inp, summary = ensure_input(args.work, args.meterpoints, args.days, args.start, args.layout, args.seed)
    results = [best_of(args.repeat, name, partial(run_contender, name, inp, args.work, args.timeout)) for name in names]
    print_table(results, summary)
    pipeline = next((r for r in results if r["name"] == "pipeline" and r["exit_code"] == 0), None)
    if pipeline:
        imported = import_seconds(args.work, args.timeout)
        print_profile(
            pipeline,
            {"import octo_assets.run": imported["wall_s"], "landing scan": landing_scan_seconds(inp / "readings")},
        )


def tiny_pipeline(args: argparse.Namespace, size: tuple[int, int, str] = MODE_SIZES["fixed-cost"]) -> dict:
    """The pipeline on a tiny input: what a run costs whatever its data."""
    meterpoints, days, layout = size
    inp, _ = ensure_input(args.work, meterpoints, days, args.start, layout, args.seed)
    return best_of(args.repeat, "pipeline", partial(run_contender, "pipeline", inp, args.work, args.timeout))


def run_trivial(executor: str, work: Path, timeout: float) -> dict:
    """bench.trivial's three assets through the `dagster asset materialize` CLI."""
    run_dir = fresh_dir(work / "runs" / f"trivial-{executor}")
    env = {"DAGSTER_HOME": str(new_dagster_home(run_dir)), "BENCH_EXECUTOR": executor}
    return run_measured(f"trivial-{executor}", TRIVIAL, env, run_dir, timeout)


def run_fixed_cost(args: argparse.Namespace) -> None:
    """Fixed costs: 3 trivial assets under each executor, the import, the pipeline on a tiny input."""
    rows = [
        (
            f"3 trivial assets, {executor} executor (CLI)",
            ISSUE_FIXED_COST_S[executor],
            best_of(args.repeat, f"trivial-{executor}", partial(run_trivial, executor, args.work, args.timeout)),
        )
        for executor in EXECUTORS
    ]
    imported = best_of(args.repeat, "import", partial(import_seconds, args.work, args.timeout))
    tiny = tiny_pipeline(args, (args.meterpoints, args.days, args.layout))
    rows.append(("python -c 'import octo_assets.run'", None, imported))
    rows.append((f"pipeline, {args.meterpoints} meterpoints x {args.days} day(s) (make run)", None, tiny))
    header = f"{'what':<58}{'wall s':>8}{'cpu s':>8}{'peak RSS MB':>13}{'issue s':>9}"
    print(f"\n{header}\n{'-' * len(header)}")
    for what, issue, r in rows:
        print(
            f"{what:<58}{_fmt(r.get('wall_s'), '.2f'):>8}{_fmt(r.get('cpu_s'), '.2f'):>8}"
            f"{_fmt(r.get('peak_rss_mb'), '.0f'):>13}{_fmt(issue, '.0f'):>9}"
            f"{'' if r['exit_code'] == 0 else '  FAILED'}"
        )
    print_profile(tiny, {"import octo_assets.run": imported["wall_s"]})


def run_scaling(args: argparse.Namespace) -> None:
    """Pipeline rows/s at 1x, 2x and 4x the meterpoints; a flat rate means linear scaling.

    The rate is shown as measured and with the fixed cost (the pipeline on a tiny input)
    taken off the wall time, which otherwise makes small inputs look slow.
    """
    inputs = [
        ensure_input(args.work, args.meterpoints * f, args.days, args.start, args.layout, args.seed) for f in SCALES
    ]
    runs = [
        best_of(args.repeat, f"pipeline {f}x", partial(run_contender, "pipeline", inp, args.work, args.timeout))
        for f, (inp, _) in zip(SCALES, inputs)
    ]
    failed = [(summary, r) for (_, summary), r in zip(inputs, runs) if r["exit_code"] != 0 or not r["rows"]]
    for summary, r in failed:
        print(f"{summary['meterpoints']} meterpoints: {_check(r, summary)}")
    if failed:
        return
    fixed = tiny_pipeline(args)["wall_s"]
    rates = [r["rows"] / r["wall_s"] for r in runs]
    # no net rate where the fixed cost is all of a run
    net_rates = [r["rows"] / (r["wall_s"] - fixed) if r["wall_s"] > fixed else None for r in runs]
    header = (
        f"{'scale':<7}{'meterpoints':>12}{'rows':>11}{'wall s':>9}{'rows/s':>11}{'vs 1x':>8}"
        f"{'net rows/s':>12}{'vs 1x':>8}{'peak RSS MB':>13}"
    )
    print(f"\nnet rows/s: rows / (wall - {fixed:.2f} s, the fixed cost of the pipeline on a tiny input)")
    print(f"{header}\n{'-' * len(header)}")
    for factor, (_, summary), r, rate, net in zip(SCALES, inputs, runs, rates, net_rates):
        print(
            f"{f'{factor}x':<7}{summary['meterpoints']:>12}{r['rows']:>11}{r['wall_s']:>9.2f}"
            f"{rate:>11,.0f}{_change(rate, rates[0]):>8}{_fmt(net, ',.0f'):>12}{_change(net, net_rates[0]):>8}"
            f"{r['peak_rss_mb']:>13.0f}  {_check(r, summary)}"
        )
    for label, values in (("rows/s", rates), ("net rows/s", net_rates)):
        if None not in values:
            spread = max(abs(v / values[0] - 1) for v in values)
            print(
                f"{label} within ±{SCALING_TOLERANCE:.0%} of 1x: {_verdict(spread <= SCALING_TOLERANCE)} "
                f"(largest difference {spread:.1%})"
            )
    first, last = runs[0], runs[-1]
    if last["wall_s"] > first["wall_s"]:
        marginal = (last["rows"] - first["rows"]) / (last["wall_s"] - first["wall_s"])
        print(
            f"marginal rate {SCALES[0]}x->{SCALES[-1]}x: {marginal:,.0f} rows/s; "
            f"fixed cost implied by it about {first['wall_s'] - first['rows'] / marginal:.1f} s"
        )


def _change(value: float | None, base: float | None) -> str:
    return "-" if value is None or base is None else f"{value / base - 1:+.1%}"


def days_of(args: argparse.Namespace) -> list[date]:
    return [args.start + timedelta(days=n) for n in range(args.days)]


def run_backfill(args: argparse.Namespace) -> None:
    """Peak memory of one run over all the days against a run of the first day alone."""
    inp, summary = ensure_input(args.work, args.meterpoints, args.days, args.start, args.layout, args.seed)
    days = days_of(args)
    one_day = {"rows": args.meterpoints * len(day_slots(days[0])), "total_kwh": None}
    runs = []
    for label, first, last, expected in (
        ("one-day", days[0], days[0], one_day),
        (f"{args.days}-days", days[0], days[-1], summary),
    ):
        state = args.work / "runs" / "backfill" / label
        run = partial(fresh_pipeline_run, label, inp, state, args.timeout, (first, last))
        runs.append((first, last, expected, best_of(args.repeat, label, run)))
    print(
        f"\ninput: {summary['meterpoints']} meterpoints x {summary['days']} days ({summary['layout']}), "
        f"{summary['files']} files, {summary['rows']} rows; each run on a fresh lake and instance, "
        f"so each first indexes all {summary['files']} landing files"
    )
    header = (
        f"{'run':<36}{'wall s':>8}{'rows':>11}{'rows/s':>10}{'peak RSS MB':>13}{'largest process':>17}{'tree PSS':>10}"
    )
    print(f"{header}\n{'-' * len(header)}")
    for first, last, expected, r in runs:
        rate = r["rows"] / r["wall_s"] if r["exit_code"] == 0 and r["rows"] else None
        print(
            f"{f'--from {first} --to {last}':<36}{_fmt(r.get('wall_s'), '.2f'):>8}{_fmt(r['rows'], 'd'):>11}"
            f"{_fmt(rate, ',.0f'):>10}{_fmt(r.get('peak_rss_mb'), '.0f'):>13}"
            f"{_fmt(r.get('max_process_rss_mb'), '.0f'):>17}{_fmt(r.get('tree_pss_mb'), '.0f'):>10}"
            f"  {_check(r, expected)}"
        )
    one, many = runs[0][3], runs[1][3]
    if one["exit_code"] == 0 and many["exit_code"] == 0:
        ratio = many["peak_rss_mb"] / one["peak_rss_mb"]
        print(
            f"peak RSS {args.days} days / 1 day: x{ratio:.2f} (target <= x{BACKFILL_MAX_RATIO}): "
            f"{_verdict(ratio <= BACKFILL_MAX_RATIO)}"
        )
        print_profile(many, {})


def land(source: Path, landing: Path, day: date) -> int:
    """Deliver one day's sub-folder into the landing folder; returns its bytes.

    Hard links: real files in a real folder, without copying them.
    """
    shutil.copytree(source / day.isoformat(), landing / day.isoformat(), copy_function=os.link)
    return sum(p.stat().st_size for p in (landing / day.isoformat()).iterdir())


def run_incremental(args: argparse.Namespace) -> None:
    """Bytes read by the run of a day that lands after the days before it were built."""
    inp, summary = ensure_input(args.work, args.meterpoints, args.days, args.start, args.layout, args.seed)
    days = days_of(args)
    state = fresh_dir(args.work / "runs" / "incremental")
    landing = state / "landing"
    history_bytes = sum(land(inp / "readings", landing, day) for day in days[:-1])
    history = run_pipeline("history", landing, inp, state, args.timeout, (days[0], days[-2]))
    new_bytes = land(inp / "readings", landing, days[-1])  # lands "tomorrow", after the history run
    new = run_pipeline("new-day", landing, inp, state, args.timeout, (days[-1], days[-1]))
    empty_day = days[-1] + timedelta(days=1)
    baseline = run_pipeline("no-files-day", landing, inp, state, args.timeout, (empty_day, empty_day))
    total_mb = (history_bytes + new_bytes) / 2**20
    new_mb = new_bytes / 2**20
    print(
        f"\nlanding: {args.days} days in per-day sub-folders, {summary['files']} files, {total_mb:.1f} MB; "
        f"the new day {days[-1]}: {args.meterpoints} files, {new_mb:.1f} MB"
    )
    print(
        "read MB: every byte the run's process tree read() (rchar, page-cache hits included), from Python\n"
        "modules, the Dagster instance, the landing index, the lake's Parquet and the JSON files. The baseline,\n"
        "a day with no files on the same lake and instance, reads all but what the new day brings; new day -\n"
        "baseline is what it costs (python -m bench.readtrace breaks a run's reads down by kind of file)."
    )
    header = f"{'run (one lake and instance, in this order)':<56}{'wall s':>8}{'read MB':>9}{'peak RSS MB':>13}"
    print(f"{header}\n{'-' * len(header)}")
    runs = (
        (f"--from {days[0]} --to {days[-2]} (history)", history),
        (f"--from {days[-1]} --to {days[-1]} (the new day)", new),
        (f"--from {empty_day} --to {empty_day} (no files: baseline)", baseline),
    )
    for what, r in runs:
        print(
            f"{what:<56}{_fmt(r.get('wall_s'), '.2f'):>8}{_fmt(r.get('rchar_mb'), '.1f'):>9}"
            f"{_fmt(r.get('peak_rss_mb'), '.0f'):>13}{'' if r['exit_code'] == 0 else '  FAILED'}"
        )
    print(f"lake after the new day: {_check(new, summary)}")
    if new["exit_code"] == 0 and baseline["exit_code"] == 0:
        net = new["rchar_mb"] - baseline["rchar_mb"]
        share, target = net / total_mb, 1 / args.days
        print(
            f"new day - baseline: {net:.1f} MB = x{net / new_mb:.2f} the new day's files = {share:.1%} of the "
            f"landing (target about 1/{args.days} = {target:.1%}, at most {INCREMENTAL_SLACK * target:.1%}): "
            f"{_verdict(share <= INCREMENTAL_SLACK * target)}"
        )


RUNNERS = {
    "compare": run_compare,
    "scaling": run_scaling,
    "backfill": run_backfill,
    "incremental": run_incremental,
    "fixed-cost": run_fixed_cost,
}


def sized(args: argparse.Namespace, mode: str) -> argparse.Namespace:
    """args with the mode's meterpoints, days and layout wherever the command line gave none."""
    meterpoints, days, layout = MODE_SIZES[mode]
    return argparse.Namespace(
        **{
            **vars(args),
            "meterpoints": args.meterpoints or meterpoints,
            "days": args.days or days,
            "layout": args.layout or layout,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meterpoints", type=int, help="default: the mode's (above)")
    parser.add_argument("--days", type=int, help="default: the mode's (above)")
    parser.add_argument("--layout", choices=LAYOUTS, help="default: the mode's (above)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2021, 1, 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/octo-bench"))
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help=f"comma-separated subset of {','.join(CONTENDERS)}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is reported")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measured run")
    modes = parser.add_mutually_exclusive_group()
    for mode in MODES:
        if mode != "compare":  # the default: no flag
            modes.add_argument(
                f"--{mode}", dest="mode", action="store_const", const=mode, help=RUNNERS[mode].__doc__.splitlines()[0]
            )
    modes.add_argument(
        "--all", dest="mode", action="store_const", const="all", help="every mode in turn, each at its default size"
    )
    parser.set_defaults(mode="compare")
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    unknown = {name for name in args.contenders.split(",") if name} - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    if args.mode == "all" and (args.meterpoints or args.days or args.layout):
        parser.error("--all runs every mode at its own size: leave out --meterpoints, --days and --layout")
    incremental = sized(args, "incremental")
    if args.mode == "incremental" and (incremental.layout != "per_day" or incremental.days < 2):
        parser.error("--incremental needs the per_day layout and at least 2 days")
    print_machine()
    for mode in MODES if args.mode == "all" else [args.mode]:
        print_header(mode)
        RUNNERS[mode](sized(args, mode))


if __name__ == "__main__":
    main()
