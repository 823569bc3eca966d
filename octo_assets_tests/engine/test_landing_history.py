"""The landing state over months of deliveries (readings.landing): a tick or a run lists and loads
only the folders it needs, so its work does not grow with history; and every change is still seen
by whoever must see it. Dated delivery folders and a flat landing area, on disk and on S3."""

import os
import random
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import import_module
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from octo_assets.automation.landing_sensor import landing_changes
from octo_assets.lake import Lake
from octo_assets.readings import archive, landing
from octo_assets.settings import OPEN_DAYS
from octo_assets.storage import Storage
from octo_assets_tests.support.days import build_days
from octo_assets_tests.support.workspace import BACKENDS

FIRST = date(2021, 1, 1)


def day(n: int) -> date:
    return FIRST + timedelta(days=n - 1)


def rows(d: date, meterpoint: str, kwh: float = 0.5, half_hours: int = 4) -> list:
    return [[f"{d} {h // 2:02d}:{h % 2 * 30:02d}:00", kwh, meterpoint] for h in range(half_hours)]


def deliver_days(ws, first: int, last: int, meterpoints=("m1", "m2")) -> None:
    """Deliveries one folder a day: readings/YYYY-MM-DD/<meterpoint>.json, each with its day's rows."""
    for n in range(first, last + 1):
        for meterpoint in meterpoints:
            ws.write_readings(f"{day(n)}/{meterpoint}.json", rows(day(n), meterpoint))


def stores(ws) -> tuple[Storage, Lake]:
    ws.sync()
    return Storage(ws.readings_url), Lake(Storage(ws.lake_url))


def tick(ws, since_ns=None, open_days=OPEN_DAYS, budget_s=60):
    """What the landing sensor computes on a tick: the landing state refreshed, the stale days."""
    landing_area, lake = stores(ws)
    return landing_changes(landing_area, lake, since_ns, budget_s=budget_s, open_days=open_days)


def look(ws, days=None, open_days=OPEN_DAYS) -> landing.Survey:
    landing_area, lake = stores(ws)
    return landing.survey(landing_area, lake, landing.now_ns(), set(days) if days else None, open_days=open_days)


def rows_loaded(seen: landing.Survey) -> int:
    """File rows of the landing state a survey loaded."""
    return sum(listed.files.frame.height for listed in seen.listed.values())


def build(ws, tmp_path, *days: date):
    """Each day's build, with its readings read back from its staged Parquet files."""
    landing_area, lake = stores(ws)
    return build_days(landing_area, lake, list(days), tmp_path)


# -- the work of a tick and of a run ----------------------------------------------------------------


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
@pytest.mark.parametrize("open_days", [1, 2, 3])
def test_a_tick_lists_the_top_level_and_the_open_window_of_dated_folders_only(workspace, open_days):
    deliver_days(workspace, 1, 12)
    workspace.write_readings("backlog/m3.json", rows(day(2), "m3"))  # a folder not named by a date
    first = tick(workspace, open_days=open_days)
    assert (first.unread, sorted(first.stale)) == (0, [day(n) for n in range(1, 13)])
    seen = look(workspace, open_days=open_days)
    window = {str(day(n)) for n in range(13 - open_days, 13)}
    assert set(seen.listed) == {"", "backlog"} | window
    assert rows_loaded(seen) == 2 * open_days + 1


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_the_work_of_an_idle_tick_and_its_writes_do_not_grow_with_history(workspace):
    landing_area, lake = stores(workspace)
    measured, delivered = {}, 0
    for history in (3, 15):
        deliver_days(workspace, delivered + 1, history)
        delivered = history
        tick(workspace)
        versions = {rel: lake.storage.version(rel) for rel in _state_files(lake)}
        idle = tick(workspace, since_ns=landing.now_ns())
        assert (idle.stale, idle.examined, idle.unread) == ({}, 0, 0)
        assert {rel: lake.storage.version(rel) for rel in _state_files(lake)} == versions  # nothing rewritten
        seen = look(workspace)
        measured[history] = (len(seen.listed), rows_loaded(seen), seen.current.height)
    assert measured[3] == measured[15] == (3, 4, 4)  # the top level and two days of two files


