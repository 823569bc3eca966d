"""Declarative automation: readings re-materialised alone bring that day's analytics up to date,
however old the day; the daily job's own runs, and new source snapshots, trigger nothing here (a
snapshot's days are source_correction_sensor's: test_automation_corrections.py here, and
integration/test_correction_scenarios.py)."""

import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from octo_assets.automation.jobs import DAILY_ASSETS, SNAPSHOT_ASSETS
from octo_assets.automation.policies import refresh_after_readings
from octo_assets.definitions import ASSET_CHECKS, ASSETS, defs
from octo_assets.partitions import daily_partitions

ACTIVE = dg.AssetKey(["analytics", "active_agreements"])
HALF_HOURLY = dg.AssetKey(["analytics", "half_hourly_consumption"])
PRODUCT_DAY = dg.AssetKey(["analytics", "daily_product_consumption"])
READINGS = dg.AssetKey(["lake", "readings"])
ANALYTICS = [ACTIVE, HALF_HOURLY, PRODUCT_DAY]
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# years after the sample's days: no window of recent days holds them
NOW = datetime(2024, 6, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))


class Ticks:
    """Successive ticks of the automation condition sensor, each a minute after the last."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, keys: list[dg.AssetKey] = ANALYTICS):
        self.defs, self.instance, self.keys, self.cursor, self.count = defs, instance, keys, None, 0

    def next(self) -> dict[dg.AssetKey, set[str]]:
        self.count += 1
        result = dg.evaluate_automation_conditions(
            self.defs, self.instance, evaluation_time=NOW + timedelta(minutes=self.count), cursor=self.cursor
        )
        self.cursor = result.cursor
        return {key: result.get_requested_partitions(key) for key in self.keys if result.get_requested_partitions(key)}


def materialize(ws, instance, selection, **kwargs) -> None:
    assets = [*ASSETS, *ASSET_CHECKS]
    assert dg.materialize(assets, selection=selection, instance=instance, resources=ws.resources(), **kwargs).success


def test_a_days_analytics_follow_its_readings_materialised_alone_whatever_its_age(sample_workspace, instance):
    ws = sample_workspace
    materialize(ws, instance, SNAPSHOT_ASSETS)
    materialize(ws, instance, DAILY_ASSETS, tags={RANGE_START: "2021-01-01", RANGE_END: "2021-01-02"})
    ticks = Ticks(dg.Definitions(assets=ASSETS, asset_checks=ASSET_CHECKS, resources=ws.resources()), instance)
    assert ticks.next() == {}  # the first tick only sets the baseline

    with sqlite3.connect(ws.source_db) as con:  # the business renames a product
        con.execute(
            "UPDATE product SET display_name = 'Octopus 12M Fixed (renamed)' WHERE display_name = 'Octopus 12M Fixed'"
        )
    con.close()
    materialize(ws, instance, SNAPSHOT_ASSETS)
    assert ticks.next() == {}  # the correction sensor's, which knows which days it moves

    materialize(ws, instance, DAILY_ASSETS, partition_key="2021-01-02")  # readings with their analytics
    assert ticks.next() == {}

    materialize(ws, instance, dg.AssetSelection.assets(READINGS), partition_key="2021-01-01")  # alone, years ago
    assert ticks.next() == {HALF_HOURLY: {"2021-01-01"}, PRODUCT_DAY: {"2021-01-01"}}
    assert ticks.next() == {}  # requested once


def test_readings_with_an_unchanged_data_version_trigger_nothing_and_other_inputs_nothing(instance):
    """The condition on small assets of its own: only a new data version of the day's readings,
    materialised outside the table's run, requests the day."""
    content = {"readings": "a", "snapshot": "s"}

    @dg.asset(key=["lake", "readings"], partitions_def=daily_partitions)
    def readings():
        return dg.MaterializeResult(data_version=dg.DataVersion(content["readings"]))

    @dg.asset(key=["lake", "agreement"])
    def agreement():
        return dg.MaterializeResult(data_version=dg.DataVersion(content["snapshot"]))

    @dg.asset(
        deps=[readings, agreement], partitions_def=daily_partitions, automation_condition=refresh_after_readings()
    )
    def table(): ...

    assets = [readings, agreement, table]
    dg.materialize(assets, selection=[agreement], instance=instance)
    for day in ("2021-01-02", "2021-01-03"):
        dg.materialize(assets, selection=[readings, table], instance=instance, partition_key=day)
    ticks = Ticks(dg.Definitions(assets=assets), instance, [table.key])
    assert ticks.next() == {}
    dg.materialize(assets, selection=[readings], instance=instance, partition_key="2021-01-02")  # same content
    assert ticks.next() == {}
    content["snapshot"] = "t"
    dg.materialize(assets, selection=[agreement], instance=instance)  # another input: not this condition's
    assert ticks.next() == {}
    content["readings"] = "b"
    dg.materialize(assets, selection=[readings], instance=instance, partition_key="2021-01-02")
    assert ticks.next() == {table.key: {"2021-01-02"}}


def test_only_the_analytics_of_readings_carry_the_condition():
    graph = defs.resolve_asset_graph()
    conditioned = {key for key in graph.materializable_asset_keys if graph.get(key).automation_condition}
    assert conditioned == {HALF_HOURLY, PRODUCT_DAY}
