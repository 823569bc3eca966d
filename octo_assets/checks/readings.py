"""Checks on each day of readings, run after every materialisation of its partitions."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from octo_assets.analytics.assets import latest_snapshot_file, readings_file
from octo_assets.checks.framework import check_result, offenders, per_day
from octo_assets.partitions import LOCAL_TZ, daily_partitions
from octo_assets.readings.assets import CONFLICTS_TABLE, PARTITION_KEY, QUARANTINE_TABLE
from octo_assets.readings.clock import half_hours_in_day
from octo_assets.resources import LakeStorage

READINGS = dg.AssetKey(["lake", "readings"])
WARN = dg.AssetCheckSeverity.WARN
# a domestic supply (100 A at 230 V) cannot pass much more than 11.5 kWh in half an hour
MAX_HALF_HOUR_KWH = 12.0


def _readings_check(**kwargs):
    return dg.asset_check(asset=READINGS, partitions_def=daily_partitions, **kwargs)


def _day_offenders(context, lake: LakeStorage, sql: str, extra_relations=None, parameters=None) -> pl.DataFrame:
    store = lake.lake()

    def find(day: str) -> pl.DataFrame:
        relations = {"readings": readings_file(store, day), **(extra_relations(store, day) if extra_relations else {})}
        return offenders(sql, relations, parameters(day) if parameters else None)

    return per_day(list(context.partition_keys), find)


@_readings_check(
    blocking=True,
    description="No (meterpoint_id, interval_start_utc) twice in a day: de-duplication held.",
)
def readings_unique_key(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        "SELECT meterpoint_id, interval_start_utc, count(*) AS copies FROM readings GROUP BY ALL HAVING count(*) > 1",
    )
    return check_result(found)


@_readings_check(blocking=True, description="No reading lacks its meterpoint, its instant or its kWh.")
def readings_keys_not_null(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        "SELECT * FROM readings WHERE meterpoint_id IS NULL OR interval_start_utc IS NULL OR consumption_kwh IS NULL",
    )
    return check_result(found)


@_readings_check(
    description=f"Every half hour's kWh is within 0..{MAX_HALF_HOUR_KWH} (negative values are quarantined on load).",
)
def readings_consumption_plausible(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        "SELECT meterpoint_id, interval_start_local, consumption_kwh FROM readings "
        f"WHERE consumption_kwh < 0 OR consumption_kwh > {MAX_HALF_HOUR_KWH} ORDER BY ALL",
    )
    return check_result(found, WARN)


def _day_bounds_utc(day: str) -> dict:
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(LOCAL_TZ))
    end = start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    return {"start": start.astimezone(timezone.utc), "end": end.astimezone(timezone.utc)}


@_readings_check(
    description="Each meterpoint has a reading for every half hour of the day (46, 48 or 50); gaps are listed.",
)
def readings_complete_days(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        """
        WITH half_hour AS (
            SELECT unnest(generate_series($start::TIMESTAMPTZ, $end::TIMESTAMPTZ - INTERVAL 30 MINUTE,
                                          INTERVAL 30 MINUTE)) AS interval_start_utc
        ),
        -- count first: only the few incomplete meterpoints are crossed with the day's half hours
        incomplete AS (
            SELECT meterpoint_id, count(*) AS half_hours FROM readings GROUP BY meterpoint_id
            HAVING count(*) <> (SELECT count(*) FROM half_hour)
        )
        SELECT i.meterpoint_id,
               i.half_hours,
               (SELECT count(*) FROM half_hour) AS expected,
               string_agg(strftime(timezone('Europe/London', h.interval_start_utc), '%H:%M'), ' '
                          ORDER BY h.interval_start_utc) AS missing_local
        FROM incomplete AS i
        CROSS JOIN half_hour AS h
        ANTI JOIN readings AS r ON r.meterpoint_id = i.meterpoint_id AND r.interval_start_utc = h.interval_start_utc
        GROUP BY i.meterpoint_id, i.half_hours
        ORDER BY i.meterpoint_id
        """,
        parameters=_day_bounds_utc,
    )
    expected = {day: half_hours_in_day(date.fromisoformat(day)) for day in context.partition_keys}
    return check_result(found, WARN, half_hours_expected=dg.MetadataValue.json(expected))


def _snapshot(table: str):
    return lambda store, day: {table: latest_snapshot_file(store, table)}


@_readings_check(
    description="Every meterpoint with readings is in the latest meterpoint snapshot.",
    additional_deps=[dg.AssetKey(["lake", "meterpoint"])],
)
def readings_meterpoints_known(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        "SELECT meterpoint_id, count(*) AS readings FROM readings "
        "WHERE meterpoint_id NOT IN (SELECT meterpoint_id FROM meterpoint) GROUP BY ALL ORDER BY ALL",
        _snapshot("meterpoint"),
    )
    return check_result(found, WARN)


@_readings_check(
    description="Readings that no agreement covers on their day (kept under a NULL product); "
    "the share is in the metadata.",
    additional_deps=[dg.AssetKey(["lake", "agreement"])],
)
def readings_covered_by_agreement(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    store = lake.lake()
    sql = """
        SELECT r.meterpoint_id, count(*) AS readings, round(sum(r.consumption_kwh), 3) AS consumption_kwh
        FROM readings AS r
        WHERE NOT EXISTS (
            SELECT 1 FROM agreement AS a
            WHERE a.meterpoint_id = r.meterpoint_id
              AND a.agreement_valid_from <= $day::DATE
              AND (a.agreement_valid_to IS NULL OR $day::DATE < a.agreement_valid_to))
        GROUP BY ALL ORDER BY ALL
    """
    found = _day_offenders(context, lake, sql, _snapshot("agreement"), parameters=lambda day: {"day": day})
    total = sum(
        offenders("SELECT count(*) AS n FROM readings", {"readings": readings_file(store, day)})["n"][0]
        for day in context.partition_keys
    )
    uncovered = int(found["readings"].sum()) if found.height else 0
    return check_result(
        found,
        WARN,
        uncovered_readings=uncovered,
        uncovered_share=dg.MetadataValue.float(uncovered / total if total else 0.0),
    )


def _lake_partition(table: str):
    return lambda store, day: {table: store.existing_partition(table, PARTITION_KEY, day)}


@_readings_check(
    description="Nothing was quarantined: every landing row of the day loaded. Failing names the files, "
    "rows and reasons (query lake.readings_quarantine for all of them).",
)
def readings_nothing_quarantined(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        "SELECT source_file, row_number, reason, raw FROM readings_quarantine ORDER BY source_file, row_number",
        _lake_partition(QUARANTINE_TABLE),
    )
    whole_files = found.filter(pl.col("row_number").is_null()) if found.height else found
    # a whole file lost is an error; single rows are a warning
    severity = dg.AssetCheckSeverity.ERROR if whole_files.height else WARN
    return check_result(found, severity, files_rejected=whole_files.height)


@_readings_check(
    description="No reading was delivered twice with different values (the newest delivery was kept).",
)
def readings_no_conflicting_deliveries(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    found = _day_offenders(
        context,
        lake,
        "SELECT meterpoint_id, interval_start_utc, deliveries, kept_kwh, values::VARCHAR AS values, "
        "sources::VARCHAR AS sources FROM readings_conflicts ORDER BY ALL",
        _lake_partition(CONFLICTS_TABLE),
    )
    return check_result(found, WARN)


READINGS_CHECKS = [
    readings_unique_key,
    readings_keys_not_null,
    readings_consumption_plausible,
    readings_complete_days,
    readings_meterpoints_known,
    readings_covered_by_agreement,
    readings_nothing_quarantined,
    readings_no_conflicting_deliveries,
]
