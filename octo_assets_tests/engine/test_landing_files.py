"""Every landing file is accounted for, and every row of it (readings.landing, readings.stage,
readings.ingest, readings.learn, without Dagster): `.json` and `.json.gz` files are read in any
case of their names; any other file is named with its reason, once, as an unreadable one is;
rows of no day that can be built (before the first partition, or after their file's delivery)
are quarantined with their reason, and rows of a day not ended yet wait for it."""

import gzip
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import polars as pl
import pytest

from octo_assets.lake import Lake
from octo_assets.readings import archive, ingest, landing
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.learn import LearnTask, content_hash, learn
from octo_assets.readings.prepass import prestage
from octo_assets.settings import WorkerLimits
from octo_assets.storage import Storage
from octo_assets_tests.support.days import build_days
from octo_assets_tests.support.workspace import BACKENDS, COLUMNS

DAY, DAY2 = date(2021, 1, 1), date(2021, 1, 2)
NOT_READ = "not a readings file: only .json and .json.gz are read"
TODAY = datetime.now(ZoneInfo("Europe/London")).date()


def document(rows: list) -> bytes:
    return orjson.dumps({"columns": COLUMNS, "data": rows})


def reading(meterpoint: str, day: date = DAY, time: str = "00:00:00", kwh: float = 1.0) -> list:
    return [f"{day} {time}", kwh, meterpoint]


def put(ws, name: str, raw: bytes) -> bytes:
    path = ws.readings / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return raw


def build(ws, tmp_path, days=(DAY,)) -> list[ingest.DayBuild]:
    ws.sync()
    landing_area, lake = Storage(ws.readings_url), Lake(Storage(ws.lake_url))
    return build_days(landing_area, lake, list(days), tmp_path)


def first_look(ws, tmp_path, built: list[date]) -> ingest.Landed:
    """What `make run` learns before its run (ingest.prestage), building `built`."""
    ws.sync()
    landing_area, lake = Storage(ws.readings_url), Lake(Storage(ws.lake_url))
    exchange = Exchange(lake.storage.url, f"prestaged-{len(list(tmp_path.glob('prestaged-*')))}")
    (tmp_path / exchange.run).mkdir()
    return prestage(landing_area, lake, exchange, WorkerLimits(1), lambda *_: built)


def state(ws) -> dict[str, tuple]:
    """path -> (sha, days, rows) of every file the landing state keeps."""
    frame = pl.concat(
        landing.load_files(Lake(Storage(ws.lake_url)), folder).frame
        for folder in [landing.TOP_LEVEL, *landing.load_folders(Lake(Storage(ws.lake_url))).frame["folder"]]
    )
    return {path: (sha, days, rows) for path, sha, days, rows in frame.select("path", "sha", "days", "rows").rows()}


def reasons(build: ingest.DayBuild) -> dict[tuple[str, int | None], str]:
    return {(f, n): why for f, n, why in build.quarantine.select("source_file", "row_number", "reason").rows()}


# -- which files: .json and .json.gz in any case are read; any other name is named -------------------

READ = {  # name -> meterpoint, each a reading of DAY
    "a.json": "a",
    "B.JSON": "b",
    "c.Json": "c",
    "d.json.gz": "d",
    "E.JSON.GZ": "e",
    "2021-01-04/f.Json.Gz": "f",  # in a dated delivery folder
    "backlog/deeper/g.json.gz": "g",  # in folders not named by a date
}
NOT_READINGS = [
    "readings.csv",
    "notes.txt",
    "h.json.bak",
    "h.json.tmp",  # an upload still under way, under a name that is not hidden: named too
    "README",
    "deliveries.zip",
    "backlog/deeper/x.json.part",
    "2021-01-04/manifest.xml",
]
HIDDEN = [".DS_Store", "backlog/.g.json.Xy12ab", ".hidden/i.json"]  # never part of the landing area


