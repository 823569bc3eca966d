"""Deterministic synthetic input in the case-study layout: readings/<meterpoint>.json plus case_study.db.

Files match the real sample in shape: compact pandas "split" JSON, naive Europe/London wall-clock
times (clock-change days have 46 or 50 rows), 10-hex text ids (every 50th one a type-guessing
reader corrupts), days in a file shuffled, 1% of files pretty-printed. The source database holds
product switches inside the window, zero-length agreements and meterpoints with no agreement.
Each (meterpoint, day) has its own seeded RNG, so the files do not depend on how many processes
write them. Standard library only.

Two layouts of the same readings: "flat", one file per meterpoint holding every day (its days
shuffled), as the case study delivers them; "dated", a folder a day, readings/YYYY-MM-DD/<meterpoint>.json,
each file holding that day only, as daily deliveries pile up (the benchmark's history case). A
(meterpoint, day) has the same values in both.

    generate(OUT, meterpoints, days=1, start=date(2021, 1, 1), seed=0, processes=2, layout="flat")  # bench.run
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
HEAD = '{"columns":["interval_start","consumption_delta","meterpoint_id"],"data":['
MAX_WH = 5000  # largest reading; scale x load x noise stays under it
VALUE_TEXT = [repr(wh / 1000) for wh in range(MAX_WH + 1)]  # as pandas/orjson write them: 0.186, 0.19, 0.0
# relative household load by local hour: night trough, morning and evening peaks
LOAD_BY_HOUR = (0.6, 0.5, 0.45, 0.45, 0.45, 0.5, 0.8, 1.2, 1.3, 1.0, 0.9, 0.9) + (
    1.0, 0.9, 0.85, 0.9, 1.1, 1.5, 1.8, 1.7, 1.5, 1.3, 1.0, 0.8)  # fmt: skip
REGIONS = "Eastern|East Midlands|London|Merseyside and North Wales|Midlands|Northern|North Western|Southern|"
REGIONS = (REGIONS + "South Eastern|South Wales|South Western|Yorkshire|South Scotland|North Scotland").split("|")
# (display name, is_variable, how many product_ids share it): 60 products, 15 names
PRODUCT_NAMES = (
    ("Flexible Octopus", 1, 8), ("Octopus 12M Fixed", 0, 10), ("Exclusive Octopus 12M Fixed", 0, 7),
    ("uSwitch Octopus 12M Fixed", 0, 7), ("Helpful Octopus", 0, 4), ("Super Green Octopus", 0, 3),
    ("Agile Octopus", 1, 2), ("Octopus Go", 1, 2), ("M&S 12M Fixed", 0, 2), ("M&S Everyday Energy", 1, 2),
    ("iChoosr Collective Octopus 12M Fixed", 0, 2), ("Super Green Helpful Octopus", 0, 2),
    ("Affect Standard Tariff", 1, 3), ("Co-op 12M Fixed", 0, 3), ("Octopus 12M Fixed Direct", 0, 3),
)  # fmt: skip
# the DDL pandas.to_sql wrote into the real case_study.db
DDL = """
CREATE TABLE "agreement" (\n"agreement_id" INTEGER,\n  "agreement_valid_from" DATE,\n  "agreement_valid_to" DATE,
  "product_id" TEXT,\n  "meterpoint_id" TEXT,\n  "account_id" TEXT\n);
CREATE TABLE "product" (\n"display_name" TEXT,\n  "is_variable" INTEGER,\n  "id" INTEGER,\n  "product_id" TEXT\n);
CREATE TABLE "meterpoint" (\n"region" TEXT,\n  "meterpoint_id" TEXT\n);
"""


def day_slots(day: date) -> list[str]:
    """Wall-clock starts of a London day's half hours (46, 48 or 50), stepping in UTC."""
    instant = datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(timezone.utc)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=LONDON)
    slots = []
    while instant < end:
        slots.append(instant.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S"))
        instant += timedelta(minutes=30)
    return slots


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(40):010x}"


def meterpoint_ids(rng: random.Random, count: int) -> list[str]:
    """Mostly hex; kinds 0-2 of every 50 read as a float (3674e80033), an int, an int with a leading 0."""
    ids, seen = [], set()
    while len(ids) < count:
        kind = len(ids) % 50
        if kind == 0:
            candidate = f"{rng.randrange(1, 10**4):04d}e{rng.randrange(10**5):05d}"
        elif kind == 1:
            candidate = f"{rng.randrange(10**9, 10**10)}"
        elif kind == 2:
            candidate = f"0{rng.randrange(10**9):09d}"
        else:
            candidate = _hex_id(rng)
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


