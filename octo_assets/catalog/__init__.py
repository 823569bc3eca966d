"""The analysts' DuckDB catalog: one file of views over the lake."""
