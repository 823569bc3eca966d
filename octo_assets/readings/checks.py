"""Checks on each day of readings. Each result is recorded against its day (partitioned checks),
so the UI shows every day's own result.

READINGS_CHECKS are evaluated in the readings step on the staged day, before it is published
(write, audit, publish): a day failing a blocking one is never what analysts and the analytics
read. What they measure is computed while the day is assembled (readings.assemble), a bounded
part of the day at a time; here it becomes pass/fail and the metadata the UI shows.

The two that compare readings with the source snapshot run after both, in one step of their own
(readings_against_the_source), over the published day.
"""

import dagster as dg
import polars as pl

from octo_assets.checks import check_evaluation, check_outputs, daily_check_spec, offenders, targeted
from octo_assets.domain import SHOWN, half_hours_in_day
from octo_assets.keys import AGREEMENT, METERPOINT, READINGS
from octo_assets.lake import latest_snapshot, readings_files
from octo_assets.readings.assemble import MAX_HALF_HOUR_KWH
from octo_assets.readings.ingest import DayBuild
from octo_assets.resources import LakeStorage

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


def _spec(name: str, description: str, blocking: bool = False, deps=()) -> dg.AssetCheckSpec:
    return daily_check_spec(READINGS, name, description, blocking, deps)


READINGS_CHECKS = [
    _spec("readings_unique_key", "No (meterpoint_id, interval_start_utc) twice in a day: de-duplication held.", True),
    _spec("readings_keys_not_null", "No reading lacks its meterpoint, its instant or its kWh.", True),
    _spec(
        "readings_rows_accounted",
        "Every row read for the day is loaded, a duplicate or quarantined, in total and file by file.",
        True,
    ),
    _spec(
        "readings_consumption_plausible",
        f"Every half hour's kWh is within 0..{MAX_HALF_HOUR_KWH} (negative values are quarantined on load).",
    ),
    _spec(
        "readings_complete_days",
        "Each meterpoint has a reading for every half hour of the day (46, 48 or 50); gaps are listed.",
    ),
    _spec(
        "readings_nothing_quarantined",
        "Nothing was quarantined: every landing row of the day loaded. Failing names the files, rows and "
        "reasons (query lake.readings_quarantine for all of them).",
    ),
    _spec(
        "readings_no_conflicting_deliveries",
        "No reading was delivered twice with different values (the newest delivery was kept).",
    ),
]
BLOCKING = {spec.name for spec in READINGS_CHECKS if spec.blocking}


def evaluate(build: DayBuild) -> list[dg.AssetCheckEvaluation]:
    """Every readings check on one staged day."""
    day = build.day.isoformat()
    accounted = build.loaded + build.duplicates + build.quarantined
    by_file = build.accounting.select(
        pl.col("rows_loaded").sum() + pl.col("duplicates").sum() + pl.col("rows_quarantined").sum()
    ).item()
    unaccounted = pl.DataFrame(
        {"rows_read": [build.rows_read], "accounted": [accounted], "accounted_file_by_file": [by_file or 0]}
    ).filter((pl.col("accounted") != pl.col("rows_read")) | (pl.col("accounted_file_by_file") != pl.col("rows_read")))
    results = {
        "readings_unique_key": _counted(build.audit["repeated_keys"], "readings repeated after de-duplication"),
        "readings_keys_not_null": _counted(build.audit["null_keys"], "readings with a null key or kWh"),
        "readings_rows_accounted": (unaccounted.height, unaccounted, ERROR, {}),
        "readings_nothing_quarantined": _quarantined(build),
        "readings_no_conflicting_deliveries": (
            build.conflicts.height,
            build.conflicts.head(SHOWN).with_columns(
                pl.col("values", "sources").cast(pl.List(pl.String)).list.join(", ")
            ),
            WARN,
            {},
        ),
        "readings_complete_days": _finding(
            build, "readings_complete_days", half_hours_expected=half_hours_in_day(build.day)
        ),
        "readings_consumption_plausible": _finding(build, "readings_consumption_plausible"),
    }
    return [
        check_evaluation(READINGS, name, count, shown, severity, day, name in BLOCKING, **extra)
        for name, (count, shown, severity, extra) in results.items()
    ]


def _counted(count: int, what: str):
    return count, pl.DataFrame({"what": [what], "count": [count]}).filter(pl.col("count") > 0), ERROR, {}


def _finding(build: DayBuild, name: str, **extra):
    found = build.findings.get(name)
    if found is None:
        return 0, pl.DataFrame(), WARN, extra
    return found.count, found.shown, WARN, extra


def _quarantined(build: DayBuild):
    """A whole file lost is an error; single rows are a warning."""
    shown = build.quarantine.select("source_file", "row_number", "reason", "raw")
    files = len(build.rejected_files)
    return shown.height, shown.head(SHOWN), ERROR if files else WARN, {"files_rejected": files}


SOURCE_SPECS = [
    _spec(
        "readings_meterpoints_known",
        "Every meterpoint with readings is in the latest meterpoint snapshot.",
        deps=[METERPOINT],
    ),
    _spec(
        "readings_covered_by_agreement",
        "Readings that no agreement covers on their day (kept under a NULL product); the share is in the metadata.",
        deps=[AGREEMENT],
    ),
]


@dg.multi_asset_check(specs=SOURCE_SPECS, can_subset=True, name="readings_against_the_source")
def readings_against_the_source(context: dg.AssetCheckExecutionContext, lake: LakeStorage):
    store = lake.lake()
    meterpoint, agreement = latest_snapshot(store, "meterpoint"), latest_snapshot(store, "agreement")
    for day in context.partition_keys:
        relations = {"readings": readings_files(store, day), "meterpoint": meterpoint, "agreement": agreement}
        per_meterpoint = offenders(
            """
            SELECT r.meterpoint_id, count(*) AS readings, sum(r.consumption_kwh) AS consumption_kwh,
                   r.meterpoint_id IN (SELECT meterpoint_id FROM meterpoint) AS known,
                   EXISTS (SELECT 1 FROM agreement AS a
                           WHERE a.meterpoint_id = r.meterpoint_id AND a.agreement_valid_from <= $day::DATE
                             AND (a.agreement_valid_to IS NULL OR $day::DATE < a.agreement_valid_to)) AS covered
            FROM readings AS r GROUP BY r.meterpoint_id ORDER BY r.meterpoint_id
            """,
            relations,
            {"day": day},
        )
        unknown = per_meterpoint.filter(~pl.col("known")).select("meterpoint_id", "readings")
        uncovered = per_meterpoint.filter(~pl.col("covered")).select("meterpoint_id", "readings", "consumption_kwh")
        total = int(per_meterpoint["readings"].sum() or 0)
        share = int(uncovered["readings"].sum() or 0) / total if total else 0.0
        results = {
            "readings_meterpoints_known": (unknown, {}),
            "readings_covered_by_agreement": (
                uncovered,
                {
                    "uncovered_readings": int(uncovered["readings"].sum() or 0),
                    "uncovered_share": dg.MetadataValue.float(share),
                },
            ),
        }
        evaluations = [
            check_evaluation(READINGS, name, found.height, found, WARN, day, False, **extra)
            for name, (found, extra) in results.items()
        ]
        yield from targeted(context, evaluations)
    yield from check_outputs(context)
