"""One sentence per column of every table, in the words of docs/design.md.

Used for each asset's `dagster/column_schema` (the UI's Columns tab) and for the catalog's
`COMMENT ON COLUMN` (what `DESCRIBE` and `duckdb_columns()` show an analyst), so the two
never drift apart. Plain dicts: importing this imports nothing.
"""

# --- shared columns ----------------------------------------------------------------------

METERPOINT_ID = "The meterpoint, as text exactly as delivered (`0123…` and `3674e80033` are ids, not numbers)."
READING_DATE = (
    "The Europe/London day of the half hour (46, 48 or 50 half hours), the partition key: "
    "filter on it and DuckDB opens only that day's files."
)
SNAPSHOT_DATE = (
    "The Europe/London day the source database was read; one snapshot is kept per day and the "
    "plain views show the latest."
)
INTERVAL_START_UTC = "Start of the half hour as a UTC instant; with meterpoint_id, what identifies a reading."
INTERVAL_START_LOCAL = (
    "Start of the half hour on the Europe/London wall clock, as delivered; on the clocks-back day "
    "01:00-01:30 occur twice, told apart by interval_start_utc."
)
PRODUCT_ID = "The product, as text exactly as in the source; several product_ids can share one display name."
ACCOUNT_ID = "The account holding the agreement, as text exactly as in the source."
AGREEMENT_ID = "The agreement, an integer as in the source."
VALID_FROM = (
    "First day of the agreement: it covers that day's readings (valid_from <= day), but is active "
    "only on later days (valid_from < as_of_date)."
)
VALID_TO = (
    "Day the agreement ends, exclusive (it covers readings with day < valid_to); NULL = open-ended; "
    "equal to valid_from = zero-length, covering nothing."
)
IS_VARIABLE = "True for a variable-rate product (0/1 in the source)."
DISPLAY_NAME = "The product's name as customers see it; several product_ids can share one."
KWH = "kWh used in the half hour: the file's consumption_delta, exact to three decimals as delivered."

# --- inputs, exactly as they arrive ------------------------------------------------------

LANDING = {
    "interval_start": "Start of the half hour, naive Europe/London wall clock `YYYY-MM-DD HH:MM:SS` (JSON string).",
    "consumption_delta": "kWh used in the half hour (JSON number, three decimals).",
    "meterpoint_id": "The meterpoint (JSON string), kept as text exactly as delivered.",
}

# --- the lake ----------------------------------------------------------------------------

READINGS = {
    "meterpoint_id": METERPOINT_ID,
    "interval_start_utc": INTERVAL_START_UTC,
    "interval_start_local": INTERVAL_START_LOCAL,
    "reading_date": READING_DATE,
    "consumption_kwh": KWH[:-1] + "; the newest delivery's where deliveries disagree.",
    "source_file": "The landing file the kept delivery came from, relative to the landing folder.",
}
READINGS_QUARANTINE = {
    "reading_date": (
        "The day the reject is counted on, once: the row's own day; for a row whose day cannot be told, its "
        "file's first day; for a file with no readable day (or rejected whole), the day the first 08:00 run "
        "after the file was first seen builds."
    ),
    "source_file": "The landing file, relative to the landing folder.",
    "row_number": "Position of the row in the file's `data` array, from 1; NULL when the whole file was rejected.",
    "reason": "Why the row or file could not be loaded, in one sentence.",
    "raw": "The rejected row as delivered (JSON text); NULL for a rejected file.",
}
READINGS_CONFLICTS = {
    "reading_date": READING_DATE,
    "meterpoint_id": METERPOINT_ID,
    "interval_start_utc": INTERVAL_START_UTC,
    "deliveries": "How many times this reading was delivered.",
    "values": "The kWh of each delivery, oldest delivery first (when the pipeline first saw the file's version, "
    "then its modification time, then its path).",
    "sources": "The landing file of each delivery, in the order of values.",
    "kept_kwh": "The kWh kept in lake.readings: the newest delivery's.",
}
AGREEMENT = {
    "agreement_id": AGREEMENT_ID,
    "agreement_valid_from": VALID_FROM,
    "agreement_valid_to": VALID_TO,
    "product_id": PRODUCT_ID,
    "meterpoint_id": METERPOINT_ID,
    "account_id": ACCOUNT_ID,
    "snapshot_date": SNAPSHOT_DATE,
}
PRODUCT = {
    "product_id": PRODUCT_ID,
    "display_name": DISPLAY_NAME,
    "is_variable": IS_VARIABLE,
    "id": "The product's numeric id, an integer as in the source (agreements refer to product_id, not id).",
    "snapshot_date": SNAPSHOT_DATE,
}
METERPOINT = {
    "meterpoint_id": METERPOINT_ID,
    "region": "The meterpoint's region, as text exactly as in the source.",
    "snapshot_date": SNAPSHOT_DATE,
}

