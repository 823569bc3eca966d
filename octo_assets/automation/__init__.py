"""How the graph runs itself: schedules, sensors, freshness and automation conditions."""

import dagster as dg

from octo_assets.automation.correction_sensor import source_correction_sensor
from octo_assets.automation.freshness import FRESHNESS_CHECKS, freshness_checks_sensor
from octo_assets.automation.landing_sensor import landing_sensor
from octo_assets.automation.policies import with_policies
from octo_assets.automation.schedules import SCHEDULES
from octo_assets.automation.source_sensor import source_db_sensor

# evaluates the analytics' refresh condition (readings changed alone); on by default, as Dagster's
# implicit one would be
automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    "automation_condition_sensor",
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes a day's analytics when its readings were materialised outside the daily job.",
)

SENSORS = [
    landing_sensor,
    source_db_sensor,
    source_correction_sensor,
    automation_condition_sensor,
    freshness_checks_sensor,
]

__all__ = ["FRESHNESS_CHECKS", "SCHEDULES", "SENSORS", "with_policies"]
