"""Checks on a source snapshot, evaluated in the snapshot step on the tables just read, before they
are published (write, audit, publish): a snapshot failing a blocking check is never the latest
snapshot the views and the analytics use; the previous one stays.

Each check is one SQL query over the snapshot's tables returning the offending rows.
"""

import dagster as dg
import polars as pl

from octo_assets.checks import check_evaluation, offenders_in
from octo_assets.keys import AGREEMENT, METERPOINT, PRODUCT
from octo_assets.source.snapshot import TABLES

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


def _spec(asset: dg.AssetKey, name: str, description: str, blocking: bool = False, deps=()) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking, additional_deps=list(deps))


SOURCE_CHECKS = [
    _spec(
        AGREEMENT,
        "agreement_no_overlaps",
        "A meterpoint has at most one agreement of positive length at a time; overlaps are listed.",
    ),
    _spec(
        AGREEMENT,
        "agreement_product_exists",
        "Every agreement's product exists; otherwise its readings would pass as 'no agreement'.",
        blocking=True,
        deps=[PRODUCT],
    ),
    _spec(
        AGREEMENT,
        "agreement_valid_dates",
        "Every agreement has a start, and does not end before it starts (valid_from <= valid_to).",
        blocking=True,
    ),
    _spec(
        PRODUCT,
        "product_id_unique",
        "product_id is unique, so joining an agreement to its product never multiplies readings.",
        blocking=True,
    ),
    _spec(METERPOINT, "meterpoint_id_unique", "meterpoint_id is unique."),
    *(
        _spec(
            dg.AssetKey(["lake", table]),
            f"{table}_schema",
            f"The {table} snapshot has exactly the expected columns and types.",
            blocking=True,
        )
        for table in TABLES
    ),
]
BLOCKING = {spec.name for spec in SOURCE_CHECKS if spec.blocking}
ASSET_OF = {spec.name: spec.asset_key for spec in SOURCE_CHECKS}

QUERIES = {
    "agreement_no_overlaps": """
        WITH positive AS (
            SELECT * FROM agreement
            WHERE agreement_valid_to IS NULL OR agreement_valid_from < agreement_valid_to
        )
        SELECT a.meterpoint_id,
               a.agreement_id, a.agreement_valid_from, a.agreement_valid_to,
               b.agreement_id AS overlapping_agreement_id,
               b.agreement_valid_from AS overlapping_valid_from, b.agreement_valid_to AS overlapping_valid_to
        FROM positive AS a
        JOIN positive AS b
          ON a.meterpoint_id = b.meterpoint_id AND a.agreement_id < b.agreement_id
         AND a.agreement_valid_from < coalesce(b.agreement_valid_to, DATE '9999-12-31')
         AND b.agreement_valid_from < coalesce(a.agreement_valid_to, DATE '9999-12-31')
        ORDER BY ALL
    """,
    "agreement_product_exists": """
        SELECT agreement_id, meterpoint_id, product_id FROM agreement
        WHERE product_id IS NULL OR product_id NOT IN (SELECT product_id FROM product) ORDER BY ALL
    """,
    "agreement_valid_dates": """
        SELECT agreement_id, meterpoint_id, agreement_valid_from, agreement_valid_to FROM agreement
        WHERE agreement_valid_from IS NULL OR agreement_valid_to < agreement_valid_from ORDER BY ALL
    """,
    "product_id_unique": """
        SELECT product_id, count(*) AS copies, list(display_name) AS display_names FROM product
        GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL
    """,
    "meterpoint_id_unique": """
        SELECT meterpoint_id, count(*) AS copies FROM meterpoint GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL
    """,
}
SEVERITY = {"agreement_no_overlaps": WARN, "meterpoint_id_unique": WARN}


def evaluate(tables: dict[str, pl.DataFrame]) -> list[dg.AssetCheckEvaluation]:
    """Every source check on a snapshot's tables."""
    results = []
    for name, sql in QUERIES.items():
        found = offenders_in(sql, tables)
        extra = {}
        if name == "agreement_valid_dates":
            # valid_from = valid_to is allowed (a cancelled agreement): it covers no day, and is counted here
            zero_length = offenders_in(
                "SELECT count(*) AS n FROM agreement WHERE agreement_valid_from = agreement_valid_to", tables
            )["n"][0]
            extra["zero_length_agreements"] = int(zero_length)
        results.append((name, found, SEVERITY.get(name, ERROR), extra))
    for table, expected in TABLES.items():
        found_schema = dict(tables[table].schema)
        problems = [
            {"column": c, "expected": str(expected.get(c)), "found": str(found_schema.get(c))}
            for c in sorted(set(expected) | set(found_schema))
            if expected.get(c) != found_schema.get(c)
        ]
        frame = pl.DataFrame(problems, schema={"column": pl.String, "expected": pl.String, "found": pl.String})
        results.append((f"{table}_schema", frame, ERROR, {}))
    return [
        check_evaluation(ASSET_OF[name], name, found.height, found, severity, None, name in BLOCKING, **extra)
        for name, found, severity, extra in results
    ]
