"""Asset checks: what the pipeline proves about each asset.

Most run inside their asset's step, on the data before it is published (write, audit,
publish): their specs are on the assets (checks.readings.READINGS_CHECKS, checks.source.
SOURCE_CHECKS, checks.analytics.CHECKS). The check definitions of their own are listed here.
"""

from octo_assets.checks.readings import readings_against_the_source

ASSET_CHECKS = [readings_against_the_source]
