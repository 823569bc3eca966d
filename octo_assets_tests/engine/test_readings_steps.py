"""A day cut into steps (readings.steps) is the day built in one: whichever parse step read a file
and whichever assembling step took a meterpoint, the rows, kWh, checks, quarantine, conflicts and
file accounting are the same, on disk and on S3. Every step here runs in this process, one after
the other; the same steps under Dagster's multiprocess executor are in
integration/test_readings_steps_processes.py."""

import os
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from octo_assets.lake import READINGS_TABLE, Lake
from octo_assets.readings import steps
from octo_assets.readings.checks import evaluate
from octo_assets.readings.exchange import KEPT, Exchange, sweep
from octo_assets.settings import DEFAULT_MEMORY_MB
from octo_assets.storage import Storage
from octo_assets_tests.support.days import build_days
from octo_assets_tests.support.workspace import BACKENDS, new_workspace

DAYS = [date(2021, 1, 1), date(2021, 1, 2)]
METERPOINTS = [f"m{n:02d}" for n in range(24)]
CORRECTED = "m07"  # its first delivery is read by the first parse step, its correction by the last
STEP_COUNTS = [1, 2, 4, 7]


def half_hours(day: date, meterpoint: str, kwh) -> list:
    return [[f"{day} {h:02d}:{m:02d}:00", kwh, meterpoint] for h in range(24) for m in (0, 30)]


@pytest.fixture(scope="module", params=BACKENDS)
def landed(request, tmp_path_factory):
    """Two days of 24 meterpoints, a file a meterpoint a day; then, delivered later, a correction
    of m07 (5 readings disagree) and of m11 (3), a re-delivery of m03 (the same values:
    duplicates), a file with two bad rows and one no day can be read from."""
    ws = new_workspace(tmp_path_factory.mktemp("steps"), request.param, request)
    mtime = 1_600_000_000
    for day in DAYS:
        for n, meterpoint in enumerate(METERPOINTS):
            path = ws.write_readings(f"{day}/{meterpoint}.json", half_hours(day, meterpoint, n / 10))
            os.utime(path, (mtime, mtime))  # one delivery (on S3: one second of uploads)
    corrected = half_hours(DAYS[0], CORRECTED, 0.7)
    for row in corrected[:5]:
        row[1] = 9.5
    second = half_hours(DAYS[1], "m11", 1.1)
    for row in second[:3]:
        row[1] = 8.5
    later = {
        "late/m07-fix.json": corrected,
        "0-fix/m11.json": second,  # named before the first delivery: the later delivery wins, not the name
        "late/m03-again.json": half_hours(DAYS[1], "m03", 0.3),
        "late/bad-rows.json": [["2021-01-01 00:00:00", "lots", "m99"], ["2021-01-02 25:00:00", 1.0, "m98"]],
    }
    for name, rows in later.items():
        path = ws.write_readings(name, rows)
        os.utime(path, (mtime + 100, mtime + 100))
    broken = ws.readings / "late" / "broken.json"
    broken.write_text('{"columns": ["interval_start"')
    os.utime(broken, (mtime + 101, mtime + 101))
    ws.sync()
    return ws


def build(ws, tmp_path, count: int) -> list:
    """The days built in `count` steps, into a lake of their own."""
    lake = Lake(Storage(f"{ws.lake_url}-{count}-steps"))
    return build_days(Storage(ws.readings_url), lake, DAYS, tmp_path, DEFAULT_MEMORY_MB, steps=count)


def outcome(day) -> dict:
    """Everything a day's build gives the lake and the checks, in an order that does not depend on
    which step made which part."""
    return {
        "readings": day.frame.sort("meterpoint_id", "interval_start_utc").with_columns(pl.col("source_file").cast(str)),
        "counts": (day.staged, day.loaded, day.duplicates, day.quarantined, day.kwh, day.meterpoints, day.files),
        "quarantine": day.quarantine,
        "conflicts": day.conflicts,
        "accounting": day.accounting,
        "half_hours": day.half_hours,
        "audit": day.audit,
        "checks": [(e.check_name, e.passed, e.metadata.get("offending_rows")) for e in evaluate(day)],
    }


