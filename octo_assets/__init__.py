"""octo-assets: smart-meter readings and their source data as a Dagster-built Parquet lakehouse."""

import warnings

# Dagster marks backfill policies and partitioned checks as beta/preview; we use them on purpose.
# Filtered by message, so that importing this package does not import Dagster (the parsing
# workers import only what parsing needs).
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
