"""The landing sensor's reading of new files spread over worker processes (automation.landing_sensor,
readings.learn): it learns exactly what one process learns, and a tick stops reading at its budget."""

import shutil
import time
from datetime import date, timedelta
from importlib import import_module

import polars as pl
import pytest

from octo_assets.lake import Lake
from octo_assets.readings import landing
from octo_assets.readings.learn import LearnTask
from octo_assets.storage import Storage

sensor = import_module("octo_assets.automation.landing_sensor")  # the package exports the sensor by that name
FIRST = date(2021, 1, 1)
REPORT_ON = date(2021, 3, 1)
HEAD = '{"columns":["interval_start","consumption_delta","meterpoint_id"],"data":['


def compact(meterpoint: str, days: list[date]) -> bytes:
    rows = [f'["{d} {h:02d}:{m:02d}:00",0.25,"{meterpoint}"]' for d in days for h in (0, 23) for m in (0, 30)]
    return f"{HEAD}{','.join(rows)}]}}".encode()


def make_area(root):
    """A landing folder of 300 files: compact ones over a few days (some holding two), pretty-printed
    ones (the parser's slow path), and files with no day to learn: malformed, empty, a bad timestamp,
    no rows; some in a sub-folder."""
    (root / "late").mkdir(parents=True)
    for n in range(300):
        day = FIRST + timedelta(days=n % 4)
        name = f"late/mp{n:03d}.json" if n % 10 == 9 else f"mp{n:03d}.json"
        match n % 25:
            case 3:
                raw = b'{"columns": ['  # malformed
            case 7:
                raw = b""
            case 11:
                raw = f'{HEAD}["2021-13-45 00:00:00",0.1,"mp{n}"]]}}'.encode()  # no valid time
            case 13:
                raw = f"{HEAD}]}}".encode()  # no rows
            case 17:
                raw = compact(f"mp{n}", [day]).decode().replace(",", ", ").encode()  # the slow path
            case _:
                raw = compact(f"mp{n}", [day, day + timedelta(days=1)] if n % 3 == 0 else [day])
        (root / name).write_bytes(raw)
    time.sleep(1.1)  # a version read ahead of the listing must be a second old (storage.SETTLED_NS)
    return root


@pytest.fixture(scope="module")
def shared_area(tmp_path_factory):
    """make_area's folder, for the tests that only read it."""
    return make_area(tmp_path_factory.mktemp("shared") / "readings")


@pytest.fixture
def area(tmp_path):
    """make_area's folder, for a test that changes it."""
    return make_area(tmp_path / "readings")


def learnt_by(area, tmp_path, name: str, readers: int, monkeypatch, budget_s: float = 60, batch: int = 16) -> list:
    """Ticks of landing_changes on a fresh lake until nothing is left unread: each tick's changes
    (without its listing time), and the landing state's rows as saved."""
    monkeypatch.setattr(sensor, "READERS", readers)
    monkeypatch.setattr(sensor, "POOL_FILES", 0 if readers > 1 else 10**9)
    monkeypatch.setattr(sensor, "FILES_PER_READ", batch)  # many tasks for the readers to share
    lake, ticks = Lake(Storage(tmp_path / f"lake-{name}")), []
    while not ticks or ticks[-1][3]:
        changes = sensor.landing_changes(Storage(area), lake, None, budget_s=budget_s)
        ticks.append((changes.stale, changes.digests, changes.examined, changes.unread))
    saved = pl.concat(landing.load_files(lake, folder).frame for folder in (landing.TOP_LEVEL, "late"))
    return [ticks, saved.select("path", "size", "token", "sha", "days", "rows").sort("path")]


def test_readers_in_worker_processes_learn_what_one_process_learns(shared_area, tmp_path, monkeypatch):
    one = learnt_by(shared_area, tmp_path, "one", 1, monkeypatch)
    three = learnt_by(shared_area, tmp_path, "three", 3, monkeypatch)
    assert len(one[0]) == 1 and one[0][0][3] == 0  # one tick learnt all 300
    assert one[0] == three[0]  # the same stale days, run keys (digests), files compared
    assert one[1].equals(three[1])  # the same hashes and days of every file
    state = one[1]
    assert state.height == 300 and state["sha"].null_count() == 0
    # malformed, empty, no valid time, no rows: the newest day, whose run reports them
    nothing = state.filter((pl.col("path").str.extract(r"mp(\d+)").cast(pl.Int32) % 25).is_in([3, 7, 11, 13]))
    assert nothing.height == 48 and nothing["days"].to_list() == [[sensor.newest_day()]] * 48
    assert state.filter(pl.col("path") == "mp000.json")["days"].to_list() == [[FIRST, FIRST + timedelta(days=1)]]


def test_a_backlog_read_a_batch_a_tick_by_readers_ends_as_one_tick_would(shared_area, tmp_path, monkeypatch):
    """Budget spent before the reading starts: each tick reads its first batch only, and resumes."""
    one = learnt_by(shared_area, tmp_path, "one", 1, monkeypatch)
    slow = learnt_by(shared_area, tmp_path, "slow", 2, monkeypatch, budget_s=0, batch=64)
    assert [tick[3] for tick in slow[0]] == [236, 172, 108, 44, 0]  # 300 files, 64 a tick
    assert slow[0][-1] == one[0][0] and slow[1].equals(one[1])


