"""The jobs the schedules and sensors launch.

The daily job mixes the partitioned readings and analytics with the unpartitioned catalog:
Dagster allows it (the job takes the assets' daily partitions; the catalog step runs once per
run), so one run of day D leaves readings, analytics and the analysts' catalog consistent. The
catalog step is in the `duckdb_catalog` pool, so concurrent day runs queue on it, not race.
"""

import dagster as dg

from octo_assets.automation.freshness import FRESHNESS_CHECKS
from octo_assets.keys import ACTIVE_AGREEMENTS, CATALOG, PRODUCT_DAY
from octo_assets.readings.checks import SOURCE_SPECS

# freshness is judged on a clock by its own sensor, not by the runs it judges
FRESHNESS = dg.AssetSelection.checks(*FRESHNESS_CHECKS)

DAILY_ASSETS = (
    dg.AssetSelection.groups("readings", "analytics").materializable() | dg.AssetSelection.assets(CATALOG)
) - FRESHNESS
SNAPSHOT_ASSETS = dg.AssetSelection.groups("source").materializable()

DAILY_JOB = dg.define_asset_job(
    "daily_readings_job",
    selection=DAILY_ASSETS,
    description="One Europe/London day: readings from the landing folder, the analytics tables, the catalog.",
)

BUILD_JOB = dg.define_asset_job(
    "build_all",
    selection=dg.AssetSelection.all().materializable() - FRESHNESS,
    description="Everything for a range of days: the source snapshot, readings, analytics, checks and the "
    "catalog (`make run` runs it without the snapshot for the days it builds).",
)

# each job that publishes what the catalog shows rebuilds it too: its views read pinned versions
SNAPSHOT_JOB = dg.define_asset_job(
    "source_snapshot_job",
    selection=SNAPSHOT_ASSETS | dg.AssetSelection.assets(CATALOG),
    description="Snapshot agreement, product and meterpoint from the source SQLite database; rebuild the catalog.",
)

# the analytics a source snapshot moves (source.changes), and the checks of readings against the
# source: readings_covered_by_agreement moves where coverage moves
CORRECTED_ASSETS = {
    "active_agreements": ACTIVE_AGREEMENTS,
    "daily_product_consumption": PRODUCT_DAY,
}
SOURCE_CHECK_KEYS = [spec.key for spec in SOURCE_SPECS]

CORRECTION_JOB = dg.define_asset_job(
    "source_correction_job",
    selection=(
        dg.AssetSelection.assets(*CORRECTED_ASSETS.values(), CATALOG) | dg.AssetSelection.checks(*SOURCE_CHECK_KEYS)
    )
    - FRESHNESS,
    description="The analytics days a source correction moves, rebuilt from the latest snapshot "
    "(source_correction_sensor), and the catalog.",
)

SNAPSHOT_OP = "source_snapshot"


def snapshot_run_config(snapshot_date: str) -> dict:
    return {"ops": {SNAPSHOT_OP: {"config": {"snapshot_date": snapshot_date}}}}