def _state_files(lake: Lake) -> list[str]:
    return [e.path for e in lake.storage.list_files(landing.STATE)]


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_run_lists_the_folders_holding_its_days_and_a_late_correction_in_todays_folder_wins(workspace, tmp_path):
    deliver_days(workspace, 1, 12)
    tick(workspace)
    assert set(look(workspace, days=[day(3)]).listed) == {"", str(day(3)), str(day(11)), str(day(12))}
    assert set(look(workspace, days=[day(11)]).listed) == {"", str(day(11)), str(day(12))}
    # a correction of day 3, delivered with today's files: the folder of day 12 now holds day 3
    workspace.write_readings(f"{day(12)}/m1-fix.json", [[f"{day(3)} 00:30:00", 9.5, "m1"]])
    changes = tick(workspace)
    # nothing is built yet: every file holding the day is stale, the correction in today's folder among them
    assert changes.stale[day(3)] == [f"{day(3)}/m1.json", f"{day(3)}/m2.json", f"{day(12)}/m1-fix.json"]
    (built,) = build(workspace, tmp_path, day(3))
    corrected = pl.col("interval_start_local") == pl.datetime(day(3).year, day(3).month, day(3).day, 0, 30)
    kept = built.frame.filter(corrected, pl.col("meterpoint_id") == "m1")
    assert kept.select("consumption_kwh", pl.col("source_file").cast(pl.String)).rows() == [
        (Decimal("9.500"), f"{day(12)}/m1-fix.json")
    ]
    assert (built.loaded, built.duplicates, built.files) == (8, 1, 3)


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_old_folders_left_half_read_by_a_tick_are_read_to_their_end_by_the_next_ones(workspace, monkeypatch):
    """Each tick reads one batch (no budget left): folders older than the open window are left
    half read. The next ticks list them again until every file is read (on S3 only the state's
    `complete` says so: there are no folder signatures), and then every day is requested."""
    deliver_days(workspace, 1, 12, meterpoints=("m1", "m2", "m3"))
    monkeypatch.setattr(import_module("octo_assets.automation.landing_sensor"), "FILES_PER_READ", 5)
    unread = []
    for _ in range(12):
        changes = tick(workspace, budget_s=0)
        unread.append(changes.unread)
        if not changes.unread:
            break
    assert unread == [31, 26, 21, 16, 11, 6, 1, 0]  # 36 files, 5 a tick
    assert sorted(changes.stale) == [day(n) for n in range(1, 13)]
    _, lake = stores(workspace)
    assert landing.load_folders(lake).frame["complete"].all()


# -- changes in folders outside the open window -------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["m3.json", "late/m3.json", "late/later/m3.json"], ids=["in it", "in a new sub-folder", "deeper"]
)
def test_on_disk_a_file_added_to_an_old_folder_is_seen_by_the_next_tick(workspace, where):
    deliver_days(workspace, 1, 12)
    (workspace.readings / str(day(2)) / "late").mkdir()  # a sub-folder the state knows, empty so far
    tick(workspace)
    cursor = settled(workspace)
    workspace.write_readings(f"{day(2)}/{where}", rows(day(2), "m3"))
    changes = tick(workspace, since_ns=cursor)
    assert changes.stale == {day(2): [f"{day(2)}/{where}"]}
    assert tick(workspace, since_ns=changes.listed_at_ns).examined == 0
    settled(workspace)  # the folder is quiet again


def settled(ws) -> int:
    """Tick until the old folders are no longer listed (a new sub-folder costs one more listing, to
    take its signature); the last tick's cursor."""
    for _ in range(3):
        cursor = tick(ws).listed_at_ns
        if str(day(2)) not in look(ws).listed:
            return cursor
    raise AssertionError(f"{day(2)} is still listed on every tick")


