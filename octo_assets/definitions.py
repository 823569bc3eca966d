"""The code location: every asset, check, schedule and sensor of octo-assets."""

import dagster as dg

from octo_assets.analytics.assets import active_agreements, daily_product_consumption, half_hourly_consumption
from octo_assets.catalog.assets import catalog
from octo_assets.readings.assets import LANDING, readings
from octo_assets.resources import resources_from_env
from octo_assets.source.assets import SOURCE_DB, source_snapshot

ASSETS = [
    SOURCE_DB,
    LANDING,
    source_snapshot,
    readings,
    active_agreements,
    half_hourly_consumption,
    daily_product_consumption,
    catalog,
]

defs = dg.Definitions(assets=ASSETS, resources=resources_from_env())
