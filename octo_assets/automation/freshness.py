"""Freshness of the daily assets: is the partition that should exist by now there?

Day D-1 of lake/readings is due by 08:30 on D, of the analytics by 09:00 (Europe/London). A
check on the last partition, built by Dagster and evaluated every few minutes by the sensor
below, tells it, whatever else was materialised meanwhile: a backfill of an old day at 03:00
does not make a missing yesterday look fresh. The other assets keep their freshness policies
(automation.policies).
"""

import dagster as dg

from octo_assets.analytics.assets import active_agreements, daily_product_consumption, half_hourly_consumption
from octo_assets.automation.policies import partition_freshness_checks
from octo_assets.readings.assets import readings

FRESHNESS_CHECKS = partition_freshness_checks(
    [readings, active_agreements, half_hourly_consumption, daily_product_consumption]
)

freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=FRESHNESS_CHECKS,
    minimum_interval_seconds=300,
    name="freshness_checks_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
