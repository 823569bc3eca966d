"""Write, audit, publish for readings days: a day failing a blocking check is never published.

A re-run of a day that was built once (good data) is staged and audited; when one of its blocking
checks fails, the lake keeps the version analysts read now (no new commit of the day: the same
files and rows, and the same for its side tables), the failed version goes under `_rejected/`, the
step fails naming the day and the checks, and the failed check result is recorded against the
version still served. Another day of the same run that passes its checks is published all the same.

Real input cannot trip these checks: parsing quarantines rows without a key or kWh, and
de-duplication removes repeated readings. What they guard against is a fault in the code that
assembles a day. So the fault is put there: the real `deduplicate` of readings.assemble, wrapped
so that for one day it lets a duplicate through, loses a kWh, or loses a row. Everything after it
is the real code: the audit facts measured in assemble_group, the checks (checks.readings), the
decision to publish (readings.assets) and the end of the step (checks.framework.finish_days),
run by Dagster on a real instance, with the lake and landing area as real files. Assembly runs in
the test's process: one worker (OCTO_WORKERS=1), as a small input does anyway.
"""

import os

import dagster as dg
import polars as pl
import pytest

from octo_assets.readings import assemble
from octo_assets.readings.checks import BLOCKING
from octo_assets_tests.support.faults import duplicate_survives, kwh_lost, row_lost
from octo_assets_tests.support.runs import failure_message, materialize

READINGS = dg.AssetSelection.assets(["lake", "readings"])
READINGS_KEY = dg.AssetKey(["lake", "readings"])
BAD, GOOD = "2021-01-01", "2021-01-02"
TABLES = ["readings", "readings_quarantine", "readings_conflicts", "readings_files"]


def rows(day: str, meterpoint: str, kwh: float, half_hours: int = 4) -> list:
    return [[f"{day} {h // 2:02d}:{30 * (h % 2):02d}:00", kwh, meterpoint] for h in range(half_hours)]


def write(ws, name: str, data: list, mtime: int) -> None:
    os.utime(ws.write_readings(name, data), (mtime, mtime))


# -- what the lake and the instance hold ---------------------------------------------------------------


def served_days(ws, day: str) -> dict:
    """table -> the day as the table's current version serves it (the commit that published it,
    its files, its rows: conftest.PublishedDay), for each table that ever published the day."""
    found = {}
    for table in TABLES:
        published = ws.published_day(table, "date", day)
        if published is not None:
            found[table] = published
    return found


def readings_of(ws, day: str) -> list[tuple]:
    return ws.query_lake(
        "SELECT meterpoint_id, strftime(interval_start_local, '%H:%M'), consumption_kwh::VARCHAR, source_file "
        f"FROM {{readings}} WHERE date = DATE '{day}' ORDER BY ALL"
    )


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(day, check name) -> the check's evaluation of that day in the run."""
    found = {}
    for evaluation in result.get_asset_check_evaluations():
        key = (evaluation.partition, evaluation.check_name)
        assert key not in found, f"{key} evaluated twice in one run"
        found[key] = evaluation
    return found


def latest_materialization_run(instance, day: str) -> str:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=READINGS_KEY, asset_partitions=[day]), limit=1
    ).records
    return records[0].run_id


# -- the tests -------------------------------------------------------------------------------------------

OLD, NEW = 1_000, 2_000  # landing files' modification times: the delivery order


@pytest.fixture
def built_once(workspace, instance):
    """BAD built from two meterpoints' readings; then a corrected re-delivery of three of m1's half
    hours and a third meterpoint land for BAD, and GOOD's readings land."""
    ws = workspace
    ws.write_source(
        [(n, "2020-01-01", None, "p1", f"m{n}", f"a{n}") for n in (1, 2, 3)],
        [("Fixed", 0, 1, "p1")],
        [("Eastern", f"m{n}") for n in (1, 2, 3)],
    )
    snapshot = {"ops": {"source_snapshot": {"config": {"snapshot_date": "2021-01-01"}}}}
    assert materialize(ws, instance, dg.AssetSelection.groups("source").materializable(), run_config=snapshot).success
    write(ws, "m1.json", rows(BAD, "m1", 0.5), OLD)
    write(ws, "m2.json", rows(BAD, "m2", 0.5), OLD)
    first = materialize(ws, instance, READINGS, [BAD])
    assert first.success
    write(ws, "2021-01-02/m1.json", rows(BAD, "m1", 0.75, half_hours=3), NEW)
    write(ws, "2021-01-02/m3.json", rows(BAD, "m3", 1.25), NEW)
    write(ws, "2021-01-03/good.json", rows(GOOD, "m1", 0.25) + rows(GOOD, "m2", 0.25), NEW)
    return ws, first.run_id


SERVED = [("m1", f"{h // 2:02d}:{30 * (h % 2):02d}", "0.500", "m1.json") for h in range(4)] + [
    ("m2", f"{h // 2:02d}:{30 * (h % 2):02d}", "0.500", "m2.json") for h in range(4)
]
REBUILT = (
    [("m1", f"{h // 2:02d}:{30 * (h % 2):02d}", "0.750", "2021-01-02/m1.json") for h in range(3)]
    + [("m1", "01:30", "0.500", "m1.json")]
    + [("m2", f"{h // 2:02d}:{30 * (h % 2):02d}", "0.500", "m2.json") for h in range(4)]
    + [("m3", f"{h // 2:02d}:{30 * (h % 2):02d}", "1.250", "2021-01-02/m3.json") for h in range(4)]
)
GOOD_ROWS = [
    (m, f"{h // 2:02d}:{30 * (h % 2):02d}", "0.250", "2021-01-03/good.json") for m in ("m1", "m2") for h in range(4)
]


