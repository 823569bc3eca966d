"""Asset checks: what the pipeline proves about each asset.

The readings checks run inside the readings step, on each staged day before it is published
(their specs are on the asset: checks.readings.READINGS_CHECKS); the others are check
definitions of their own, listed here.
"""

from octo_assets.checks.analytics import ANALYTICS_CHECKS
from octo_assets.checks.readings import readings_against_the_source
from octo_assets.checks.source import SOURCE_CHECKS

ASSET_CHECKS = [*SOURCE_CHECKS, readings_against_the_source, *ANALYTICS_CHECKS]