@pytest.fixture(scope="module")
def in_one_step(landed, tmp_path_factory):
    return [outcome(day) for day in build(landed, tmp_path_factory.mktemp("one"), 1)]


def test_the_day_built_in_one_step_is_the_day_by_hand(in_one_step):
    """The reference the other step counts are compared with, checked against the input."""
    first, second = in_one_step
    readings = first["readings"]
    assert readings.height == 24 * 48 == first["counts"][1]
    fixed = readings.filter(pl.col("meterpoint_id") == CORRECTED)
    assert fixed.filter(pl.col("consumption_kwh") == Decimal("9.5")).height == 5  # the newest delivery wins
    assert set(fixed["source_file"]) == {"late/m07-fix.json"}
    assert first["conflicts"].height == 5 and first["conflicts"]["deliveries"].to_list() == [2] * 5
    assert second["counts"][2] == 48 + 48  # m03 again, and m11's first delivery: the older rows dropped
    assert second["conflicts"].height == 3  # m11's three corrected readings
    eleven = second["readings"].filter(pl.col("meterpoint_id") == "m11")
    assert set(eleven["source_file"]) == {"0-fix/m11.json"}
    assert eleven.filter(pl.col("consumption_kwh") == Decimal("8.5")).height == 3
    # a bad row is counted on its day, or its file's first day when its time cannot be read; a
    # file no day can be read from, on the run's last day
    assert first["quarantine"].select("source_file", "row_number").rows() == [
        ("late/bad-rows.json", 1),
        ("late/bad-rows.json", 2),
    ]
    assert second["quarantine"].select("source_file", "row_number").rows() == [("late/broken.json", None)]
    others = sum(Decimal(str(n / 10)) * 48 for n in range(24) if f"m{n:02d}" != CORRECTED)
    assert first["counts"][4] == others + Decimal("0.7") * 43 + Decimal("9.5") * 5


@pytest.mark.parametrize("count", STEP_COUNTS[1:])
def test_a_day_built_in_several_steps_is_the_day_built_in_one(landed, in_one_step, tmp_path, count):
    built = build(landed, tmp_path, count)
    for day, expected in zip(built, in_one_step, strict=True):
        got = outcome(day)
        for name, value in expected.items():
            if isinstance(value, pl.DataFrame):
                assert got[name].equals(value), (day.day, name)
            else:
                assert got[name] == value, (day.day, name)


def test_the_steps_really_split_the_files_and_the_meterpoints(landed, tmp_path):
    """With four steps, the corrected meterpoint's two deliveries are parsed by different steps,
    and the day's meterpoints are assembled by several ranges."""
    lake = Lake(Storage(f"{landed.lake_url}-plan"))
    plan = steps.plan(
        Storage(landed.readings_url), lake, DAYS, Exchange(lake.storage.url, "plan"), DEFAULT_MEMORY_MB * 2**20, 4
    )
    files = plan.exchange.read_frame(steps.FILES_TO_READ)["path"].to_list()
    assert len(plan.shards) == 4 and plan.groups == 4
    shard_of = {path: s.number for s in plan.shards for path in files[s.first : s.first + s.count]}
    assert shard_of["2021-01-01/m07.json"] != shard_of["late/m07-fix.json"]
    parsed = [batch for shard in plan.shards for batch in steps.parse_shard(plan, shard)]
    done = steps.split(plan, parsed, str(tmp_path))
    ranges_with_work = [tasks for tasks in done.tasks if tasks]
    assert len(ranges_with_work) == 4
    by_range = [
        {m for task in tasks for m in steps.assemble_range(plan, [task], str(tmp_path))[0].preview["meterpoint_id"]}
        for tasks in ranges_with_work
    ]
    assert all(by_range) and not set.intersection(*by_range)  # a meterpoint is in one range only


def test_the_number_of_steps_follows_the_files_unless_set():
    assert steps.steps_for(100) == 1
    assert steps.steps_for(steps.FILES_PER_STEP) == 1
    assert steps.steps_for(steps.FILES_PER_STEP + 1) == 2
    assert steps.steps_for(4_000_000) == 20
    assert steps.steps_for(100, setting=3) == 3
    assert steps.steps_for(10**9) == steps.SLICES  # no more assembling ranges than slices of buckets