@pytest.mark.parametrize("readers", [1, 2])
def test_content_days_skips_an_unreadable_file_and_keeps_the_order(area, readers, monkeypatch):
    monkeypatch.setattr(sensor, "FILES_PER_READ", 8)
    shutil.rmtree(area / "late")
    (area / "late.json").mkdir()  # listed as a file moments ago, a folder now: cannot be read
    paths = sorted(p.name for p in area.iterdir() if p.is_file())[:40]
    asked = [*paths[:20], "gone.json", "late.json", *paths[20:]]
    found = sensor.content_days(Storage(area), asked, REPORT_ON, time.monotonic() + 60, readers)
    assert found["path"].to_list() == paths  # unreadable ones left unread, the rest in order
    malformed = found.filter(pl.col("path") == "mp003.json")
    assert malformed["days"].to_list() == [[REPORT_ON]] and malformed["sha"].item() == landing.content_hash(
        b'{"columns": ['
    )


def slow_learn(seconds: float):
    """readings.learn as if each batch took `seconds` (in this process: one reader)."""

    def learn(task: LearnTask) -> list:
        time.sleep(seconds)
        return [(path, "sha", [REPORT_ON], None) for path in task.paths]

    return learn


def test_a_tick_stops_reading_at_its_budget(shared_area, monkeypatch):
    """In one process the budget is checked between batches; with readers, no batch is handed out
    after it (those handed out, at most two a reader, are finished)."""
    paths = sorted(p.name for p in shared_area.iterdir() if p.is_file())
    monkeypatch.setattr(sensor, "FILES_PER_READ", 10)
    monkeypatch.setattr(sensor, "learn", slow_learn(0.05))
    began = time.monotonic()
    found = sensor.content_days(Storage(shared_area), paths, REPORT_ON, began + 0.3, readers=1)
    assert time.monotonic() - began < 0.3 + 0.05 + 0.5  # one batch past it, and slack
    assert 40 <= found.height <= 80  # 6 or 7 batches of 10, not all 27
    monkeypatch.undo()
    monkeypatch.setattr(sensor, "FILES_PER_READ", 10)
    found = sensor.content_days(Storage(shared_area), paths, REPORT_ON, time.monotonic() - 1, readers=2)
    assert found["path"].to_list() == paths[:10]  # past the deadline: the first batch only


def test_a_file_rewritten_after_it_was_read_ahead_is_learnt_as_it_is_now(area, tmp_path, monkeypatch):
    """A tick reads the versions earlier ticks left unread while it lists; a file rewritten after
    that reading (the listing sees its new version) is read again, after the listing."""
    monkeypatch.setattr(sensor, "READERS", 2)
    monkeypatch.setattr(sensor, "POOL_FILES", 0)
    monkeypatch.setattr(sensor, "FILES_PER_READ", 64)
    landing_area, lake = Storage(area), Lake(Storage(tmp_path / "lake"))
    first = sensor.landing_changes(landing_area, lake, None, budget_s=0)  # one batch of 64 files
    assert first.unread == 300 - 64
    target = area / "mp250.json"  # left unread by the first tick
    survey = landing.survey

    def rewrite_once_read_ahead(*args, **kwargs):
        wait_for_readers_to_come_and_go()
        target.write_bytes(compact("mp250", [date(2021, 2, 14)]))  # read ahead as it was: now another version
        return survey(*args, **kwargs)

    monkeypatch.setattr(landing, "survey", rewrite_once_read_ahead)
    second = sensor.landing_changes(landing_area, lake, None, budget_s=60)
    assert second.unread == 0
    state = landing.load_files(lake, landing.TOP_LEVEL).frame.filter(pl.col("path") == "mp250.json")
    assert state["days"].to_list() == [[date(2021, 2, 14)]]
    assert state["sha"].item() == landing.content_hash(target.read_bytes())


def wait_for_readers_to_come_and_go(timeout_s: float = 30) -> None:
    """Until the tick's reading workers have started and stopped: what they read ahead is read."""
    import multiprocessing

    deadline = time.monotonic() + timeout_s
    while not multiprocessing.active_children():
        assert time.monotonic() < deadline, "no reading worker started"
        time.sleep(0.01)
    while multiprocessing.active_children():
        assert time.monotonic() < deadline, "the reading workers did not stop"
        time.sleep(0.01)


def test_a_tick_whose_listing_outlasts_its_budget_still_reads_a_while(shared_area, tmp_path, monkeypatch):
    """On a loaded machine the listing alone can take longer than the budget: the tick then reads
    for READ_AT_LEAST_S after it (not a single batch a tick)."""
    monkeypatch.setattr(sensor, "FILES_PER_READ", 10)
    monkeypatch.setattr(sensor, "READ_AT_LEAST_S", 0.3)
    monkeypatch.setattr(sensor, "learn", slow_learn(0.02))
    survey = landing.survey
    monkeypatch.setattr(landing, "survey", lambda *args, **kwargs: time.sleep(0.6) or survey(*args, **kwargs))
    changes = sensor.landing_changes(Storage(shared_area), Lake(Storage(tmp_path / "lake")), None, budget_s=0.5)
    assert 300 - changes.unread >= 80  # ~0.3 s of 0.02 s batches of 10, not one batch
    assert changes.unread > 0
