"""`make run`: materialise every asset for every day found in the landing area.

One Dagster run (job `build_all`) on the instance in $DAGSTER_HOME, so it shows in `make ui`,
over the range of landed days: today's source snapshot, readings and analytics of every day,
their checks, then the catalog. The days are learnt while the new landing files are parsed,
once, just before the run (readings.ingest.prestage); the run's readings step uses what was
staged, so no file is read twice. Then a short summary read back through the catalog, as an
analyst would.
"""

import argparse
from datetime import date, timedelta

import dagster as dg

from octo_assets import connect, definitions
from octo_assets.automation.jobs import BUILD_JOB
from octo_assets.partitions import daily_partitions
from octo_assets.readings.ingest import prestage
from octo_assets.readings.workers import worker_count
from octo_assets.resources import setting, setting_problems
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


def build(instance: dg.DagsterInstance, resources: dict, first: str, last: str, run_config: dict) -> None:
    job = definitions.defs.resolve_job_def(BUILD_JOB.name)
    result = job.execute_in_process(
        instance=instance,
        resources=resources,
        tags={RANGE_START: first, RANGE_END: last},
        run_config={**run_config, "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure else None
        while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
            error = error.cause
        message = error.message.strip() if error else "see the run in the UI (make ui)"
        if error and error.cls_name == "Failure":  # our own sentence: no class name in front of it
            message = message.split(": ", 1)[-1]
        raise RunError(f"run {result.run_id} failed: {message}")


def run_pipeline(
    instance: dg.DagsterInstance,
    resources: dict,
    days: tuple[str, str] | None = None,
    allow_empty: bool = False,
) -> list[str]:
    """Snapshot the source, build the days (default: every landed day), rebuild the catalog.

    Returns the partition keys built. Days in `days` that no landing file holds are reported and
    left alone, unless `allow_empty` (then they are published empty).
    """
    problems = setting_problems(resources)
    if problems:
        raise RunError("\n".join(problems))
    landing, lake = resources["landing"].storage(), resources["lake"].lake()
    valid = set(daily_partitions.get_partition_keys())
    with staging_area() as folder:
        landed = [d.isoformat() for d in prestage(landing, lake, folder, worker_count())]
        outside = [d for d in landed if d not in valid]
        if outside:
            print(f"skipping {len(outside)} day(s) outside the partitions: {', '.join(outside[:5])}")
        keys = [d for d in landed if d in valid]
        if days:
            wanted = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(*days))
            empty = [d for d in wanted if d not in set(keys)]
            if empty and not allow_empty:
                print(
                    f"no landing file holds {len(empty)} day(s) of the range, not built: {', '.join(empty[:10])}"
                    + (" ..." if len(empty) > 10 else "")
                    + " (--allow-empty publishes them empty)"
                )
            keys = wanted if allow_empty else [d for d in wanted if d in set(keys)]
        if not keys:
            raise RunError(f"No readings for any day from {daily_partitions.start:%Y-%m-%d} in {landing.url}.")
        config = {"lake__readings": {"config": {"prestaged": str(folder), "allow_empty_days": allow_empty}}}
        for first, last in contiguous(keys):
            print(f"materialising {first} .. {last} from {landing.url}")
            build(instance, resources, first, last, {"ops": config})
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description="Materialise every asset, for every landed day or a range.")
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day (with --to)")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day (with --from)")
    args = parser.parse_args()
    if bool(args.first) != bool(args.last):
        parser.error("--from and --to go together")
    instance = dg.DagsterInstance.get()
    print(f"dagster home {instance.root_directory}: the runs show in `make ui`")
    try:
        keys = run_pipeline(instance, definitions.defs.resources, (args.first, args.last) if args.first else None)
    except (RunError, dg.DagsterInvalidInvocationError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    print_summary(setting("OCTO_WAREHOUSE"), keys[0], keys[-1])


def print_summary(warehouse: str, first: str, last: str) -> None:
    """The days just built, read back through the catalog (only their partitions are opened)."""
    days = f"BETWEEN DATE '{first}' AND DATE '{last}'"
    queries = {
        "active agreements on 2021-01-01": "SELECT count(*) FROM analytics.active_agreements "
        "WHERE as_of_date = DATE '2021-01-01'",
        "half hours": f"SELECT count(*) FROM analytics.half_hourly_consumption WHERE reading_date {days}",
        "product-days": f"SELECT count(*) FROM analytics.daily_product_consumption WHERE reading_date {days}",
        "readings loaded": f"SELECT count(*) FROM lake.readings WHERE reading_date {days}",
        "rows quarantined": f"SELECT count(*) FROM lake.readings_quarantine WHERE reading_date {days}",
        "kWh (readings)": f"SELECT round(sum(consumption_kwh), 3) FROM lake.readings WHERE reading_date {days}",
        "kWh (half-hourly)": "SELECT round(sum(consumption_kwh), 3) FROM analytics.half_hourly_consumption "
        f"WHERE reading_date {days}",
        "kWh (product-day)": "SELECT round(sum(consumption_kwh), 3) FROM analytics.daily_product_consumption "
        f"WHERE reading_date {days}",
    }
    with connect(warehouse) as con:
        print(f"\ncatalog {warehouse}, {first} .. {last}")
        for label, sql in queries.items():
            print(f"  {label:<34} {con.execute(sql).fetchone()[0]}")
        print("\n  kWh per day and product (top 3 a day):")
        rows = con.execute(
            "SELECT reading_date, coalesce(product_display_name, '(no agreement)'), meterpoint_count, "
            "round(consumption_kwh, 3) FROM analytics.daily_product_consumption "
            f"WHERE reading_date {days} "
            "QUALIFY row_number() OVER (PARTITION BY reading_date ORDER BY consumption_kwh DESC) <= 3 "
            "ORDER BY reading_date, consumption_kwh DESC"
        ).fetchall()
        for row in rows:
            print("   ", *row)