@pytest.mark.parametrize("how", ["removed", "renamed"])
def test_on_disk_a_file_removed_or_renamed_in_an_old_folder_is_seen(workspace, how):
    deliver_days(workspace, 1, 12)
    tick(workspace)
    old = workspace.readings / str(day(2)) / "m2.json"
    if how == "removed":
        old.unlink()
    else:
        old.rename(old.with_name("m2-renamed.json"))
    tick(workspace)
    _, lake = stores(workspace)
    state = landing.load_files(lake, str(day(2))).frame["path"].to_list()
    assert state == sorted([f"{day(2)}/m1.json", *([f"{day(2)}/m2-renamed.json"] if how == "renamed" else [])])


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_file_rewritten_in_place_in_an_old_folder_is_seen_by_a_run_of_its_day(workspace, tmp_path):
    """The one change a tick does not see (the README says so): the same name rewritten in place in
    a folder older than the open window (on S3 any change there). A run of the day lists it."""
    deliver_days(workspace, 1, 12)
    cursor = tick(workspace).listed_at_ns
    path = workspace.readings / str(day(2)) / "m1.json"
    stat = path.stat()
    with open(path, "r+b") as file:  # same size, same name, same inode: only the content changes
        file.write(path.read_bytes().replace(b"0.5", b"0.7"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tick(workspace, since_ns=cursor).stale == {}
    (built,) = build(workspace, tmp_path, day(2))
    assert built.frame.filter(pl.col("meterpoint_id") == "m1")["consumption_kwh"].unique().to_list() == [
        Decimal("0.700")
    ]


def test_a_folder_removed_from_the_landing_area_leaves_the_state(workspace):
    deliver_days(workspace, 1, 12)
    tick(workspace)
    shutil.rmtree(workspace.readings / str(day(2)))
    tick(workspace)
    _, lake = stores(workspace)
    assert str(day(2)) not in landing.load_folders(lake).frame["folder"].to_list()
    assert not lake.storage.exists(landing.files_table(str(day(2))))
    assert str(day(3)) in landing.load_folders(lake).frame["folder"].to_list()


# -- a flat landing area ------------------------------------------------------------------------------


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_flat_landing_area_works_and_is_listed_whole_every_time(workspace, tmp_path):
    for n in range(1, 6):
        workspace.write_readings(f"m1-{day(n)}.json", rows(day(n), "m1"))
    first = tick(workspace)
    assert sorted(first.stale) == [day(n) for n in range(1, 6)]
    seen = look(workspace)
    assert (set(seen.listed), seen.current.height) == ({""}, 5)  # the cost the README states
    (built,) = build(workspace, tmp_path, day(4))
    assert (built.loaded, built.files) == (4, 1)


# -- the state itself ---------------------------------------------------------------------------------


def test_an_upgraded_lake_splits_its_single_index_and_reads_no_file_again(workspace):
    deliver_days(workspace, 1, 4)
    workspace.write_readings("m9.json", rows(day(1), "m9"))
    tick(workspace)
    _, lake = stores(workspace)
    before = pl.read_parquet(os.path.join(workspace.lake, landing.FILES, "*.parquet")).sort("path")
    before.write_parquet(os.path.join(workspace.lake, landing.LEGACY_INDEX))  # as the lake held it before
    shutil.rmtree(os.path.join(workspace.lake, landing.STATE))
    seen = look(workspace)
    assert seen.current.filter(pl.col("days").is_null()).is_empty()  # nothing to read again
    after = pl.read_parquet(os.path.join(workspace.lake, landing.FILES, "*.parquet")).sort("path")
    assert after.equals(before)  # first sights too: the delivery order is kept
    assert not lake.storage.exists(landing.LEGACY_INDEX)
    assert sorted(landing.load_folders(lake).frame["folder"]) == [str(day(n)) for n in range(1, 5)]


def test_two_writers_of_one_folder_keep_what_each_learnt(workspace):
    workspace.write_readings(f"{day(1)}/a.json", rows(day(1), "a"))
    workspace.write_readings(f"{day(1)}/b.json", rows(day(1), "b"))
    landing_area, lake = stores(workspace)
    one = landing.survey(landing_area, lake, 100)
    two = landing.survey(landing_area, lake, 200)  # both listed before either recorded

    def learnt(path: str) -> pl.DataFrame:
        return pl.DataFrame(
            {"path": [path], "sha": ["s"], "days": [[day(1)]], "rows": [4]},
            schema={"path": pl.String, "sha": pl.String, "days": pl.List(pl.Date), "rows": pl.Int64},
        )

    landing.record(lake, one, learnt(f"{day(1)}/a.json"))
    landing.record(lake, two, learnt(f"{day(1)}/b.json"))
    state = landing.load_files(lake, str(day(1))).frame.sort("path")
    assert state.select("path", "days", "first_seen_ns").rows() == [
        (f"{day(1)}/a.json", [day(1)], 100),
        (f"{day(1)}/b.json", [day(1)], 100),  # the earlier first sight of the same version
    ]
    [row] = landing.load_folders(lake).frame.rows(named=True)
    assert (row["folder"], row["days"], row["complete"], row["files"]) == (str(day(1)), [day(1)], True, 2)


# -- the way out of a flat landing area: filed into dated folders ---------------------------------------


def at(monkeypatch, local: str) -> None:
    """Set the pipeline's clock for first sights (readings.landing.now_ns)."""
    instant = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/London"))
    monkeypatch.setattr(landing, "now_ns", lambda: int(instant.timestamp() * 1e9))


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
@pytest.mark.parametrize("interrupted", [None, "before the moves", "before the last record"])
def test_filing_a_flat_area_into_dated_folders_keeps_the_delivery_order_and_rebuilds_nothing(
    workspace, tmp_path, monkeypatch, interrupted
):
    at(monkeypatch, "2021-01-02 06:00")
    workspace.write_readings("m1.json", rows(day(1), "m1", kwh=0.5))
    workspace.write_readings("m2.json", rows(day(2), "m2", kwh=0.5))
    tick(workspace)
    at(monkeypatch, "2021-01-05 06:00")  # a correction of 1 January, delivered days later
    fix = workspace.write_readings("m1-fix.json", [[f"{day(1)} 00:30:00", 9.5, "m1"]])
    os.utime(fix, (1_000, 1_000))  # sent keeping an old mtime: only the first sights order the two
    tick(workspace)
    (first,) = build(workspace, tmp_path, day(1))
    _publish_accounting(workspace, first)

    at(monkeypatch, "2021-01-20 06:00")
    landing_area, lake = stores(workspace)
    if interrupted == "before the moves":
        monkeypatch.setattr(Storage, "move", lambda *a: (_ for _ in ()).throw(RuntimeError("killed")))
    if interrupted == "before the last record":
        monkeypatch.setattr(archive, "_record", _once(archive._record))
    try:
        moved = archive.archive(landing_area, lake, date(2021, 1, 10))
    except RuntimeError:
        moved = None
    monkeypatch.undo()
    mirror_landing(workspace)
    at(monkeypatch, "2021-01-21 06:00")
    if interrupted != "before the moves":
        assert moved in (3, None)
        where = sorted(e.path for e in Storage(workspace.readings_url).list_files(suffix=".json"))
        assert where == ["2021-01-02/m1.json", "2021-01-02/m2.json", "2021-01-05/m1-fix.json"]
    changes = tick(workspace)
    assert changes.stale.get(day(1)) is None  # nothing new for 1 January: its content is built
    (again,) = build(workspace, tmp_path, day(1))
    assert again.frame.drop("source_file").equals(first.frame.drop("source_file"))  # the correction still wins
    if interrupted is None:
        assert set(look(workspace).listed) == {"", "2021-01-05"}  # the top level is empty now
        assert look(workspace).current.height == 1


def mirror_landing(ws) -> None:
    """On S3, make the local landing folder what the S3 landing area now is (tests write there and
    `sync` it up)."""
    if not ws.s3:
        return
    shutil.rmtree(ws.readings)
    remote = Storage(ws.readings_url)
    for entry in remote.list_files():
        (ws.readings / entry.path).parent.mkdir(parents=True, exist_ok=True)
        (ws.readings / entry.path).write_bytes(remote.read_bytes(entry.path))


def _once(record):
    calls = []

    def first_only(*args):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("killed")
        return record(*args)

    return first_only


def _publish_accounting(ws, built) -> None:
    """What publishing a day tells the sensor: the versions it was built from (lake.readings_files)."""
    lake = Lake(Storage(ws.lake_url))
    lake.publish("readings_files", "date", built.day.isoformat(), built.accounting, "test", built.watermark_ns)


@pytest.mark.parametrize("seed", range(8))
def test_each_version_gets_the_first_sight_the_saved_rows_agree_on_aligned_or_not(seed):
    """landing._agreed_first_sights: our rows with the saved first sight of the same version (path,
    size, mtime, token; nulls equal). Compared row by row when both hold the same paths (the usual
    case), joined otherwise; both against a plain-Python lookup."""
    rng = random.Random(seed)
    paths = sorted(f"f{n:04d}.json" for n in rng.sample(range(10_000), 300))

    def version():
        return (rng.choice([1, 2, None]), rng.choice([10, 20]), rng.choice(["t1", "t2", None]))

    ours_rows = [(p, *version(), rng.randrange(1_000, 2_000)) for p in paths]
    columns = ["path", "size", "mtime_ns", "token", "first_seen_ns"]
    ours = pl.DataFrame(ours_rows, schema=columns, orient="row").with_columns(sha=pl.lit("s"))
    # aligned; as many rows but one path another; fewer rows
    for saved_paths in (paths, sorted(rng.sample(paths, 299) + ["e.json"]), sorted(rng.sample(paths, 200))):
        saved_rows = []
        for p in saved_paths:
            mine = next((r for r in ours_rows if r[0] == p), None)
            same = mine is not None and rng.random() < 0.5
            saved_rows.append((p, *(mine[1:4] if same else version()), rng.randrange(0, 3_000)))
        saved = pl.DataFrame(saved_rows, schema=columns, orient="row")
        lookup = {r[:4]: r[4] for r in saved_rows}
        expected = [(*r[:4], lookup.get(r[:4], r[4]), "s") for r in ours_rows]
        assert landing._agreed_first_sights(ours, saved).rows() == expected
