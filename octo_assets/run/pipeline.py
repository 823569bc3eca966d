"""`make run`: materialise every asset for every day found in the landing area.

One Dagster run (job `build_all`) on the instance in $DAGSTER_HOME, so it shows in `make ui`,
over the range of landed days: today's source snapshot, readings and analytics of every day,
their checks, then the catalog. The days are learnt while the new landing files are parsed,
once, just before the run (readings.ingest.prestage); the run's readings step uses what was
staged, so no file is read twice. Then a short summary read back through the catalog, as an
analyst would.
"""

import argparse
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.utils import make_new_run_id

from octo_assets import connect, definitions
from octo_assets.automation.jobs import BUILD_JOB
from octo_assets.partitions import FIRST_DAY, daily_partitions
from octo_assets.readings.ingest import prestage
from octo_assets.readings.workers import worker_count
from octo_assets.resources import setting, setting_problems
from octo_assets.run.progress import Display, RunWatcher
from octo_assets.storage import staging_area


class RunError(Exception):
    """The run cannot start or failed; the message says what to do."""


RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def contiguous(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) ranges: one run each."""
    ranges: list[tuple[str, str]] = []
    for day in days:
        if ranges and date.fromisoformat(ranges[-1][1]) + timedelta(days=1) == date.fromisoformat(day):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def build(
    instance: dg.DagsterInstance, resources: dict, first: str, last: str, run_config: dict, display: Display
) -> None:
    job = definitions.defs.resolve_job_def(BUILD_JOB.name)
    run_id = make_new_run_id()
    days = len(daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
    watcher = RunWatcher(instance, run_id, display, days)
    watcher.start()
    try:
        result = job.execute_in_process(
            instance=instance,
            resources=resources,
            run_id=run_id,
            tags={RANGE_START: first, RANGE_END: last},
            run_config={**run_config, "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
    finally:
        watcher.stop()
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure else None
        while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
            error = error.cause
        message = error.message.strip() if error else "see the run in the UI (make ui)"
        if error and error.cls_name == "Failure":  # our own sentence: no class name in front of it
            message = message.split(": ", 1)[-1]
        raise RunError(f"run {result.run_id} failed: {message}")


def wanted_days(first: str, last: str) -> list[str]:
    """The days of --from/--to, or one sentence saying what is wrong with them."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise RunError(f"--from {first} --to {last}: days are written YYYY-MM-DD, as in --from 2021-01-01.") from None
    newest = daily_partitions.get_last_partition_key()
    if start > end:
        raise RunError(f"--from {first} is after --to {last}: give the earlier day first.")
    if end.isoformat() < FIRST_DAY:
        raise RunError(f"--to {last} is before the first day there can be readings for, {FIRST_DAY}.")
    if start.isoformat() > newest:
        raise RunError(
            f"--from {first} has not ended yet in Europe/London: the last day that can be built is {newest}."
        )
    return daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(max(first, FIRST_DAY), min(last, newest)))


def run_pipeline(
    instance: dg.DagsterInstance,
    resources: dict,
    days: tuple[str, str] | None = None,
    allow_empty: bool = False,
    display: Display | None = None,
) -> list[str]:
    """Snapshot the source, build the days (default: every landed day), rebuild the catalog.

    Returns the partition keys built. Days of `days` that no landing file holds are reported and
    left alone, unless `allow_empty` (then they are published empty).
    """
    display = display or Display()
    problems = setting_problems(resources)
    if problems:
        raise RunError("\n".join(problems))
    landing, lake = resources["landing"].storage(), resources["lake"].lake()
    valid = set(daily_partitions.get_partition_keys())
    wanted = wanted_days(*days) if days else None
    with staging_area() as folder:
        display.start("listing the landing area")
        landed = [d.isoformat() for d in prestage(landing, lake, folder, worker_count(), display.reading)]
        display.close()
        outside = [d for d in landed if d not in valid]
        if outside:
            display.line(f"skipping {len(outside)} day(s) outside the partitions: {', '.join(outside[:5])}")
        keys = [d for d in landed if d in valid]
        if wanted is not None:
            empty = [d for d in wanted if d not in set(keys)]
            if empty and not allow_empty:
                more = " ..." if len(empty) > 10 else ""
                display.line(
                    f"no landing file holds {len(empty)} day(s) of the range, not built: {', '.join(empty[:10])}"
                    f"{more} (--allow-empty publishes them empty)"
                )
            keys = wanted if allow_empty else [d for d in wanted if d in set(keys)]
        if not keys:
            raise RunError(
                f"No readings for any day from {FIRST_DAY} to {daily_partitions.get_last_partition_key()} "
                f"in {landing.url}: put the landing files there, or point OCTO_READINGS_DIR at them."
            )
        config = {"lake__readings": {"config": {"prestaged": str(folder), "allow_empty_days": allow_empty}}}
        for first, last in contiguous(keys):
            display.line(f"materialising {first} .. {last} from {landing.url}")
            build(instance, resources, first, last, {"ops": config}, display)
    return keys


