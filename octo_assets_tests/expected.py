"""Expected results computed independently of the code under test.

Plain Python (json, zoneinfo, sqlite3): no Polars, no DuckDB, none of octo_assets' code, so a
bug there cannot hide by being repeated here.
"""

import json
import sqlite3
from collections import defaultdict
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def readings(landing: Path) -> dict[tuple[str, datetime], tuple[Decimal, date, datetime]]:
    """(meterpoint, UTC instant) -> (kWh, local day, local wall clock); newest file wins."""
    result = {}
    files = sorted(landing.rglob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.relative_to(landing).as_posix()))
    for path in files:
        document = json.loads(path.read_text(), parse_float=Decimal)  # kWh exactly as written
        position = {name: i for i, name in enumerate(document["columns"])}
        seen = defaultdict(int)
        for row in document["data"]:
            wall = datetime.strptime(row[position["interval_start"]], "%Y-%m-%d %H:%M:%S")
            meterpoint = row[position["meterpoint_id"]]
            fold = min(seen[(meterpoint, wall)], 1)
            seen[(meterpoint, wall)] += 1
            instant = wall.replace(tzinfo=LONDON, fold=fold).astimezone(timezone.utc)
            result[(meterpoint, instant)] = (Decimal(row[position["consumption_delta"]]), wall.date(), wall)
    return result


def half_hourly(readings_by_key) -> dict[datetime, tuple[int, Decimal]]:
    groups = defaultdict(lambda: (set(), Decimal(0)))
    for (meterpoint, instant), (kwh, _, _) in readings_by_key.items():
        meterpoints, total = groups[instant]
        meterpoints.add(meterpoint)
        groups[instant] = (meterpoints, total + kwh)
    return {instant: (len(m), total) for instant, (m, total) in groups.items()}


def product_day(readings_by_key, db: Path) -> dict[tuple[date, str | None], tuple[int, Decimal]]:
    """(day, product display name or None) -> (meterpoints, kWh)."""
    groups = defaultdict(lambda: (set(), Decimal(0)))
    for (meterpoint, _), (kwh, day, name) in with_products(readings_by_key, db).items():
        meterpoints, total = groups[(day, name)]
        meterpoints.add(meterpoint)
        groups[(day, name)] = (meterpoints, total + kwh)
    return {key: (len(m), total) for key, (m, total) in groups.items()}


def with_products(readings_by_key, db: Path) -> dict[tuple[str, datetime], tuple[Decimal, date, str | None]]:
    """(meterpoint, instant) -> (kWh, local day, display name of the covering agreement's product)."""
    with sqlite3.connect(db) as con:
        agreements = con.execute(
            "SELECT meterpoint_id, agreement_valid_from, agreement_valid_to, product_id FROM agreement"
        ).fetchall()
        names = dict(con.execute("SELECT product_id, display_name FROM product").fetchall())
    result = {}
    for (meterpoint, instant), (kwh, day, _) in readings_by_key.items():
        iso = day.isoformat()
        products = [
            p for m, start, end, p in agreements if m == meterpoint and start <= iso and (end is None or iso < end)
        ]
        assert len(products) <= 1, f"overlapping agreements for {meterpoint} on {iso}"
        result[(meterpoint, instant)] = (kwh, day, names.get(products[0]) if products else None)
    return result


def active_agreements(db: Path, as_of: str) -> set[tuple[int, str, str | None, bool | None]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            """SELECT a.agreement_id, a.meterpoint_id, p.display_name, p.is_variable
               FROM agreement a LEFT JOIN product p ON p.product_id = a.product_id
               WHERE a.agreement_valid_from < ? AND (a.agreement_valid_to IS NULL OR a.agreement_valid_to > ?)""",
            (as_of, as_of),
        ).fetchall()
    return {(a, m, n, None if v is None else bool(v)) for a, m, n, v in rows}
