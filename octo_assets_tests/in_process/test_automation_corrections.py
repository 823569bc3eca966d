"""Back-dated corrections of the source, on real instances and lakes: a correction of a few built
days is rebuilt, day by day, exactly where it moves the answer; a snapshot that moves nothing
requests nothing; and the sensor's plan and requests on their own. (Weeks of days corrected four
times, and the sensor daemon's range runs: integration/test_correction_scenarios.py.)"""

from octo_assets.automation.correction_sensor import Built, Rebuild, Snapshot, plan, run_requests
from octo_assets_tests.support import expected
from octo_assets_tests.support.corrections import (
    AGREEMENT,
    CUT,
    DAYS,
    SOURCE,
    TABLES,
    assert_tables_match_the_independent_computation,
    build,
    day_metadata,
    execute,
    land,
    rebuilt_since,
    requested_days,
    snapshot,
    tick,
    write,
)


def test_a_back_dated_cut_rebuilds_exactly_the_days_it_moves(workspace, instance):
    """Four built days, then agreement 17 cut on the 10th and continued on another product: the
    sensor asks for the product-days from the 10th and every day's active agreements, its runs
    rebuild those and nothing else, and the tables are the independent computation's."""
    ws = workspace
    days = DAYS[7:11]  # the 8th .. the 11th
    land(ws, days)
    build(ws, instance, days)
    cursor = tick(instance, None).cursor
    want = {"daily_product_consumption": days[2:], "active_agreements": days}
    assert expected.moved_days(SOURCE, CUT, days) == want  # the hand-reasoned days, independently
    write(ws, CUT)
    published = snapshot(ws, instance)
    result = tick(instance, cursor)
    assert requested_days(result.run_requests) == want  # only days that were built
    for run in result.run_requests:
        assert execute(ws, instance, run).success
    assert rebuilt_since(instance, published) == {**want, "half_hourly_consumption": []}
    assert_tables_match_the_independent_computation(ws, days)
    for table, rebuilt in want.items():
        for day in rebuilt:  # each rebuilt day says why
            assert (
                day_metadata(instance, TABLES[table], day)["rebuilt_because"]
                == result.run_requests[0].tags["octo/change"]
            )
    assert tick(instance, result.cursor).run_requests == []  # nothing twice


def test_an_unchanged_snapshot_and_a_snapshot_dated_before_the_latest_rebuild_nothing(workspace, instance):
    ws = workspace
    land(ws, DAYS[:3])
    build(ws, instance, DAYS[:3])
    cursor = tick(instance, None).cursor
    snapshot(ws, instance, "2021-01-22")  # the same content, the same day
    snapshot(ws, instance, "2021-01-23")  # the same content, the next day
    write(ws, CUT)
    older = snapshot(ws, instance, "2021-01-20")  # the analytics keep reading the 2021-01-23 one
    metadata = day_metadata(instance, AGREEMENT, None)
    assert metadata["days_to_refresh"] == {"active_agreements": [], "daily_product_consumption": []}
    assert metadata["changes"].startswith("Dated before the 2021-01-23 snapshot")
    result = tick(instance, cursor)
    assert result.run_requests == [] and result.cursor == str(older)
    assert "no built day moved" in result.skip_message


# --- the sensor's plan, on its own ----------------------------------------------------------------


def snap(storage_id: int, version: str, days: dict | None = None) -> Snapshot:
    return Snapshot(storage_id, "2021-01-22", version, days, f"change {storage_id}")


def test_the_plan_rebuilds_moved_days_built_before_the_snapshot_and_days_built_from_another():
    baseline = snap(10, "v1")
    correction = snap(20, "v2", {"active_agreements": [], "daily_product_consumption": [["2021-01-02", "2021-01-04"]]})
    latest = {
        "active_agreements": {},
        "daily_product_consumption": {"2021-01-01": 5, "2021-01-02": 6, "2021-01-03": 25, "2021-01-04": 26},
    }
    built = {
        "active_agreements": [],
        "daily_product_consumption": [Built(25, "2021-01-03", "v2"), Built(26, "2021-01-04", "v1")],
    }
    rebuild = plan([correction], baseline, built, latest)
    assert sorted(rebuild) == [("daily_product_consumption", "2021-01-02"), ("daily_product_consumption", "2021-01-04")]
    assert rebuild[("daily_product_consumption", "2021-01-02")].cause == "snapshot20"
    assert rebuild[("daily_product_consumption", "2021-01-04")].cause == "stale26"
    # a day built from a snapshot whose event comes later: that snapshot's own turn
    assert (
        plan(
            [],
            baseline,
            {"daily_product_consumption": [Built(12, "2021-01-01", "v3")]},
            {"daily_product_consumption": {"2021-01-01": 12}},
        )
        != {}
    )
    later = snap(30, "v3", {"active_agreements": [], "daily_product_consumption": []})
    assert (
        plan(
            [later],
            baseline,
            {"daily_product_consumption": [Built(12, "2021-01-01", "v3")]},
            {"daily_product_consumption": {"2021-01-01": 12}},
        )
        == {}
    )
    # snapshots and days from before versions were recorded request nothing
    assert (
        plan(
            [snap(20, None, None)],
            None,
            {"active_agreements": [Built(25, "2021-01-01", None)]},
            {"active_agreements": {"2021-01-01": 5}},
        )
        == {}
    )


def test_requests_group_consecutive_days_of_the_same_tables_within_the_days_per_run():
    why = Rebuild("snapshot20", "2021-01-22", "agreement 17 (meterpoint m): valid_to none -> 2021-01-10")
    days = ["2021-01-01", "2021-01-02", "2021-01-03", "2021-01-04", "2021-01-05", "2021-01-07"]
    rebuild = {("daily_product_consumption", day): why for day in days} | {("active_agreements", "2021-01-05"): why}
    requests = run_requests(rebuild, 3)
    spans = sorted(
        (
            r.partition_key or r.tags["dagster/asset_partition_range_start"],
            r.partition_key or r.tags["dagster/asset_partition_range_end"],
            tuple(k.path[-1] for k in r.asset_selection),
        )
        for r in requests
    )
    assert spans == [  # each run rebuilds the catalog too: its views are pinned to versions
        ("2021-01-01", "2021-01-03", ("daily_product_consumption", "catalog")),
        ("2021-01-04", "2021-01-04", ("daily_product_consumption", "catalog")),
        ("2021-01-05", "2021-01-05", ("active_agreements", "daily_product_consumption", "catalog")),
        ("2021-01-07", "2021-01-07", ("daily_product_consumption", "catalog")),
    ]
    single = next(r for r in requests if r.partition_key == "2021-01-05")
    assert {k.name for k in single.asset_check_keys} == {
        "active_agreements_one_row_per_agreement",
        "product_day_matches_readings",
        "product_day_one_row_per_product",
        "readings_covered_by_agreement",
        "readings_meterpoints_known",
    }
    assert single.tags["octo/change"] == why.change and single.tags["octo/snapshot"] == "2021-01-22"
    assert len({r.run_key for r in requests}) == len(requests)
    assert run_requests(rebuild, None)[0].tags["dagster/asset_partition_range_end"] == "2021-01-04"
