"""Freshness deadlines and automation conditions, attached to the assets from outside.

Freshness uses Dagster's FreshnessPolicy.cron: an asset is fresh when it was materialised
between local midnight and its daily deadline (Europe/London), and the UI and the freshness
daemon show it. The policy reads an asset's latest materialisation, whichever partition: for
readings it holds because the 08:00 run of yesterday's partition is what lands in the window.
"""

from datetime import timedelta

import dagster as dg

from octo_assets.domain import LOCAL_TZ
from octo_assets.keys import READINGS


def due_by(hour: int, minute: int = 0) -> dg.FreshnessPolicy:
    """Materialised each day between local midnight and hour:minute."""
    return dg.FreshnessPolicy.cron(
        deadline_cron=f"{minute} {hour} * * *",
        lower_bound_delta=timedelta(hours=hour, minutes=minute),
        timezone=LOCAL_TZ,
    )


FRESHNESS = {
    "source": due_by(0, 30),  # the database's midnight update, seen by the source sensor
    "landing": due_by(8),  # files land before 08:00
    "lake": due_by(1),  # the source snapshot tables
    "warehouse": due_by(9),  # the catalog is rebuilt by the same daily run as analytics
}

# The daily assets are not judged by when anything was last materialised (a backfill of an old
# day at 03:00 would make them look fresh) but by whether the partition due by then exists:
# day D-1 by these times on D, Europe/London. Checks built by Dagster, run by FRESHNESS_SENSOR.
PARTITION_DEADLINES = {"lake/readings": "30 8 * * *", "analytics": "0 9 * * *"}


def freshness_for(key: dg.AssetKey) -> dg.FreshnessPolicy | None:
    """The most specific entry: a full key first, then its first path component. The daily
    assets have none: their freshness is the check on their last partition."""
    if key.to_user_string() in PARTITION_DEADLINES or key.path[0] in PARTITION_DEADLINES:
        return None
    return FRESHNESS.get(key.to_user_string()) or FRESHNESS[key.path[0]]


def partition_freshness_checks(assets: list) -> list[dg.AssetChecksDefinition]:
    """A freshness check on the last partition of each daily asset (day D-1 due by its deadline on D)."""
    checks = []
    for deadline_key, cron in PARTITION_DEADLINES.items():
        keys = [
            key
            for asset in assets
            if isinstance(asset, dg.AssetsDefinition)
            for key in asset.keys
            if key.to_user_string() == deadline_key or key.path[0] == deadline_key
        ]
        checks += dg.build_time_partition_freshness_checks(
            assets=keys, deadline_cron=cron, timezone=LOCAL_TZ, severity=dg.AssetCheckSeverity.ERROR
        )
    return checks


def refresh_after_readings() -> dg.AutomationCondition:
    """Bring a day's analytics up to date when its readings change outside their own run (readings
    materialised alone, from the UI say), whatever the day's age. The daily job builds readings
    and analytics in one run: that triggers nothing more. Missing days are left to the schedule
    and the landing sensor; a new source snapshot to the source_correction_sensor, which knows
    which days it moves. Readings that report an unchanged data version trigger nothing."""
    condition = dg.AutomationCondition
    changed_elsewhere = (condition.data_version_changed() & ~condition.executed_with_root_target()).with_label(
        "changed outside this asset's run"
    )
    return (
        ~condition.missing()
        & condition.any_deps_match(changed_elsewhere)
        .allow(dg.AssetSelection.assets(READINGS))
        .with_label("its readings changed")
        .since_last_handled()
        & ~condition.any_deps_missing()
        & ~condition.any_deps_in_progress()
        & ~condition.in_progress()
    ).with_label("refresh the day when its readings change outside its run")


def with_policies(assets: list) -> list:
    """The assets with their freshness policies, and the analytics of readings with their refresh
    condition."""
    refresh = refresh_after_readings()

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        policy = freshness_for(spec.key)
        if policy is not None:
            spec = spec.replace_attributes(freshness_policy=policy)
        if spec.key.path[0] == "analytics" and READINGS in {dep.asset_key for dep in spec.deps}:
            spec = spec.replace_attributes(automation_condition=refresh)
        return spec

    return dg.map_asset_specs(attach, assets)
