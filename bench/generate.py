"""Deterministic synthetic input for benchmarks: split-layout JSON readings plus case_study.db.

The files match the real sample byte for byte in shape: compact pandas "split" JSON, naive
Europe/London wall-clock times, 10-hex text ids. Readings of one (meterpoint, day) come from their
own seeded RNG, so both layouts of the same seed hold the same readings. Standard library only.

    python -m bench.generate OUT --meterpoints 100000 --days 1 [--start 2021-03-27] [--layout per_day]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
HALF_HOUR = timedelta(minutes=30)
LAYOUTS = ("per_meterpoint", "per_day")
HEAD = '{"columns":["interval_start","consumption_delta","meterpoint_id"],"data":['
TAIL = "]}"

# Largest reading in Wh; scale, load shape and noise below stay under it.
MAX_WH = 5000
# repr() is what pandas/orjson write: 0.186, 0.19, 0.0.
VALUE_TEXT = [repr(wh / 1000) for wh in range(MAX_WH + 1)]
# Relative household load by local hour: night trough, morning and evening peaks.
LOAD_BY_HOUR = (
    0.6,
    0.5,
    0.45,
    0.45,
    0.45,
    0.5,
    0.8,
    1.2,
    1.3,
    1.0,
    0.9,
    0.9,
    1.0,
    0.9,
    0.85,
    0.9,
    1.1,
    1.5,
    1.8,
    1.7,
    1.5,
    1.3,
    1.0,
    0.8,
)

REGIONS = (
    "Eastern",
    "East Midlands",
    "London",
    "Merseyside and North Wales",
    "Midlands",
    "Northern",
    "North Western",
    "Southern",
    "South Eastern",
    "South Wales",
    "South Western",
    "Yorkshire",
    "South Scotland",
    "North Scotland",
)
# (display name, is_variable, product_ids sharing that name): 60 products, 15 names.
PRODUCT_NAMES = (
    ("Flexible Octopus", 1, 8),
    ("Octopus 12M Fixed", 0, 10),
    ("Exclusive Octopus 12M Fixed", 0, 7),
    ("uSwitch Octopus 12M Fixed", 0, 7),
    ("Helpful Octopus", 0, 4),
    ("Super Green Octopus", 0, 3),
    ("Agile Octopus", 1, 2),
    ("Octopus Go", 1, 2),
    ("M&S 12M Fixed", 0, 2),
    ("M&S Everyday Energy", 1, 2),
    ("iChoosr Collective Octopus 12M Fixed", 0, 2),
    ("Super Green Helpful Octopus", 0, 2),
    ("Affect Standard Tariff", 1, 3),
    ("Co-op 12M Fixed", 0, 3),
    ("Octopus 12M Fixed Direct", 0, 3),
)

# The DDL pandas.to_sql wrote into the real case_study.db, verbatim.
DDL = (
    'CREATE TABLE "agreement" (\n"agreement_id" INTEGER,\n  "agreement_valid_from" DATE,\n'
    '  "agreement_valid_to" DATE,\n  "product_id" TEXT,\n  "meterpoint_id" TEXT,\n'
    '  "account_id" TEXT\n)',
    'CREATE TABLE "product" (\n"display_name" TEXT,\n  "is_variable" INTEGER,\n  "id" INTEGER,\n  "product_id" TEXT\n)',
    'CREATE TABLE "meterpoint" (\n"region" TEXT,\n  "meterpoint_id" TEXT\n)',
)


@dataclass(frozen=True)
class GeneratedSummary:
    meterpoints: int
    days: int
    start: str
    seed: int
    layout: str
    shuffle_days: bool
    pretty_share: float
    files: int
    rows: int
    total_kwh: float
    agreements: int
    products: int


def day_slots(day: date) -> list[str]:
    """Wall-clock starts of the half hours of a London day (46, 48 or 50), in time order.

    Stepping in UTC and formatting in London makes the skipped hour vanish and the repeated
    hour appear twice, the earlier (BST) instant first.
    """
    instant = datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(timezone.utc)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=LONDON)
    slots = []
    while instant < end:
        slots.append(instant.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S"))
        instant += HALF_HOUR
    return slots


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(40):010x}"


def _meterpoint_id(rng: random.Random, index: int) -> str:
    """Mostly random hex; every 50th kind is one a type-guessing reader corrupts."""
    kind = index % 50
    if kind == 0:  # reads as a float in scientific notation, like 3674e80033
        return f"{rng.randrange(1, 10**4):04d}e{rng.randrange(10**5):05d}"
    if kind == 1:  # reads as an integer
        return f"{rng.randrange(10**9, 10**10)}"
    if kind == 2:  # reads as an integer that loses its leading zero
        return f"0{rng.randrange(10**9):09d}"
    return _hex_id(rng)


def meterpoint_ids(rng: random.Random, count: int) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        candidate = _meterpoint_id(rng, len(ids))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


def make_products(rng: random.Random) -> list[tuple[str, int, int, str]]:
    """Rows of product(display_name, is_variable, id, product_id)."""
    names = [(name, variable) for name, variable, n in PRODUCT_NAMES for _ in range(n)]
    ids = sorted(rng.sample(range(1, 1000), len(names)))
    rows = [(name, variable, pid, _hex_id(rng)) for (name, variable), pid in zip(names, ids)]
    rng.shuffle(rows)
    return rows


def _agreement_spans(rng: random.Random, start: date, days: int) -> list[tuple[date, date | None]]:
    """(valid_from, valid_to) spans of one meterpoint, newest first, per the mix in the brief."""
    window_end = start + timedelta(days=days)
    scenario = rng.random()
    if scenario < 0.05:  # no agreement at all: readings nobody covers
        return []
    if scenario < 0.15:  # switches product inside the window on day k
        k = start + timedelta(days=rng.randrange(days))
        spans = [
            (k, None if rng.random() < 0.7 else k + timedelta(days=365)),
            (k - timedelta(days=rng.randint(30, 700)), k),
        ]
    else:
        valid_from = start - timedelta(days=rng.randint(1, 700))
        if rng.random() < 0.75:
            spans = [(valid_from, None)]
        else:  # closed, but only after the window (valid_to == window_end still covers it)
            spans = [(valid_from, window_end + timedelta(days=rng.randint(0, 365)))]
        if rng.random() < 0.3:  # an earlier contract ending where the current one starts
            spans.append((valid_from - timedelta(days=365), valid_from))
    if rng.random() < 0.03:  # zero-length agreement in the past: covers nothing
        past = start - timedelta(days=rng.randint(800, 1500))
        spans.append((past, past))
    return spans


def make_agreements(rng: random.Random, ids: list[str], products: list[tuple], start: date, days: int) -> list[tuple]:
    """Rows of agreement(agreement_id, valid_from, valid_to, product_id, meterpoint_id, account_id)."""
    product_ids = [row[3] for row in products]
    rows = []
    for meterpoint_id in ids:
        account_id = _hex_id(rng)
        for valid_from, valid_to in _agreement_spans(rng, start, days):
            rows.append(
                (
                    len(rows) + 1,
                    valid_from.isoformat(),
                    valid_to.isoformat() if valid_to else None,
                    rng.choice(product_ids),
                    meterpoint_id,
                    account_id,
                )
            )
    return rows


def write_db(path: Path, products: list[tuple], agreements: list[tuple], meterpoints: list[tuple]) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    with con:
        for ddl in DDL:
            con.execute(ddl)
        con.executemany("INSERT INTO product VALUES (?, ?, ?, ?)", products)
        con.executemany("INSERT INTO agreement VALUES (?, ?, ?, ?, ?, ?)", agreements)
        con.executemany("INSERT INTO meterpoint VALUES (?, ?)", meterpoints)
    con.close()


class _Day:
    """Per-day constants shared by every meterpoint: row prefixes and load shape."""

    def __init__(self, day: date):
        slots = day_slots(day)
        self.day = day
        self.prefixes = [f'["{slot}",' for slot in slots]
        self.shape = [LOAD_BY_HOUR[int(slot[11:13])] for slot in slots]


def _rng(seed: int, index: int, ordinal: int) -> random.Random:
    """Independent stream per (meterpoint, day); ordinal 0 is the meterpoint's file-level stream."""
    return random.Random((seed << 60) | (index << 20) | ordinal)