def test_placed_files_wait_in_the_day_folder_unnamed_until_the_commit(landed, tmp_path):
    """An assembling step's files are in the table's day folder before the day is published, and
    no version of the table names them: a reader sees nothing of the day before its commit."""
    lake = Lake(Storage(f"{landed.lake_url}-placed"))
    (first, _) = build_days(Storage(landed.readings_url), lake, DAYS, tmp_path, steps=2)
    placed = {f"{READINGS_TABLE}/{p.rel}" for p in first.readings}
    assert placed and placed <= {e.path for e in lake.storage.list_files(READINGS_TABLE)}
    assert lake.delta(READINGS_TABLE) is None  # nothing committed: no table yet


def test_a_failed_run_s_exchange_is_kept_for_a_re_execution_then_swept(tmp_path):
    """What a run's steps hand each other stays while the run may be re-executed from its failure
    (younger than exchange.KEPT: any file written lately) and goes after; nothing else at the root."""
    lake = Storage(str(tmp_path / "lake"))
    now = time.time()
    old, resumed, fresh = (Exchange(lake.url, run) for run in ("old-run", "resumed-run", "fresh-run"))
    for where, ages_s in ((old, [9 * 86400, 8 * 86400]), (resumed, [9 * 86400, 60]), (fresh, [5])):
        for number, age_s in enumerate(ages_s):
            name = where.write_frame(f"parse-{number}/quarantine.parquet", pl.DataFrame({"n": [number]}))
            os.utime(Path(where.storage.uri(name)), (now - age_s, now - age_s))
    lake.write_bytes("_state/landing/folders.parquet", b"not an exchange")
    os.utime(Path(lake.uri("_state/landing/folders.parquet")), (now - 30 * 86400, now - 30 * 86400))
    assert sweep(lake, KEPT.total_seconds(), now) == ["old-run"]
    left = sorted(e.path for e in lake.list_files())
    assert left == [
        "_staging/fresh-run/parse-0/quarantine.parquet",
        "_staging/resumed-run/parse-0/quarantine.parquet",
        "_staging/resumed-run/parse-1/quarantine.parquet",
        "_state/landing/folders.parquet",
    ]
    assert not Path(old.storage.url).exists()  # its folders too


def test_a_parse_step_holds_one_batch_of_its_files_at_a_time(landed, in_one_step, tmp_path, monkeypatch):
    """What a parse step holds does not grow with its share of the day: its files are staged a
    batch at a time (here 5 files), and the day is the same."""
    monkeypatch.setattr(steps, "FILES_PER_BATCH", 5)
    lake = Lake(Storage(f"{landed.lake_url}-batches"))
    plan = steps.plan(
        Storage(landed.readings_url), lake, DAYS, Exchange(lake.storage.url, "batches"), DEFAULT_MEMORY_MB * 2**20, 2
    )
    parsed = [steps.parse_shard(plan, shard) for shard in plan.shards]
    assert [len(batches) for batches in parsed] == [-(-shard.count // 5) for shard in plan.shards]
    assert all(batch.files <= 5 for batches in parsed for batch in batches)
    built = build(landed, tmp_path, 2)
    for day, expected in zip(built, in_one_step, strict=True):
        assert outcome(day)["readings"].equals(expected["readings"])
        assert outcome(day)["accounting"].equals(expected["accounting"])


@pytest.mark.parametrize(
    "sizes, ends",
    [
        ([], []),
        ([10] * 7, [3, 6, 7]),  # FILES_PER_BATCH 3
        ([40, 40, 40], [2, 3]),  # BYTES_PER_BATCH 100
        ([500, 1, 1], [1, 3]),  # a file bigger than a batch is a batch of its own
        ([1, 500, 1], [1, 2, 3]),
    ],
)
def test_batches_end_at_a_number_of_files_or_of_bytes(monkeypatch, sizes, ends):
    monkeypatch.setattr(steps, "FILES_PER_BATCH", 3)
    monkeypatch.setattr(steps, "BYTES_PER_BATCH", 100)
    files = pl.DataFrame(
        {"path": [f"f{n}.json" for n in range(len(sizes))], "size": sizes}, schema_overrides={"size": pl.Int64}
    )
    assert steps.batch_ends(files) == ends
