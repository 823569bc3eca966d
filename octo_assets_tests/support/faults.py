"""Faults put into de-duplication (readings.assemble.deduplicate) for one day: what the readings'
blocking checks exist to catch. Real input cannot trip them (parsing quarantines rows without a
key or kWh, and de-duplication removes repeated readings); a fault in the code that assembles a
day can. The `fault_on` fixture (in_process/conftest.py) installs one."""

import polars as pl


def duplicate_survives(kept: pl.DataFrame, dropped: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One dropped duplicate is kept as well (the counts still add up: it is counted loaded)."""
    assert dropped.height >= 2, "the fault needs two duplicates: one let through, one still dropped"
    return pl.concat([kept, dropped.head(1)]), dropped.slice(1)


def kwh_lost(kept: pl.DataFrame, dropped: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One kept reading's kWh becomes null."""
    first = pl.int_range(pl.len()) == 0
    return kept.with_columns(consumption_kwh=pl.when(first).then(None).otherwise("consumption_kwh")), dropped


def row_lost(kept: pl.DataFrame, dropped: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One reading vanishes: neither loaded nor counted as a duplicate."""
    return kept.slice(1), dropped