# --- the analytics -----------------------------------------------------------------------

ACTIVE_AGREEMENTS = {
    "as_of_date": (
        "The day the agreement is active on, the partition key: valid_from < as_of_date and "
        "(valid_to IS NULL or valid_to > as_of_date), strict, as docs/design.md defines it."
    ),
    "agreement_id": AGREEMENT_ID,
    "meterpoint_id": METERPOINT_ID,
    "product_display_name": "Display name of the agreement's product (NULL if the product is not in the source).",
    "product_is_variable": IS_VARIABLE,
    "product_id": PRODUCT_ID,
    "account_id": ACCOUNT_ID,
    "agreement_valid_from": VALID_FROM,
    "agreement_valid_to": VALID_TO,
}
HALF_HOURLY_CONSUMPTION = {
    "interval_start_utc": "Start of the half hour as a UTC instant: one row per half hour of the day.",
    "interval_start_local": INTERVAL_START_LOCAL,
    "reading_date": READING_DATE,
    "meterpoint_count": "Meterpoints with a reading in this half hour.",
    "consumption_kwh": "Total kWh of this half hour's readings.",
    "reading_count": "Readings in this half hour (one per meterpoint).",
}
DAILY_PRODUCT_CONSUMPTION = {
    "reading_date": READING_DATE,
    "product_display_name": (
        "Display name of the product of the agreement covering the reading (valid_from <= day < valid_to); "
        "NULL = no agreement covered the reading."
    ),
    "meterpoint_count": "Meterpoints with readings under this product on the day.",
    "consumption_kwh": "Their total kWh; a day's rows add up to the half-hourly table's total.",
    "reading_count": "Half-hourly readings under this product on the day.",
}

# --- by asset and by catalog view --------------------------------------------------------

SOURCE_TABLES = {"agreement": AGREEMENT, "product": PRODUCT, "meterpoint": METERPOINT}

READINGS_FILES = {
    "reading_date": "The Europe/London day of the partition.",
    "source_file": "A landing file that holds rows of this day, relative to the landing area.",
    "sha": "The content hash of the version of the file read (changes with every corrected delivery).",
    "rows_loaded": "Rows of the file that are this day's readings now (the newest delivery of each).",
    "duplicates": "Rows of the file that repeat a reading a newer delivery (or a later row) replaced.",
    "rows_quarantined": "Rows of the file that could not be loaded, counted on this day (see readings_quarantine); "
    "a file rejected whole has none, and its reason there.",
}

LAKE_VERSIONS = {
    "table_name": "The lake table (its folder under the lake root).",
    "table_uri": "Where the Delta table is: a folder or an s3:// URL; any Delta reader opens it.",
    "version": "The Delta table version the views over this table read.",
    "committed_at": "When that version was committed (UTC): the catalog shows every table as of its build.",
}

VIEWS = {
    "lake.versions": LAKE_VERSIONS,
    "lake.readings": READINGS,
    "lake.readings_quarantine": READINGS_QUARANTINE,
    "lake.readings_conflicts": READINGS_CONFLICTS,
    "lake.readings_files": READINGS_FILES,
    **{f"lake.{table}": columns for table, columns in SOURCE_TABLES.items()},
    **{f"lake.{table}_history": columns for table, columns in SOURCE_TABLES.items()},
    "analytics.active_agreements": ACTIVE_AGREEMENTS,
    "analytics.half_hourly_consumption": HALF_HOURLY_CONSUMPTION,
    "analytics.daily_product_consumption": DAILY_PRODUCT_CONSUMPTION,
}
