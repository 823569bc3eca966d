"""`make run`: materialise every asset for every day found in the landing folder.

One Dagster run on the instance in $DAGSTER_HOME (so it shows in `make ui`), a single-run
backfill over the range of landed days: today's source snapshot, readings and analytics of
every day, every check, then the catalog. Then a short summary read back through the
catalog, as an analyst would.
"""

import argparse
import sys

import dagster as dg

from octo_assets import connect, definitions
from octo_assets.lake import Lake
from octo_assets.partitions import daily_partitions
from octo_assets.readings.assets import refresh_landing_index
from octo_assets.resources import setting, setting_problems
from octo_assets.storage import Storage


class RunError(Exception):
    """The run cannot start or failed; the message says what to do."""


RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

EVERYTHING = dg.AssetSelection.all().materializable()


def landed_partition_keys(landing: Storage, lake: Lake) -> list[str]:
    """The days the landing area holds; the index it builds spares the run a second scan."""
    index, _ = refresh_landing_index(landing, lake)
    valid = set(daily_partitions.get_partition_keys())
    days = sorted(d.isoformat() for d in index["days"].explode().drop_nulls().unique())
    outside = [d for d in days if d not in valid]
    if outside:
        print(f"skipping {len(outside)} day(s) outside the partitions: {', '.join(outside[:5])}")
    return [d for d in days if d in valid]


def materialize(
    selection: dg.AssetSelection, instance: dg.DagsterInstance, resources: dict, tags: dict | None = None
) -> None:
    result = dg.materialize(
        assets=[*definitions.ASSETS, *definitions.ASSET_CHECKS],
        selection=selection,
        instance=instance,
        resources=resources,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure else None
        while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
            error = error.cause
        message = error.message.strip() if error else "see the run in the UI (make ui)"
        raise RunError(f"run {result.run_id} failed: {message}")


def run_pipeline(instance: dg.DagsterInstance, resources: dict, days: tuple[str, str] | None = None) -> list[str]:
    """Snapshot the source, build the days (default: every landed day), rebuild the catalog.

    Returns the partition keys built.
    """
    problems = setting_problems(resources)
    if problems:
        raise RunError("\n".join(problems))
    landing = resources["landing"].storage()
    if days:
        keys = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(*days))
    else:
        keys = landed_partition_keys(landing, resources["lake"].lake())
    if not keys:
        raise RunError(f"No readings for any day from {daily_partitions.start:%Y-%m-%d} in {landing.url}.")
    print(f"materialising {keys[0]} .. {keys[-1]} ({len(keys)} days) from {landing.url}")
    # a contiguous range: a day with no file gets an empty partition, which is the truth
    materialize(EVERYTHING, instance, resources, {RANGE_START: keys[0], RANGE_END: keys[-1]})
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


if __name__ == "__main__":
    sys.exit(main())
