"""Every asset's key, one home each: the assets are defined with these, and the checks, jobs,
sensors and policies that name an asset import it from here."""

import dagster as dg

# external: what lands and what the business updates
LANDING = dg.AssetKey(["landing", "readings_files"])
SOURCE_DB = dg.AssetKey(["source", "case_study_db"])

# the lake
READINGS = dg.AssetKey(["lake", "readings"])
AGREEMENT = dg.AssetKey(["lake", "agreement"])
PRODUCT = dg.AssetKey(["lake", "product"])
METERPOINT = dg.AssetKey(["lake", "meterpoint"])
SOURCE_TABLES = {"agreement": AGREEMENT, "product": PRODUCT, "meterpoint": METERPOINT}

# the analytics tables, by name
ACTIVE_AGREEMENTS = dg.AssetKey(["analytics", "active_agreements"])
HALF_HOURLY = dg.AssetKey(["analytics", "half_hourly_consumption"])
PRODUCT_DAY = dg.AssetKey(["analytics", "daily_product_consumption"])
ANALYTICS = {key.path[-1]: key for key in (ACTIVE_AGREEMENTS, HALF_HOURLY, PRODUCT_DAY)}

CATALOG = dg.AssetKey(["warehouse", "catalog"])
