"""The back-dated corrections the correction tests make: a month of five meterpoints' readings, a
source whose agreements switch product, end and start inside it, and corrections of it (cut and
switched, renamed, a meterpoint added, reordered); the helpers that build, snapshot, tick the
source_correction_sensor and run its requests as the daemon would."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from octo_assets.automation.correction_sensor import source_correction_sensor as sensor
from octo_assets.automation.jobs import DAILY_ASSETS, SNAPSHOT_ASSETS, snapshot_run_config
from octo_assets.definitions import ASSET_CHECKS, ASSETS, defs
from octo_assets.resources import LakeStorage
from octo_assets_tests.support import expected
from octo_assets_tests.support.runs import materialize

AGREEMENT = dg.AssetKey(["lake", "agreement"])
ACTIVE = dg.AssetKey(["analytics", "active_agreements"])
PRODUCT_DAY = dg.AssetKey(["analytics", "daily_product_consumption"])
HALF_HOURLY = dg.AssetKey(["analytics", "half_hourly_consumption"])
TABLES = {"active_agreements": ACTIVE, "daily_product_consumption": PRODUCT_DAY}
RANGE = ("asset_partition_range_start", "asset_partition_range_end")
DAYS = [(date(2021, 1, 1) + timedelta(days=n)).isoformat() for n in range(21)]
METERPOINTS = ["6e80fa8f56", "0123", "3674e80033", "5555", "09ab"]
PRODUCTS = [("Octopus 12M Fixed", 0, 1, "P1"), ("Flexible Octopus", 1, 2, "P2"), ("Octopus Go", 0, 3, "P3")]
AGREEMENTS = [
    (17, "2020-01-01", None, "P1", "6e80fa8f56", "A1"),
    (18, "2020-06-01", "2021-01-08", "P1", "0123", "A2"),
    (19, "2021-01-08", None, "P2", "0123", "A2"),  # a product switch inside the month
    (20, "2020-10-01", None, "P3", "3674e80033", "A3"),
    (21, "2021-01-05", "2021-01-15", "P3", "5555", "A5"),
]  # 09ab has readings, and no agreement or meterpoint row yet
SOURCE = {
    "agreement": AGREEMENTS,
    "product": PRODUCTS,
    "meterpoint": [("south", m) for m in METERPOINTS[:4]],
}


def land(ws, days: list[str] = DAYS, source: dict = SOURCE) -> None:
    for index, meterpoint in enumerate(METERPOINTS):
        rows = [
            [f"{day} {h:02d}:{m:02d}:00", round(0.05 + index * 0.01 + n * 0.001 + h * 0.002, 3), meterpoint]
            for n, day in enumerate(days)
            for h in range(24)
            for m in (0, 30)
        ]
        ws.write_readings(f"{meterpoint}.json", rows)
    write(ws, source)


def write(ws, source: dict) -> None:
    ws.write_source(source["agreement"], source["product"], source["meterpoint"])


def snapshot(ws, instance, snapshot_date: str = "2021-01-22") -> int:
    """A snapshot run; the storage id of its lake/agreement materialisation."""
    assert materialize(ws, instance, SNAPSHOT_ASSETS, run_config=snapshot_run_config(snapshot_date)).success
    return instance.fetch_materializations(AGREEMENT, limit=1).records[0].storage_id


def build(ws, instance, days: list[str] = DAYS) -> None:
    snapshot(ws, instance)
    assert materialize(ws, instance, DAILY_ASSETS, days).success


def tick(instance, cursor: str | None) -> dg.SensorResult:
    # the sensor skips where the instance serves another lake: this one serves the test's only
    lake = LakeStorage(root=str(Path(instance.root_directory) / "lake"))
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake}, definitions=defs)
    return sensor.evaluate_tick(context)


def requested_days(requests: list[dg.RunRequest]) -> dict[str, list[str]]:
    """Per table, the days the run requests rebuild (each once)."""
    found: dict[str, list[str]] = {table: [] for table in TABLES}
    for request in requests:
        first = request.partition_key or request.tags["dagster/asset_partition_range_start"]
        last = request.partition_key or request.tags["dagster/asset_partition_range_end"]
        for table, key in TABLES.items():
            if key in request.asset_selection:
                found[table] += [day for day in DAYS if first <= day <= last]
    return {table: sorted(days) for table, days in found.items()}


def execute(ws, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """What the daemon launches for a request: its assets and checks, its days, its tags."""
    selection = dg.AssetSelection.assets(*request.asset_selection) | dg.AssetSelection.checks(*request.asset_check_keys)
    return dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=selection,
        instance=instance,
        resources=ws.resources(),
        tags=request.tags,
        partition_key=request.partition_key,
    )


def rebuilt_since(instance, storage_id: int) -> dict[str, list[str]]:
    """Per analytics table, the days materialised after `storage_id`."""
    found = {}
    for table, key in {**TABLES, "half_hourly_consumption": HALF_HOURLY}.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=storage_id), limit=10_000
        ).records
        found[table] = sorted({record.partition_key for record in records})
    return found


def day_metadata(instance, key: dg.AssetKey, day: str | None) -> dict:
    """The metadata of the latest materialisation of a day (None: of an unpartitioned asset)."""
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day] if day else None), limit=1
    ).records
    return {name: value.value for name, value in record.asset_materialization.metadata.items()}


def assert_tables_match_the_independent_computation(ws, days: list[str] = DAYS) -> None:
    readings = expected.readings(ws.readings)
    products = ws.query_lake(
        "SELECT reading_date, product_display_name, meterpoint_count, consumption_kwh "
        "FROM {analytics/daily_product_consumption}"
    )
    assert {(d, n): (c, kwh) for d, n, c, kwh in products} == expected.product_day(readings, ws.source_db)
    for day in days:
        active = ws.query_lake(
            "SELECT agreement_id, meterpoint_id, product_display_name, product_is_variable "
            f"FROM {{analytics/active_agreements}} WHERE as_of_date = DATE '{day}'"
        )
        assert len(active) == len(set(active)) and set(active) == expected.active_agreements(ws.source_db, day), day


def analytics_tables(ws) -> dict[str, list[tuple]]:
    """Every row of the three analytics tables' current versions, in order."""
    return {
        table: ws.query_lake(f"SELECT * FROM {{analytics/{table}}} ORDER BY ALL")
        for table in ("active_agreements", "daily_product_consumption", "half_hourly_consumption")
    }


CUT = {  # an open agreement cut late, back-dated, and continued on another product
    **SOURCE,
    "agreement": [
        (17, "2020-01-01", "2021-01-10", "P1", "6e80fa8f56", "A1"),
        (42, "2021-01-10", None, "P2", "6e80fa8f56", "A1"),
        *AGREEMENTS[1:],
    ],
}
RENAMED = {**CUT, "product": [PRODUCTS[0], ("Flexible Octopus (2021)", 1, 2, "P2"), PRODUCTS[2]]}
METERPOINT_ADDED = {
    **RENAMED,
    "agreement": [*RENAMED["agreement"], (50, "2021-01-12", None, "P1", "09ab", "A9")],
    "meterpoint": [*SOURCE["meterpoint"], ("west", "09ab")],
}
REORDERED = {table: list(reversed(rows)) for table, rows in METERPOINT_ADDED.items()}


def check_offenders(instance, name: str) -> dict[str, str]:
    """Per day, the offenders markdown of the latest evaluation of a readings check."""
    results = {}
    for run in reversed(instance.get_runs()):
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data
            if evaluation.check_name == name:
                results[evaluation.partition] = evaluation.metadata["offenders"].value
    return results