def one_key_twice(rejected: pl.DataFrame) -> bool:
    """The surviving duplicate: 13 rows (12 readings), one key twice."""
    return rejected.height == 13 and rejected.select(assemble.KEY).is_duplicated().sum() == 2


def one_kwh_null(rejected: pl.DataFrame) -> bool:
    return rejected.height == 12 and rejected["consumption_kwh"].null_count() == 1


def one_row_short(rejected: pl.DataFrame) -> bool:
    return rejected.height == 11


@pytest.mark.parametrize(
    "fault, check, offending, in_rejected, workspace",
    [
        (duplicate_survives, "readings_unique_key", 2, one_key_twice, "local"),
        (kwh_lost, "readings_keys_not_null", 1, one_kwh_null, "local"),
        (row_lost, "readings_rows_accounted", 1, one_row_short, "local"),
        # on S3, where the rejected part is uploaded aside and the day's commit must not happen
        pytest.param(row_lost, "readings_rows_accounted", 1, one_row_short, "s3", marks=pytest.mark.s3),
    ],
    ids=["unique_key", "keys_not_null", "rows_accounted", "rows_accounted-s3"],
    indirect=["workspace"],
)
def test_a_day_failing_a_blocking_check_is_not_published_and_a_good_day_of_the_run_is(
    built_once, instance, fault_on, fault, check, offending, in_rejected
):
    ws, first_run = built_once
    assert readings_of(ws, BAD) == SERVED
    served = served_days(ws, BAD)
    assert set(served) == set(TABLES)
    assert served_days(ws, GOOD) == {}

    altered = fault_on(BAD, fault)
    result = materialize(ws, instance, READINGS, [BAD, GOOD])
    assert altered, "the fault was never applied: the test proves nothing"

    # the lake still serves the version built first, file for file (and its side tables)
    assert served_days(ws, BAD) == served
    assert readings_of(ws, BAD) == SERVED
    assert latest_materialization_run(instance, BAD) == first_run

    # the step fails, naming the day, the check and where the failed version is
    assert not result.success
    rejected_rel = f"_rejected/readings/date={BAD}/{result.run_id}"
    assert failure_message(result) == (
        f"{BAD}: not published, blocking check(s) failed: {check}; "
        f"the failed version is at {ws.lake_storage().uri(rejected_rel)}"
    )
    # ... and kept the failed one aside, for inspection
    (part,) = ws.lake_storage().list_files(rejected_rel)  # a file per assembled part: one here
    assert part.path == f"{rejected_rel}/part-0000.parquet"
    assert in_rejected(pl.read_parquet(ws.lake_storage().read_bytes(part.path)))

    # the good day of the same run is published and recorded
    assert readings_of(ws, GOOD) == GOOD_ROWS
    assert set(served_days(ws, GOOD)) == set(TABLES)
    recorded = result.asset_materializations_for_node("lake__readings")
    assert [m.partition for m in recorded] == [GOOD]
    assert recorded[0].metadata["rows_loaded"].value == 8
    assert latest_materialization_run(instance, GOOD) == result.run_id

    # every check evaluated for both days; the failed one recorded failed, against the version served
    results = evaluations(result)
    assert {name for _, name in results} >= BLOCKING
    failed = results[(BAD, check)]
    assert (failed.passed, failed.blocking, failed.severity) == (False, True, dg.AssetCheckSeverity.ERROR)
    assert failed.metadata["offending_rows"].value == offending
    assert failed.target_materialization_data.run_id == first_run
    assert failed.metadata["published"].value is False  # as a source snapshot's says
    assert "published" not in results[(GOOD, check)].metadata
    assert [name for name in sorted(BLOCKING) if not results[(BAD, name)].passed] == [check]
    assert all(results[(GOOD, name)].passed for name in BLOCKING)
    assert results[(GOOD, check)].target_materialization_data.run_id == result.run_id
    stored = [
        e.dagster_event.asset_check_evaluation_data
        for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert [(e.partition, e.passed) for e in stored if e.check_name == check] == [(BAD, False), (GOOD, True)]

    # without the fault, the same re-run publishes the day: it was the check that held it back
    fault_on(BAD, lambda kept, dropped: (kept, dropped))
    again = materialize(ws, instance, READINGS, [BAD])
    assert again.success
    assert readings_of(ws, BAD) == REBUILT
    assert served_days(ws, BAD)["readings"] != served["readings"]
    assert latest_materialization_run(instance, BAD) == again.run_id


def test_a_re_run_from_the_same_deliveries_replaces_the_day_in_every_readings_table(sourced, instance):
    """The newest-deliveries guard keeps a day built from older deliveries out; a run from the same
    ones (a re-run, an operator's rebuild, make run again) replaces the day, in one new commit of
    each readings table, with the same rows (the guard's three cases at the lake: engine/test_delta_lake.py)."""
    ws = sourced
    write(ws, "m1.json", rows(BAD, "m1", 0.5), OLD)
    first = materialize(ws, instance, READINGS, [BAD])
    assert first.success
    before = served_days(ws, BAD)
    again = materialize(ws, instance, READINGS, [BAD])  # nothing delivered since
    assert again.success
    after = served_days(ws, BAD)
    assert set(after) == set(before) == set(TABLES)
    for table in TABLES:
        assert (before[table].run_id, after[table].run_id) == (first.run_id, again.run_id), table
        assert after[table].version > before[table].version, table
        assert after[table].rows == before[table].rows, table
    assert latest_materialization_run(instance, BAD) == again.run_id
