"""Random pairs of source snapshots (one, then a correction of it, or another altogether) and the
days each pair moves, found by snapshot_changes and by a day-by-day brute force
(support.expected.moved_days): engine/test_source_changes.py compares them on the first seed,
integration/test_source_changes_random.py on more."""

import random
from datetime import date, timedelta

import polars as pl

from octo_assets.source.changes import snapshot_changes
from octo_assets.source.snapshot import TABLES
from octo_assets_tests.support import expected

FIRST, LAST = date(2021, 1, 1), date(2021, 1, 31)  # the partitions a change is clipped to, unless told
PRODUCTS = [("Octopus 12M Fixed", 0, 1, "P1"), ("Flexible Octopus", 1, 2, "P2"), ("Octopus Go", 0, 3, "P3")]
METERPOINTS = [("south", "6e80fa8f56"), ("north", "0123"), ("east", "3674e80033")]
PAIRS_PER_SEED = 100
QUICK_SEEDS = range(1)  # in every quick run; the others in the full suite
SEEDS = range(4)


def frames(rows: dict[str, list[tuple]]) -> dict[str, pl.DataFrame]:
    """Plain rows (as Workspace.write_source takes them) as the snapshot step's frames."""
    agreement = [
        (i, *(date.fromisoformat(d) if d else None for d in (f, t)), p, m, a) for i, f, t, p, m, a in rows["agreement"]
    ]
    product = [(p, name, None if v is None else bool(v), i) for name, v, i, p in rows["product"]]
    meterpoint = [(m, region) for region, m in rows["meterpoint"]]
    return {
        table: pl.DataFrame(data, schema=TABLES[table], orient="row")
        for table, data in (("agreement", agreement), ("product", product), ("meterpoint", meterpoint))
    }


def source(agreements, products=PRODUCTS, meterpoints=METERPOINTS) -> dict[str, list[tuple]]:
    return {"agreement": list(agreements), "product": list(products), "meterpoint": list(meterpoints)}


def moved(old: dict, new: dict, first: date = FIRST, last: date = LAST) -> dict[str, list[tuple[str, str]]]:
    changes = snapshot_changes(frames(old), frames(new), first, last)
    return {table: [(a.isoformat(), b.isoformat()) for a, b in ranges] for table, ranges in changes.days.items()}


DAYS = [(date(2020, 12, 20) + timedelta(days=n)).isoformat() for n in range(75)]  # around FIRST..LAST
WINDOW = [(date(2021, 1, 1) + timedelta(days=n)).isoformat() for n in range(46)]  # 2021-01-01..02-15


def random_snapshot(rng: random.Random) -> dict:
    products = [
        (rng.choice(["Fixed", "Flexible", "Go", None]), rng.choice([0, 1]), n, f"P{n}")
        for n in range(rng.randint(1, 4))
    ]
    agreements = [random_agreement(rng, n) for n in range(rng.randint(0, 10))]
    return source(agreements, products, [("south", f"m{n}") for n in range(4)])


def random_agreement(rng: random.Random, agreement_id: int) -> tuple:
    start = rng.choice([*DAYS, None]) if rng.random() < 0.05 else rng.choice(DAYS)
    end = None if rng.random() < 0.4 else rng.choice(DAYS)
    if start and end and end < start and rng.random() < 0.8:
        start, end = end, start
    return (agreement_id, start, end, f"P{rng.randint(0, 4)}", f"m{rng.randint(0, 3)}", f"A{rng.randint(0, 2)}")


def mutate(rng: random.Random, snapshot: dict) -> dict:
    agreements, products = list(snapshot["agreement"]), list(snapshot["product"])
    for _ in range(rng.randint(0, 3)):
        kind = rng.choice(["cut", "product", "account", "delete", "add", "rename", "variable", "product_added", "move"])
        if kind == "add" or not agreements:
            agreements.append(random_agreement(rng, 1 + max((a[0] for a in agreements), default=0)))
        elif kind in {"cut", "product", "account", "move", "delete"}:
            i = rng.randrange(len(agreements))
            a = list(agreements[i])
            if kind == "delete":
                del agreements[i]
                continue
            if kind == "cut":
                a[2] = rng.choice([*DAYS, None])
            elif kind == "product":
                a[3] = f"P{rng.randint(0, 4)}"
            elif kind == "account":
                a[5] = f"B{rng.randint(0, 2)}"
            else:
                a[1] = rng.choice(DAYS)
            agreements[i] = tuple(a)
        elif kind in {"rename", "variable"} and products:
            i = rng.randrange(len(products))
            name, variable, pid, product_id = products[i]
            products[i] = (
                (rng.choice(["Fixed", "Flexible", "Go", "Agile", None]), variable, pid, product_id)
                if kind == "rename"
                else (name, 1 - variable, pid, product_id)
            )
        elif kind == "product_added" and len(products) < 5:
            products.append(("Agile", 1, 9, f"P{len(products)}"))
    rng.shuffle(agreements)  # the row order of a database means nothing
    return source(agreements, products, snapshot["meterpoint"])


def as_days(ranges: list[tuple[str, str]]) -> list[str]:
    return [day for day in WINDOW if any(first <= day <= last for first, last in ranges)]


def assert_the_pairs_move_what_the_brute_force_finds(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(PAIRS_PER_SEED):
        old = random_snapshot(rng)
        new = mutate(rng, old) if rng.random() < 0.9 else random_snapshot(rng)
        found = moved(old, new, date(2021, 1, 1), date(2021, 2, 15))
        want = expected.moved_days(old, new, WINDOW)
        assert {table: as_days(ranges) for table, ranges in found.items()} == want, (old, new)