def dagster_home() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME; without it, the project's .dagster (as `make run` sets it)."""
    if not os.environ.get("DAGSTER_HOME"):
        home = Path.cwd() / ".dagster"
        home.mkdir(exist_ok=True)
        shipped = Path(__file__).resolve().parents[2] / "config" / "dagster.yaml"
        if not (home / "dagster.yaml").exists() and shipped.is_file():
            shutil.copy(shipped, home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
    home = Path(os.environ["DAGSTER_HOME"])
    if not home.is_dir():
        raise RunError(f"DAGSTER_HOME: {home} is not a folder; create it (make run does), or unset DAGSTER_HOME.")
    return dg.DagsterInstance.get()


def main() -> None:
    parser = argparse.ArgumentParser(description="Materialise every asset, for every landed day or a range.")
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day (with --to)")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day (with --from)")
    parser.add_argument("--allow-empty", action="store_true", help="publish days of the range no file holds, empty")
    args = parser.parse_args()
    if bool(args.first) != bool(args.last):
        parser.error("--from and --to go together")
    display = Display()
    try:
        instance = dagster_home()
        display.line(f"dagster home {instance.root_directory}: the runs show in `make ui`")
        days = (args.first, args.last) if args.first else None
        keys = run_pipeline(instance, definitions.defs.resources, days, args.allow_empty, display)
    except (RunError, dg.DagsterInvalidInvocationError, ValueError) as exc:
        display.close()
        raise SystemExit(str(exc)) from None
    print_summary(setting("OCTO_WAREHOUSE"), keys)


def print_summary(warehouse: str, keys: list[str]) -> None:
    """The days just built, read back through the catalog as an analyst would (only their
    partitions are opened): the three tables' totals, which must reconcile."""
    first, last = keys[0], keys[-1]
    built = ", ".join(f"DATE '{day}'" for day in keys)
    days = f"IN ({built})"
    as_of = [first] + ([FIRST_DAY] if FIRST_DAY in keys and first != FIRST_DAY else [])
    queries = {
        **{
            f"active agreements on {day}": "SELECT count(*) FROM analytics.active_agreements "
            f"WHERE as_of_date = DATE '{day}'"
            for day in as_of
        },
        "half hours": f"SELECT count(*) FROM analytics.half_hourly_consumption WHERE reading_date {days}",
        "product-days": f"SELECT count(*) FROM analytics.daily_product_consumption WHERE reading_date {days}",
        "readings loaded": f"SELECT count(*) FROM lake.readings WHERE reading_date {days}",
        "rows quarantined": f"SELECT count(*) FROM lake.readings_quarantine WHERE reading_date {days} "
        "AND row_number IS NOT NULL",
        "files rejected whole": f"SELECT count(*) FROM lake.readings_quarantine WHERE reading_date {days} "
        "AND row_number IS NULL",
        "kWh (readings)": f"SELECT sum(consumption_kwh) FROM lake.readings WHERE reading_date {days}",
        "kWh (half-hourly)": f"SELECT sum(consumption_kwh) FROM analytics.half_hourly_consumption "
        f"WHERE reading_date {days}",
        "kWh (product-day)": "SELECT sum(consumption_kwh) FROM analytics.daily_product_consumption "
        f"WHERE reading_date {days}",
    }
    with connect(warehouse) as con:
        span = f"{first} .. {last}" + (f" ({len(keys)} days)" if len(keys) > 1 else "")
        print(f"\ncatalog {warehouse}, {span}")
        values = {label: con.execute(sql).fetchall()[0][0] for label, sql in queries.items()}
        for label, value in values.items():
            print(f"  {label:<34} {value}")
        kwh = {values[k] for k in values if k.startswith("kWh")}
        print(f"  {'kWh reconciled':<34} {'yes' if len(kwh) == 1 else 'NO: the three tables disagree'}")
        print("\n  kWh per day and product (top 3 a day):")
        rows = con.execute(
            "SELECT reading_date, coalesce(product_display_name, '(no agreement)'), meterpoint_count, "
            "consumption_kwh FROM analytics.daily_product_consumption "
            f"WHERE reading_date {days} "
            "QUALIFY row_number() OVER (PARTITION BY reading_date ORDER BY consumption_kwh DESC) <= 3 "
            "ORDER BY reading_date, consumption_kwh DESC"
        ).fetchall()
        for row in rows:
            print("   ", *row)
