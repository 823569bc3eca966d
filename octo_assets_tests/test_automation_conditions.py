"""Declarative automation: a changed source snapshot, or readings re-run alone, brings the
recent analytics partitions up to date; the daily job's own runs trigger nothing more."""

import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from octo_assets.automation import with_policies
from octo_assets.automation.jobs import DAILY_ASSETS, SNAPSHOT_ASSETS
from octo_assets.automation.policies import refresh_recent
from octo_assets.definitions import ASSET_CHECKS, ASSETS
from octo_assets.partitions import daily_partitions

ACTIVE = dg.AssetKey(["analytics", "active_agreements"])
HALF_HOURLY = dg.AssetKey(["analytics", "half_hourly_consumption"])
PRODUCT_DAY = dg.AssetKey(["analytics", "daily_product_consumption"])
READINGS = dg.AssetKey(["lake", "readings"])
ANALYTICS = [ACTIVE, HALF_HOURLY, PRODUCT_DAY]
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# the latest partition is 2021-01-03; a two-day window holds 2021-01-02 and 2021-01-03
NOW = datetime(2021, 1, 4, 10, 0, tzinfo=ZoneInfo("Europe/London"))


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


def test_recent_analytics_follow_their_inputs(sample_workspace, instance):
    ws = sample_workspace
    materialize(ws, instance, SNAPSHOT_ASSETS)
    materialize(ws, instance, DAILY_ASSETS, tags={RANGE_START: "2021-01-01", RANGE_END: "2021-01-02"})
    ticks = Ticks(
        dg.Definitions(assets=with_policies(ASSETS, days=2), asset_checks=ASSET_CHECKS, resources=ws.resources()),
        instance,
    )
    assert ticks.next() == {}  # the first tick only sets the baseline

    materialize(ws, instance, SNAPSHOT_ASSETS)  # the same content again: its data version is unchanged
    assert ticks.next() == {}

    with sqlite3.connect(ws.source_db) as con:  # the business renames a product
        con.execute(
            "UPDATE product SET display_name = 'Octopus 12M Fixed (renamed)' WHERE display_name = 'Octopus 12M Fixed'"
        )
    con.close()
    materialize(ws, instance, SNAPSHOT_ASSETS)
    # 2021-01-01 is outside the window; 2021-01-03 was never built: the schedule does that
    assert ticks.next() == {ACTIVE: {"2021-01-02"}, PRODUCT_DAY: {"2021-01-02"}}

    materialize(ws, instance, DAILY_ASSETS, partition_key="2021-01-02")  # readings with their analytics
    assert ticks.next() == {}

    materialize(ws, instance, dg.AssetSelection.assets(READINGS), partition_key="2021-01-02")  # alone
    assert ticks.next() == {HALF_HOURLY: {"2021-01-02"}, PRODUCT_DAY: {"2021-01-02"}}


def test_a_snapshot_with_an_unchanged_data_version_triggers_nothing(instance):
    """What the refresh does once the snapshot reports a content hash as its data version."""
    content = {"version": "a"}

    @dg.asset
    def snapshot():
        return dg.MaterializeResult(data_version=dg.DataVersion(content["version"]))

    @dg.asset(deps=[snapshot], partitions_def=daily_partitions, automation_condition=refresh_recent(2))
    def table(): ...

    dg.materialize([snapshot], instance=instance)
    dg.materialize([snapshot, table], selection=[table], instance=instance, partition_key="2021-01-03")
    ticks = Ticks(dg.Definitions(assets=[snapshot, table]), instance, [table.key])
    assert ticks.next() == {}
    dg.materialize([snapshot], instance=instance)  # the same content again
    assert ticks.next() == {}
    content["version"] = "b"
    dg.materialize([snapshot], instance=instance)
    assert ticks.next() == {table.key: {"2021-01-03"}}