def make_products(rng: random.Random) -> list[tuple]:
    """Rows of product(display_name, is_variable, id, product_id)."""
    names = [(name, variable) for name, variable, n in PRODUCT_NAMES for _ in range(n)]
    ids = sorted(rng.sample(range(1, 1000), len(names)))
    rows = [(name, variable, pid, _hex_id(rng)) for (name, variable), pid in zip(names, ids)]
    rng.shuffle(rows)
    return rows


def _agreement_spans(rng: random.Random, start: date, days: int) -> list[tuple[date, date | None]]:
    """(valid_from, valid_to) of one meterpoint's agreements, newest first."""
    scenario = rng.random()
    if scenario < 0.05:  # no agreement: readings nobody covers
        return []
    if scenario < 0.15:  # switches product inside the window on day k
        k = start + timedelta(days=rng.randrange(days))
        spans = [(k, None if rng.random() < 0.7 else k + timedelta(days=365)), (k - timedelta(rng.randint(30, 700)), k)]
    else:
        valid_from = start - timedelta(days=rng.randint(1, 700))
        closes = rng.random() >= 0.75  # only after the window (valid_to == window end still covers it)
        spans = [(valid_from, start + timedelta(days=days + rng.randint(0, 365)) if closes else None)]
        if rng.random() < 0.3:  # an earlier contract ending where this one starts
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
            to_text = valid_to.isoformat() if valid_to else None
            product_id = rng.choice(product_ids)
            rows.append((len(rows) + 1, valid_from.isoformat(), to_text, product_id, meterpoint_id, account_id))
    return rows


def write_db(path: Path, products: list[tuple], agreements: list[tuple], meterpoints: list[tuple]) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    with con:
        con.executescript(DDL)
        con.executemany("INSERT INTO product VALUES (?, ?, ?, ?)", products)
        con.executemany("INSERT INTO agreement VALUES (?, ?, ?, ?, ?, ?)", agreements)
        con.executemany("INSERT INTO meterpoint VALUES (?, ?)", meterpoints)
    con.close()


def _rng(seed: int, index: int, ordinal: int) -> random.Random:
    """Independent stream per (meterpoint, day); ordinal 0 is the meterpoint's file-level stream."""
    return random.Random((seed << 60) | (index << 20) | ordinal)


def day_shape(day: date) -> tuple[list[str], list[float]]:
    """A day's row prefixes (its half hours' text) and relative loads, computed once per day, not per file."""
    slots = day_slots(day)
    return [f'["{slot}",' for slot in slots], [LOAD_BY_HOUR[int(slot[11:13])] for slot in slots]


def day_wh(rnd, scale: float, loads: list[float]) -> list[int]:
    """One meterpoint's Wh for each half hour of a day, from that (meterpoint, day)'s stream."""
    return [int(scale * s * (0.25 + 1.5 * r)) if (r := rnd()) >= 0.01 else 0 for s in loads]  # ~1% zeros


def day_block(prefixes: list[str], wh: list[int], suffix: str) -> str:
    return ",".join([f"{p}{VALUE_TEXT[v]}{suffix}" for p, v in zip(prefixes, wh)])


