"""Checks on the latest source snapshot: what the brief promises about agreements and products."""

import dagster as dg
import polars as pl

from octo_assets.analytics.assets import latest_snapshot_file
from octo_assets.checks.framework import check_result, offenders
from octo_assets.resources import LakeStorage
from octo_assets.source.snapshot import TABLES

AGREEMENT = dg.AssetKey(["lake", "agreement"])
PRODUCT = dg.AssetKey(["lake", "product"])
METERPOINT = dg.AssetKey(["lake", "meterpoint"])
WARN = dg.AssetCheckSeverity.WARN


def _latest(lake: LakeStorage, *tables: str) -> dict:
    store = lake.lake()
    return {table: latest_snapshot_file(store, table) for table in tables}


@dg.asset_check(
    asset=AGREEMENT,
    description="A meterpoint has at most one agreement of positive length at a time; overlaps are listed.",
)
def agreement_no_overlaps(lake: LakeStorage):
    found = offenders(
        """
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
        _latest(lake, "agreement"),
    )
    return check_result(found, WARN)


@dg.asset_check(
    asset=AGREEMENT,
    blocking=True,
    additional_deps=[PRODUCT],
    description="Every agreement's product exists; otherwise its readings would pass as 'no agreement'.",
)
def agreement_product_exists(lake: LakeStorage):
    found = offenders(
        "SELECT agreement_id, meterpoint_id, product_id FROM agreement "
        "WHERE product_id IS NULL OR product_id NOT IN (SELECT product_id FROM product) ORDER BY ALL",
        _latest(lake, "agreement", "product"),
    )
    return check_result(found)


@dg.asset_check(
    asset=AGREEMENT,
    blocking=True,
    description="Every agreement has a start, and does not end before it starts (valid_from <= valid_to).",
)
def agreement_valid_dates(lake: LakeStorage):
    relations = _latest(lake, "agreement")
    found = offenders(
        "SELECT agreement_id, meterpoint_id, agreement_valid_from, agreement_valid_to FROM agreement "
        "WHERE agreement_valid_from IS NULL OR agreement_valid_to < agreement_valid_from ORDER BY ALL",
        relations,
    )
    # valid_from = valid_to is allowed (a cancelled agreement): it covers no day, and is counted here
    zero_length = offenders(
        "SELECT count(*) AS n FROM agreement WHERE agreement_valid_from = agreement_valid_to", relations
    )["n"][0]
    return check_result(found, zero_length_agreements=int(zero_length))


@dg.asset_check(
    asset=PRODUCT,
    blocking=True,
    description="product_id is unique, so joining an agreement to its product never multiplies readings.",
)
def product_id_unique(lake: LakeStorage):
    found = offenders(
        "SELECT product_id, count(*) AS copies, list(display_name) AS display_names FROM product "
        "GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL",
        _latest(lake, "product"),
    )
    return check_result(found)


@dg.asset_check(asset=METERPOINT, description="meterpoint_id is unique.")
def meterpoint_id_unique(lake: LakeStorage):
    found = offenders(
        "SELECT meterpoint_id, count(*) AS copies FROM meterpoint GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL",
        _latest(lake, "meterpoint"),
    )
    return check_result(found, WARN)


def _schema_check(table: str):
    @dg.asset_check(
        asset=dg.AssetKey(["lake", table]),
        name=f"{table}_schema",
        blocking=True,
        description=f"The {table} snapshot has exactly the expected columns and types.",
    )
    def schema_check(lake: LakeStorage):
        store = lake.lake()
        with store.storage.fs.open(latest_snapshot_file(store, table), "rb") as file:
            found_schema = dict(pl.read_parquet_schema(file))
        expected = TABLES[table]
        problems = [
            {"column": c, "expected": str(expected.get(c)), "found": str(found_schema.get(c))}
            for c in sorted(set(expected) | set(found_schema))
            if expected.get(c) != found_schema.get(c)
        ]
        return check_result(
            pl.DataFrame(problems, schema={"column": pl.String, "expected": pl.String, "found": pl.String})
        )

    return schema_check


SOURCE_CHECKS = [
    agreement_no_overlaps,
    agreement_product_exists,
    agreement_valid_dates,
    product_id_unique,
    meterpoint_id_unique,
    *(_schema_check(table) for table in TABLES),
]