def landing_area_of_every_kind(ws) -> dict[str, bytes]:
    stored = {}
    for name, meterpoint in READ.items():
        raw = document([reading(meterpoint)])
        stored[name] = put(ws, name, gzip.compress(raw) if name.lower().endswith(".gz") else raw)
    for name in NOT_READINGS:
        stored[name] = put(ws, name, f"{name}: someone's file\n".encode() * 100)
    stored["broken.json.gz"] = put(ws, "broken.json.gz", gzip.compress(document([reading("z")]))[:-10])
    for name in HIDDEN:
        put(ws, name, document([reading("hidden")]))
    return stored


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_every_landing_file_is_read_or_named_with_its_reason_in_the_quarantine_and_the_accounting(workspace, tmp_path):
    stored = landing_area_of_every_kind(workspace)
    day1, day2 = build(workspace, tmp_path, [DAY, DAY2])
    loaded = sorted(day1.frame["source_file"].cast(pl.String))
    assert loaded == sorted(READ) and sorted(day1.frame["meterpoint_id"]) == sorted(READ.values())
    assert (day1.loaded, day1.quarantine.height) == (len(READ), 0)
    # the others are reported by the run that read them, on its last day, rejected whole
    assert day2.rejected_files == sorted([*NOT_READINGS, "broken.json.gz"]) and day2.loaded == 0
    named = reasons(day2)
    assert {named[(name, None)] for name in NOT_READINGS} == {NOT_READ}
    assert named[("broken.json.gz", None)].startswith("gzip data is truncated: the file ends mid-stream")
    # accounted with no rows, by the hash of the bytes stored
    accounted = {row[0]: row[1:] for row in day2.accounting.rows()}
    assert accounted == {name: (content_hash(stored[name]), 0, 0, 0) for name in [*NOT_READINGS, "broken.json.gz"]}
    assert {row[0]: row[1] for row in day1.accounting.rows()} == {name: content_hash(stored[name]) for name in READ}
    # the landing state knows every file, with the day it is reported on; hidden names appear nowhere
    known = state(workspace)
    assert sorted(known) == sorted(stored)
    assert {known[name][1][0] for name in [*NOT_READINGS, "broken.json.gz"]} == {DAY2}
    assert {known[name][1][0] for name in READ} == {DAY}


def test_a_file_not_read_is_named_once_and_again_only_by_a_rerun_of_its_day(workspace, tmp_path):
    put(workspace, "m.json", document([reading("m"), reading("m", DAY2)]))
    put(workspace, "2021-01-04/notes.txt", b"nothing to read")
    first = first_look(workspace, tmp_path, [DAY, DAY2])
    assert first.not_readings.rows() == [("2021-01-04/notes.txt", NOT_READ)] and first.report_on == DAY2
    assert first_look(workspace, tmp_path, [DAY, DAY2]).unreadable.is_empty()  # noticed once
    one, two = build(workspace, tmp_path, [DAY, DAY2])
    assert (one.rejected_files, two.rejected_files) == ([], ["2021-01-04/notes.txt"])
    (again,) = build(workspace, tmp_path, [DAY])
    assert again.rejected_files == []  # not on another day
    (rerun,) = build(workspace, tmp_path, [DAY2])
    assert rerun.rejected_files == ["2021-01-04/notes.txt"]  # its day's quarantine is replaced whole: again there
    put(workspace, "2021-01-04/notes.txt", b"a new version")  # a new version is a new delivery: named once more
    assert first_look(workspace, tmp_path, [DAY]).not_readings["source_file"].to_list() == ["2021-01-04/notes.txt"]


def test_the_content_hash_is_of_the_bytes_stored_and_the_same_json_gzipped_is_another_file(workspace, tmp_path):
    raw = document([reading("m", kwh=2.5)])
    put(workspace, "m.json", raw)
    packed = put(workspace, "m.json.gz", gzip.compress(raw))
    (day,) = build(workspace, tmp_path)
    assert (day.loaded, day.duplicates, day.conflicts.height) == (1, 1, 0)  # the same reading, twice
    hashes = dict(day.accounting.select("source_file", "sha").rows())
    assert hashes == {"m.json": content_hash(raw), "m.json.gz": content_hash(packed)}
    assert state(workspace)["m.json.gz"] == (content_hash(packed), [DAY], 1)


def test_a_file_not_read_is_hashed_a_chunk_at_a_time_and_never_read_whole(workspace, tmp_path, monkeypatch):
    import octo_assets.storage as storage_module

    monkeypatch.setattr(storage_module, "HASH_CHUNK", 1000)
    big = put(workspace, "dump.zip", bytes(range(256)) * 40_000)  # 10 MB, in 1,000-byte reads
    put(workspace, "m.json", document([reading("m"), reading("m", DAY2)]))
    asked, reads = [], []
    read_many, os_read = Storage.read_many, storage_module.os.read
    monkeypatch.setattr(Storage, "read_many", lambda self, rels, *a: asked.extend(rels) or read_many(self, rels, *a))
    monkeypatch.setattr(storage_module.os, "read", lambda fd, n: reads.append(len(data := os_read(fd, n))) or data)
    one, two = build(workspace, tmp_path, [DAY, DAY2])
    monkeypatch.undo()
    assert asked == ["m.json"] and max(reads) <= 1000 and sum(reads) > len(big)
    assert two.accounting.filter(pl.col("source_file") == "dump.zip")["sha"].to_list() == [content_hash(big)]
    assert reasons(two)[("dump.zip", None)] == NOT_READ