def write_text(folder: int, name: str, text: str) -> None:
    """One new file in the folder open as `folder`: os calls relative to it, no file object, since the
    per-file cost is mostly the kernel's (about a third less time than open(path, "w"))."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644, dir_fd=folder)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_files(readings: Path, first: int, ids: list[str], scales: list[float], days: list[date], seed: int) -> tuple:
    """The files of meterpoints first, first+1, ... (flat layout: every day in one file): (rows, Wh) written."""
    shapes = {day: day_shape(day) for day in days}
    rows = total_wh = 0
    folder = os.open(readings, os.O_RDONLY | os.O_DIRECTORY)
    for index, (meterpoint_id, scale) in enumerate(zip(ids, scales), first):
        file_rng, suffix, blocks = _rng(seed, index, 0), f',"{meterpoint_id}"]', []
        order = list(days)
        file_rng.shuffle(order)
        for day in order:
            prefixes, loads = shapes[day]
            wh = day_wh(_rng(seed, index, day.toordinal()).random, scale, loads)
            blocks.append(day_block(prefixes, wh, suffix))
            total_wh += sum(wh)
            rows += len(wh)
        text = HEAD + ",".join(blocks) + "]}"
        if file_rng.random() < 0.01:
            text = json.dumps(json.loads(text), indent=2)
        write_text(folder, f"{meterpoint_id}.json", text)
    os.close(folder)
    return rows, total_wh


def write_day_files(path: Path, first: int, ids: list[str], scales: list[float], day: date, seed: int) -> tuple:
    """One day's files of meterpoints first, first+1, ... in path (dated layout): (day, rows, Wh) written."""
    prefixes, loads = day_shape(day)
    rows = total_wh = 0
    folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    for index, (meterpoint_id, scale) in enumerate(zip(ids, scales), first):
        rnd = _rng(seed, index, day.toordinal()).random
        wh = day_wh(rnd, scale, loads)
        text = HEAD + day_block(prefixes, wh, f',"{meterpoint_id}"]') + "]}"
        if rnd() < 0.01:  # drawn after the values, which stay those of the flat layout
            text = json.dumps(json.loads(text), indent=2)
        write_text(folder, f"{meterpoint_id}.json", text)
        total_wh += sum(wh)
        rows += len(wh)
    os.close(folder)
    return day.isoformat(), rows, total_wh


def by_day(done: list[tuple[str, int, int]]) -> dict:
    """{day: {rows, total_kwh}} from the (day, rows, Wh) of each chunk of the dated layout."""
    totals: dict[str, tuple[int, int]] = {}
    for day, rows, wh in done:
        before = totals.get(day, (0, 0))
        totals[day] = (before[0] + rows, before[1] + wh)
    return {day: {"rows": rows, "total_kwh": round(wh / 1000, 3)} for day, (rows, wh) in sorted(totals.items())}


def generate(
    out: Path, meterpoints: int, days: int = 1, start=date(2021, 1, 1), seed=0, processes=2, layout="flat"
) -> dict:
    """Write OUT/readings/, OUT/case_study.db, then OUT/summary.json (last: it marks the input complete).

    Returns the summary: files, rows, total_kwh, agreements and the parameters; in the dated
    layout also rows and kWh by day."""
    if layout not in ("flat", "dated"):
        raise ValueError(f"layout {layout!r}: 'flat' or 'dated'")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").unlink(missing_ok=True)
    rng = random.Random(seed)
    ids = meterpoint_ids(rng, meterpoints)
    scales = [min(max(rng.lognormvariate(5.6, 0.5), 40.0), 1500.0) for _ in ids]  # typical half hour, Wh
    products = make_products(rng)
    agreements = make_agreements(rng, ids, products, start, days)
    write_db(out / "case_study.db", products, agreements, [(rng.choice(REGIONS), i) for i in ids])

    readings = out / "readings"
    shutil.rmtree(readings, ignore_errors=True)
    readings.mkdir()
    dates, size = [start + timedelta(days=n) for n in range(days)], max(1, min(20_000, -(-meterpoints // processes)))
    slices = [(i, ids[i : i + size], scales[i : i + size]) for i in range(0, meterpoints, size)]
    if layout == "flat":
        work, chunks = write_files, [(readings, i, part, weights, dates, seed) for i, part, weights in slices]
    else:
        for day in dates:
            (readings / day.isoformat()).mkdir()
        work = write_day_files
        chunks = [(readings / d.isoformat(), i, part, weights, d, seed) for d in dates for i, part, weights in slices]
    pool = multiprocessing.get_context("spawn").Pool(processes)
    try:
        done = pool.starmap(work, chunks, chunksize=1)
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.close()  # done: the workers exit on their own (Pool's `with` would SIGTERM them)
        pool.join()
    summary = {"meterpoints": meterpoints, "days": days, "start": start.isoformat(), "seed": seed, "files": meterpoints}
    if layout == "dated":
        summary.update(layout=layout, files=meterpoints * days, by_day=by_day(done))
    rows, total_wh = (sum(column) for column in zip(*[chunk[-2:] for chunk in done]))
    summary.update(rows=rows, total_kwh=round(total_wh / 1000, 3), agreements=len(agreements))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
