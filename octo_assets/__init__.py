"""octo-assets: smart-meter readings and their source data as a Dagster-built Delta lakehouse.

from octo_assets import connect
con = connect()   # the analysts' catalog, read-only, with the lake's storage registered
then = connect(as_of="2021-02-03 09:00")   # the catalog as it stood then
"""

import warnings

# Dagster marks backfill policies and partitioned checks as beta/preview; we use them on purpose.
# Filtered by message, so that importing this package does not import Dagster (the parsing
# workers import only what parsing needs).
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
# The freshness checks of the daily assets look at their last partition, which a FreshnessPolicy
# cannot (automation.freshness): Dagster calls their sensor superseded; it is what does the job.
warnings.filterwarnings(
    "ignore", message=r"Function `build_(sensor_for_freshness_checks|time_partition_freshness_checks)` is superseded"
)


def connect(warehouse=None, read_only: bool = True, as_of=None):
    """A DuckDB connection to the catalog; with `as_of` ("2021-02-03 09:00"), the catalog as it stood
    then (see octo_assets.catalog.connect)."""
    from octo_assets.catalog.connect import connect as _connect  # imported here: the workers stay light

    return _connect(warehouse, read_only, as_of)


__all__ = ["connect"]