def _block(day: _Day, suffix: str, scale: float, rnd: Callable[[], float]) -> tuple[str, int]:
    """JSON rows of one meterpoint-day and their sum in Wh; about 1% of readings are 0."""
    wh = [int(scale * s * (0.25 + 1.5 * r)) if (r := rnd()) >= 0.01 else 0 for s in day.shape]
    text = ",".join([f"{prefix}{VALUE_TEXT[v]}{suffix}" for prefix, v in zip(day.prefixes, wh)])
    return text, sum(wh)


def _write(path: Path, text: str, pretty: bool) -> None:
    if pretty:
        text = json.dumps(json.loads(text), indent=2)
    with open(path, "w") as f:
        f.write(text)


def _write_per_meterpoint(
    readings: Path,
    ids: list[str],
    scales: list[float],
    days: list[_Day],
    seed: int,
    shuffle_days: bool,
    pretty_share: float,
) -> tuple[int, int, int]:
    """Files, rows and Wh written."""
    total_wh = rows = 0
    for index, (meterpoint_id, scale) in enumerate(zip(ids, scales)):
        suffix = f',"{meterpoint_id}"]'
        file_rng = _rng(seed, index, 0)
        order = list(days)
        if shuffle_days:
            file_rng.shuffle(order)
        blocks = []
        for day in order:
            text, wh = _block(day, suffix, scale, _rng(seed, index, day.day.toordinal()).random)
            blocks.append(text)
            total_wh += wh
            rows += len(day.shape)
        _write(readings / f"{meterpoint_id}.json", HEAD + ",".join(blocks) + TAIL, file_rng.random() < pretty_share)
    return len(ids), rows, total_wh


