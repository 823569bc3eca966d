"""The analysts' ready tables, computed by DuckDB SQL over the lake."""
