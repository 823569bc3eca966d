"""Which product a reading belongs to, and which agreements are active: small cases by hand."""

from datetime import date

import dagster as dg
import duckdb
import pytest

from octo_assets.run import run_pipeline

# products: two product_ids share the display name "Fixed"
PRODUCTS = [("Fixed", 0, 1, "p_fixed_a"), ("Fixed", 0, 2, "p_fixed_b"), ("Flexible", 1, 3, "p_flex")]
AGREEMENTS = [
    # switches product inside the window: Fixed on 1 Jan, Flexible from 2 Jan
    (1, "2020-06-01", "2021-01-02", "p_fixed_a", "m_switch", "acc1"),
    (2, "2021-01-02", None, "p_flex", "m_switch", "acc1"),
    # only a zero-length agreement: covers nothing
    (3, "2021-01-01", "2021-01-01", "p_flex", "m_zero", "acc2"),
    # the other Fixed product_id, open-ended
    (4, "2019-01-01", None, "p_fixed_b", "m_other", "acc3"),
    # ends exactly on 1 Jan: not active on 1 Jan, and covers no reading of 1 Jan
    (5, "2020-01-01", "2021-01-01", "p_flex", "m_ended", "acc4"),
    # starts exactly on 1 Jan: not active on 1 Jan (strict), but covers 1 Jan's readings
    (6, "2021-01-01", None, "p_flex", "m_ended", "acc4"),
]
METERPOINTS = [("Eastern", m) for m in ["m_switch", "m_zero", "m_other", "m_ended", "m_none"]]
# one reading per meterpoint per day; kWh values chosen so every sum below is exact in binary
KWH = {"m_switch": 1.0, "m_zero": 2.0, "m_other": 4.0, "m_ended": 8.0, "m_none": 16.0}


@pytest.fixture(scope="module")
def built(module_workspace, module_instance):
    workspace, instance = module_workspace, module_instance
    workspace.write_source(AGREEMENTS, PRODUCTS, METERPOINTS)
    for meterpoint, kwh in KWH.items():
        workspace.write_readings(
            f"{meterpoint}.json",
            [["2021-01-02 10:00:00", kwh * 2, meterpoint], ["2021-01-01 10:00:00", kwh, meterpoint]],
        )
    assert run_pipeline(instance, workspace.resources()).days == ["2021-01-01", "2021-01-02"]
    return workspace


def query(ws, sql):
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_product_day_follows_the_agreement_valid_on_the_day(built):
    rows = query(
        built,
        "SELECT reading_date, product_display_name, meterpoint_count, consumption_kwh "
        "FROM analytics.daily_product_consumption ORDER BY ALL",
    )
    jan1, jan2 = date(2021, 1, 1), date(2021, 1, 2)
    assert rows == [
        (jan1, "Fixed", 2, 1.0 + 4.0),  # m_switch (p_fixed_a) + m_other (p_fixed_b): one display name
        (jan1, "Flexible", 1, 8.0),  # m_ended's new agreement starts that day
        (jan1, None, 2, 2.0 + 16.0),  # zero-length agreement and no agreement: kept, unassigned
        (jan2, "Fixed", 1, 8.0),  # m_other
        (jan2, "Flexible", 2, 2.0 + 16.0),  # m_switch has switched; m_ended
        (jan2, None, 2, 4.0 + 32.0),
    ]


def test_product_day_total_equals_half_hourly_total(built):
    ((product_total, half_hourly_total),) = query(
        built,
        "SELECT (SELECT sum(consumption_kwh) FROM analytics.daily_product_consumption), "
        "(SELECT sum(consumption_kwh) FROM analytics.half_hourly_consumption)",
    )
    assert product_total == half_hourly_total == 3 * sum(KWH.values())


def test_active_agreements_are_strict_on_both_ends(built):
    rows = query(
        built,
        "SELECT as_of_date, agreement_id, meterpoint_id, product_display_name, product_is_variable "
        "FROM analytics.active_agreements ORDER BY ALL",
    )
    assert rows == [
        (date(2021, 1, 1), 1, "m_switch", "Fixed", False),
        (date(2021, 1, 1), 4, "m_other", "Fixed", False),
        (date(2021, 1, 2), 4, "m_other", "Fixed", False),
        (date(2021, 1, 2), 6, "m_ended", "Flexible", True),
    ]


def test_half_hourly_counts_meterpoints_per_half_hour(built):
    rows = query(
        built,
        "SELECT interval_start_local, meterpoint_count, consumption_kwh "
        "FROM analytics.half_hourly_consumption ORDER BY 1",
    )
    assert [(str(t), n, kwh) for t, n, kwh in rows] == [
        ("2021-01-01 10:00:00", 5, sum(KWH.values())),
        ("2021-01-02 10:00:00", 5, 2 * sum(KWH.values())),
    ]


def test_partition_metadata_accounts_for_every_row(built, module_instance):
    instance = module_instance
    event = instance.get_latest_materialization_event(dg.AssetKey(["lake", "readings"]))
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert metadata["rows_read"] == metadata["rows_loaded"] + metadata["duplicates"] + metadata["rows_quarantined"]
    assert metadata["rows_loaded"] == len(KWH)
