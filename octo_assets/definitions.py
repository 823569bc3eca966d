"""The code location: every asset, check, schedule and sensor of octo-assets."""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from octo_assets.analytics.assets import active_agreements, daily_product_consumption, half_hourly_consumption  # noqa: E402
from octo_assets.automation import SCHEDULES, SENSORS, with_policies  # noqa: E402
from octo_assets.catalog.assets import catalog  # noqa: E402
from octo_assets.checks import ASSET_CHECKS  # noqa: E402
from octo_assets.readings.assets import LANDING, readings  # noqa: E402
from octo_assets.resources import resources_from_env  # noqa: E402
from octo_assets.source.assets import SOURCE_DB, source_snapshot  # noqa: E402

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
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=resources_from_env(),
)