def test_what_the_sensor_learns_of_each_kind_of_file_is_what_a_run_records(workspace, tmp_path):
    """readings.learn (the landing sensor's reader) and a run's staging agree on every file's hash
    and days: the sensor requests the days the runs then build and report on."""
    landing_area_of_every_kind(workspace)
    put(workspace, "old.json", document([reading("o", date(2020, 12, 31), "23:30:00")]))
    put(workspace, "edges.json", document([reading("p", date(2020, 12, 31)), reading("p", DAY2), reading("p", TODAY)]))
    put(workspace, "future.json", document([reading("q", TODAY + timedelta(days=30))]))
    first_look(workspace, tmp_path, [DAY, DAY2])  # reads every file, reports on DAY2
    recorded = {path: (sha, days) for path, (sha, days, _) in state(workspace).items()}
    learnt = learn(LearnTask(str(workspace.readings), sorted(recorded), DAY2))
    assert {path: (sha, days) for path, sha, days, _ in learnt} == recorded
    assert recorded["edges.json"][1] == [DAY2, TODAY] and recorded["old.json"][1] == [DAY2]


# -- rows of no day that can be built: quarantined, on a day of their file; today's wait for today ------


def test_rows_dated_before_the_first_partition_or_after_their_delivery_are_quarantined_with_the_reason(
    workspace, tmp_path
):
    later = TODAY + timedelta(days=2)  # more than a day after the file was first seen (now)
    rows = [
        reading("m", date(2020, 12, 31), "23:30:00"),
        reading("m", DAY2, "00:30:00"),  # the file's first day: where the others are counted
        reading("m", date(1999, 1, 1)),
        reading("m", later),
        reading("m", date(2099, 1, 1), kwh=-1.0),  # already quarantined: keeps its first reason
        reading("m", DAY2, "01:00:00"),
    ]
    raw = put(workspace, "m.json", document(rows))
    put(workspace, "old.json", document([reading("o", date(2020, 12, 31), "23:00:00")]))  # no day of its own
    day1, day2 = build(workspace, tmp_path, [DAY, DAY2])
    assert day1.quarantine.is_empty() and day1.loaded == 0
    assert reasons(day2) == {
        ("m.json", 1): "reading dated 2020-12-31, before the first partition 2021-01-01",
        ("m.json", 3): "reading dated 1999-01-01, before the first partition 2021-01-01",
        ("m.json", 4): f"reading dated {later}, more than a day after its file was first seen ({TODAY}): "
        "a half hour cannot be read before it has begun",
        ("m.json", 5): "consumption_delta is negative",
        ("old.json", 1): "reading dated 2020-12-31, before the first partition 2021-01-01",  # on the run's last day
    }
    [raw_of_first] = day2.quarantine.filter(pl.col("source_file") == "m.json", pl.col("row_number") == 1)["raw"]
    assert orjson.loads(raw_of_first) == dict(zip(COLUMNS, rows[0]))  # the row as sent
    assert set(day2.quarantine["reading_date"]) == {DAY2}
    # nothing lost: every row of each file is loaded, a duplicate or quarantined, once
    accounted = day2.accounting.select("source_file", "rows_loaded", "duplicates", "rows_quarantined").rows()
    assert accounted == [("m.json", 2, 0, 4), ("old.json", 0, 0, 1)]
    assert day2.rows_read == day2.loaded + day2.duplicates + day2.quarantined == 7
    known = state(workspace)
    assert known["m.json"] == (content_hash(raw), [DAY2], 6) and known["old.json"][1:] == ([DAY2], 1)
    (again,) = build(workspace, tmp_path, [DAY2])  # a re-run of the day: the same, once
    assert reasons(again) == reasons(day2)


