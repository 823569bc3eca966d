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


# --- the days a source change moves, day by day and meterpoint by meterpoint ---------------------
# A snapshot here is plain rows, as conftest.Workspace.write_source takes them:
# {"agreement": [(id, valid_from, valid_to, product_id, meterpoint_id, account_id)],
#  "product": [(display_name, is_variable, id, product_id)], "meterpoint": [(region, meterpoint_id)]},
# dates as text YYYY-MM-DD (or None).


def source_rows(db: Path) -> dict[str, list[tuple]]:
    """A source database's rows, in the order write_source takes them."""
    with sqlite3.connect(db) as con:
        rows = {
            "agreement": con.execute(
                "SELECT agreement_id, agreement_valid_from, agreement_valid_to, product_id, meterpoint_id, account_id "
                "FROM agreement"
            ).fetchall(),
            "product": con.execute("SELECT display_name, is_variable, id, product_id FROM product").fetchall(),
            "meterpoint": con.execute("SELECT region, meterpoint_id FROM meterpoint").fetchall(),
        }
    con.close()
    return rows


def products_of(snapshot: dict, product_id) -> list[tuple]:
    """(display_name, is_variable) of each product row with this product_id (a LEFT JOIN's matches)."""
    return [
        (name, None if variable is None else bool(variable))
        for name, variable, _, p in snapshot["product"]
        if p == product_id and p is not None
    ]


def reading_goes_under(snapshot: dict, meterpoint: str, day: str) -> tuple[bool, str | None]:
    """(an agreement covers the meterpoint on the day, the display name its readings go under):
    the agreement with valid_from <= day < valid_to (or open); of overlapping ones the latest
    valid_from, then the highest agreement_id; NULL without one or without a product."""
    covering = [
        (start, agreement_id, product_id)
        for agreement_id, start, end, product_id, m, _ in snapshot["agreement"]
        if m == meterpoint and start is not None and start <= day and (end is None or day < end)
    ]
    if not covering:
        return False, None
    _, _, product_id = max(covering, key=lambda a: (a[0], a[1]))
    products = products_of(snapshot, product_id)
    return True, products[0][0] if products else None


def active_rows(snapshot: dict, day: str) -> dict[tuple, int]:
    """The rows of the active-agreements table on `day`, counted: valid_from < day < valid_to (or open)."""
    rows: dict[tuple, int] = defaultdict(int)
    for agreement_id, start, end, product_id, meterpoint, account in snapshot["agreement"]:
        if start is not None and start < day and (end is None or day < end):
            for name, variable in products_of(snapshot, product_id) or [(None, None)]:
                rows[(agreement_id, meterpoint, name, variable, product_id, account, start, end)] += 1
    return dict(rows)


def moved_days(old: dict, new: dict, days: list[str]) -> dict[str, list[str]]:
    """Per analytics table, the days among `days` whose answer differs between the two snapshots."""
    meterpoints = {a[4] for s in (old, new) for a in s["agreement"] if a[4] is not None}
    return {
        "daily_product_consumption": [
            day
            for day in days
            if any(reading_goes_under(old, m, day) != reading_goes_under(new, m, day) for m in meterpoints)
        ],
        "active_agreements": [day for day in days if active_rows(old, day) != active_rows(new, day)],
    }
