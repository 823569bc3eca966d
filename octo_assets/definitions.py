"""The code location: every asset, check, schedule and sensor of octo-assets."""

import dagster as dg

from octo_assets.analytics.assets import (
    active_agreements,
    daily_product_consumption,
    half_hourly_consumption,
)
from octo_assets.automation import FRESHNESS_CHECKS, SCHEDULES, SENSORS, with_policies
from octo_assets.automation.housekeeping import lake_housekeeping_job
from octo_assets.automation.jobs import BUILD_JOB
from octo_assets.catalog.assets import catalog
from octo_assets.executors import step_executor
from octo_assets.home import homed
from octo_assets.readings.assets import LANDING, readings, readings_prepass_job
from octo_assets.readings.checks import readings_against_the_source
from octo_assets.resources import resources_from_env
from octo_assets.source.assets import SOURCE_DB, source_snapshot

# the checks defined on their own: readings against the source, and freshness (the others are
# evaluated inside their assets' steps, write-audit-publish: see each package's checks.py)
ASSET_CHECKS = [readings_against_the_source, *FRESHNESS_CHECKS]

ASSETS = with_policies(
    [
        SOURCE_DB,
        LANDING,
        source_snapshot,
        readings,
        active_agreements,
        half_hourly_consumption,
        daily_product_consumption,
        catalog,
    ]
)

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[BUILD_JOB, lake_housekeeping_job, readings_prepass_job],
    schedules=SCHEDULES,
    sensors=SENSORS,
    # runs refuse a Dagster instance that serves another lake (octo_assets.home)
    resources=homed(resources_from_env()),
    # Each step a process of its own (or a Kubernetes Job: octo_assets.executors), so that a day's
    # parse and assembling steps spread over the cores or the cluster. make run executes a run
    # whose days take one step each in its own process: nothing to spread, no process to start.
    executor=step_executor(),
)