def test_rows_of_a_day_not_ended_yet_wait_for_it_and_are_counted_meanwhile(workspace, tmp_path):
    tomorrow = TODAY + timedelta(days=1)
    put(workspace, "m.json", document([reading("m"), reading("m", TODAY), reading("m", tomorrow, "23:30:00")]))
    put(workspace, "n.json", document([reading("n", TODAY, "00:30:00"), reading("n", TODAY, "01:00:00")]))
    seen = first_look(workspace, tmp_path, [DAY])
    assert seen.days == [DAY, TODAY, tomorrow]
    assert seen.not_ended.rows() == [(TODAY, 2, 3), (tomorrow, 1, 1)]
    assert state(workspace)["m.json"][1] == [DAY, TODAY, tomorrow]  # their days' runs read it
    (day,) = build(workspace, tmp_path, [DAY])
    assert (day.loaded, day.quarantine.height) == (1, 0)
    (today,) = build(workspace, tmp_path, [TODAY])  # once the day has ended, its run builds them
    assert (today.loaded, today.quarantine.height, today.files) == (3, 0, 2)
    assert first_look(workspace, tmp_path, [DAY]).not_ended.rows() == [
        (TODAY, 2, 0),
        (tomorrow, 1, 0),
    ]  # not read again


def test_the_latest_day_a_file_can_hold_follows_its_first_sight_not_the_clock_of_the_run(
    workspace, tmp_path, monkeypatch
):
    """A file first seen on 1 January 2021 cannot hold readings of 3 January: quarantined, whenever
    it is built. 2 January (a day of slack) is a reading of that day."""
    seen = datetime(2021, 1, 1, 23, 0, tzinfo=ZoneInfo("Europe/London"))
    monkeypatch.setattr(landing, "now_ns", lambda: int(seen.timestamp() * 1e9))
    put(workspace, "m.json", document([reading("m"), reading("m", DAY2), reading("m", date(2021, 1, 3))]))
    day1, day2 = build(workspace, tmp_path, [DAY, DAY2])
    assert (day1.loaded, day2.loaded) == (1, 1)
    assert reasons(day1) == {
        ("m.json", 3): "reading dated 2021-01-03, more than a day after its file was first seen (2021-01-01): "
        "a half hour cannot be read before it has begun"
    }
    assert state(workspace)["m.json"][1] == [DAY, DAY2]


def test_a_file_the_state_holds_with_a_day_before_the_first_partition_is_read_again(workspace, tmp_path):
    """A landing state recorded before such rows were quarantined: the file is read once more."""
    put(workspace, "old.json", document([reading("o", date(2020, 12, 31))]))
    put(workspace, "2021-01-02/m.json", document([reading("m", DAY2)]))
    build(workspace, tmp_path, [DAY2])
    lake = Lake(Storage(workspace.lake_url))
    for folder in [landing.TOP_LEVEL, "2021-01-02"]:  # as an earlier version recorded them
        files = landing.load_files(lake, folder).frame
        earlier = files.with_columns(days=pl.lit([date(2020, 12, 31)], pl.List(pl.Date)))
        landing.upsert_files(lake, folder, earlier.filter(pl.col("path").is_in(["old.json", "2021-01-02/m.json"])))
    (day,) = build(workspace, tmp_path, [DAY2])
    assert reasons(day) == {("old.json", 1): "reading dated 2020-12-31, before the first partition 2021-01-01"}
    assert day.loaded == 1  # the dated folder, recorded with 2020-12-31 only, is listed and read again
    known = state(workspace)
    assert (known["old.json"][1], known["2021-01-02/m.json"][1]) == ([DAY2], [DAY2])


# -- what depends on the names: the filing of a flat landing area, the memory a run plans for -------------


def test_filing_a_flat_landing_area_moves_only_readings_files():
    seen = int(datetime(2021, 1, 2, 6, tzinfo=ZoneInfo("Europe/London")).timestamp() * 1e9)
    names = ["a.json", "B.JSON.GZ", "notes.txt", "README", "x.json.tmp"]
    top = pl.DataFrame(
        [
            {
                "path": n,
                "size": 1,
                "mtime_ns": 1,
                "token": "t",
                "sha": "s",
                "first_seen_ns": seen,
                "days": [DAY],
                "rows": 1,
            }
            for n in names
        ],
        schema=landing.FILE_SCHEMA,
    )
    moves = archive.destinations(top, date(2021, 2, 1), set())
    assert moves.select("path", "destination").rows() == [
        ("B.JSON.GZ", "2021-01-02/B.JSON.GZ"),
        ("a.json", "2021-01-02/a.json"),
    ]


def test_a_run_plans_its_memory_for_the_json_a_gzip_file_holds_and_none_for_a_file_not_read():
    files = pl.DataFrame({"path": ["a.json", "b.JSON.GZ", "c.zip", "d.json.bak"], "size": [100, 100, 10**9, 10**9]})
    assert ingest.GZIP_EXPANSION >= 7  # the sample's files gzip to a seventh to a ninth of their size
    assert ingest.json_bytes(files) == 100 + 100 * ingest.GZIP_EXPANSION