def _write_per_day(
    readings: Path,
    ids: list[str],
    scales: list[float],
    days: list[_Day],
    seed: int,
    pretty_share: float,
) -> tuple[int, int, int]:
    """Files, rows and Wh written."""
    total_wh = rows = 0
    for day in days:
        folder = readings / day.day.isoformat()
        folder.mkdir()
        for index, (meterpoint_id, scale) in enumerate(zip(ids, scales)):
            rnd = _rng(seed, index, day.day.toordinal()).random
            text, wh = _block(day, f',"{meterpoint_id}"]', scale, rnd)
            _write(folder / f"{meterpoint_id}.json", HEAD + text + TAIL, rnd() < pretty_share)
            total_wh += wh
            rows += len(day.shape)
    return len(ids) * len(days), rows, total_wh


def generate(
    out_dir: Path,
    meterpoints: int,
    days: int,
    start: date = date(2021, 1, 1),
    seed: int = 0,
    layout: str = "per_meterpoint",
    shuffle_days: bool = True,
    pretty_share: float = 0.01,
) -> GeneratedSummary:
    """Write OUT/readings/, OUT/case_study.db and OUT/summary.json, replacing earlier output."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ids = meterpoint_ids(rng, meterpoints)
    # Typical half-hourly load in Wh; the cap keeps peak x noise under MAX_WH.
    scales = [min(max(rng.lognormvariate(5.6, 0.5), 40.0), 1500.0) for _ in ids]
    products = make_products(rng)
    agreements = make_agreements(rng, ids, products, start, days)
    write_db(out_dir / "case_study.db", products, agreements, [(rng.choice(REGIONS), i) for i in ids])

    readings = out_dir / "readings"
    shutil.rmtree(readings, ignore_errors=True)
    readings.mkdir()
    day_list = [_Day(start + timedelta(days=n)) for n in range(days)]
    if layout == "per_meterpoint":
        files, rows, total_wh = _write_per_meterpoint(readings, ids, scales, day_list, seed, shuffle_days, pretty_share)
    else:
        files, rows, total_wh = _write_per_day(readings, ids, scales, day_list, seed, pretty_share)

    summary = GeneratedSummary(
        meterpoints=meterpoints,
        days=days,
        start=start.isoformat(),
        seed=seed,
        layout=layout,
        shuffle_days=shuffle_days,
        pretty_share=pretty_share,
        files=files,
        rows=rows,
        total_kwh=round(total_wh / 1000, 3),
        agreements=len(agreements),
        products=len(products),
    )
    (out_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--meterpoints", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2021, 1, 1))
    parser.add_argument("--layout", choices=LAYOUTS, default="per_meterpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-shuffle-days", dest="shuffle_days", action="store_false")
    parser.add_argument("--pretty-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    summary = generate(
        args.out, args.meterpoints, args.days, args.start, args.seed, args.layout, args.shuffle_days, args.pretty_share
    )
    print(json.dumps({**asdict(summary), "seconds": round(time.perf_counter() - began, 2)}))


if __name__ == "__main__":
    main()
