"""Asset checks: what the pipeline proves about each asset after every materialisation."""

from octo_assets.checks.analytics import ANALYTICS_CHECKS
from octo_assets.checks.readings import READINGS_CHECKS
from octo_assets.checks.source import SOURCE_CHECKS

ASSET_CHECKS = [*SOURCE_CHECKS, *READINGS_CHECKS, *ANALYTICS_CHECKS]
