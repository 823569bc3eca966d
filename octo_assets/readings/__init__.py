"""Half-hourly smart-meter readings: landing folder -> daily Parquet partitions."""
