"""What is at the lake root (octo_assets.lake_root), on disk and on S3: nothing, the lake alone,
a lake from before Delta, one half migrated, or something the lake did not write, each said in
one sentence naming what was found and the fix; the look costs listings by the table, never by
the day; and the names the lake gives the files it writes, the only files housekeeping deletes
that no commit names. (The run, the sensor and housekeeping refusing: in_process/test_housekeeping.py;
`make migrate`: in_process/test_delta_pipeline.py, integration/test_commands.py.)"""

import uuid
from collections.abc import Callable

import polars as pl
import pytest

from octo_assets.lake import Lake
from octo_assets.lake_root import Kind, inspect, inspect_listing, written_by_lake
from octo_assets.resources import LakeStorage
from octo_assets.storage import Storage
from octo_assets_tests.support.delta_writer import as_files, rows
from octo_assets_tests.support.workspace import new_workspace

DAYS = ["2021-01-01", "2021-01-02", "2021-01-03"]
OLD = b"PAR1 a day of the lake from before Delta"
FIX_FOREIGN = "point OCTO_LAKE_DIR at an empty folder or at the lake"
FIX_MIGRATE = "`make migrate`"


def our_lake(lake: Lake, days: list[str] = DAYS) -> None:
    """The lake as runs leave it: tables at the root, under source/ and analytics/, the landing
    state, a rejected day, a migration's old files, and a table whose first commit never came."""
    for day in days:
        lake.publish("readings", "date", day, rows(1, 3), "run")
    lake.publish("source/agreement", "snapshot_date", days[0], rows(2, 2), "run")
    lake.publish("analytics/active_agreements", "as_of_date", days[0], rows(3, 2), "run")
    lake.write(rows(0, 1), "_state/landing/folders.parquet")
    lake.write(rows(0, 1), f"_rejected/readings/date={days[0]}/some-run.parquet")
    lake.storage.write_bytes(f"_migrated/readings/date={days[0]}/part-0.parquet", OLD)
    lake.storage.write_bytes(f"readings_files/date={days[0]}/part-{uuid.uuid4()}.zstd.parquet", b"PAR1")


def old_lake(lake: Lake, tables=("readings", "readings_files", "analytics/half_hourly_consumption")) -> None:
    for table in tables:
        for day in DAYS:
            lake.storage.write_bytes(f"{table}/date={day}/part-0.parquet", OLD)


def put(*paths: str) -> Callable[[Lake], None]:
    def write(lake: Lake) -> None:
        for path in paths:
            lake.storage.write_bytes(path, b"someone's")

    return write


def then(*steps: Callable[[Lake], None]) -> Callable[[Lake], None]:
    def run(lake: Lake) -> None:
        for step in steps:
            step(lake)

    return run


def half_migrated(stopped: str) -> Callable[[Lake], None]:
    """A migration stopped while publishing the old days (every old file still there) or while
    moving them (the last days' left), in the readings table; the other tables migrated."""

    def make(lake: Lake) -> None:
        our_lake(lake)
        left = DAYS if stopped == "publishing" else DAYS[-1:]
        for day in left:
            lake.storage.write_bytes(f"readings/date={day}/part-0.parquet", OLD)

    return make


# (what is there, what it is, the paths the sentence names, the fix it gives)
CASES = {
    "absent": (None, Kind.EMPTY, [], None),
    "empty": (lambda lake: None, Kind.EMPTY, [], None),
    "the lake": (our_lake, Kind.LAKE, [], None),
    "files at the root": (
        then(our_lake, put("notes.txt", "photos/cat.jpg", "warehouse.duckdb")),
        Kind.FOREIGN,
        ["notes.txt", "warehouse.duckdb", "photos/"],
        FIX_FOREIGN,
    ),
    "beside a table's log": (
        then(our_lake, put("readings/notes.txt")),
        Kind.FOREIGN,
        ["readings/notes.txt"],
        FIX_FOREIGN,
    ),
    "an old file beside a table's log": (
        then(our_lake, put("readings/part-0.parquet")),
        Kind.FOREIGN,
        ["readings/part-0.parquet"],
        FIX_FOREIGN,
    ),
    "in a day folder": (
        then(our_lake, put("readings/date=2021-01-01/mine.parquet")),
        Kind.FOREIGN,
        ["readings/date=2021-01-01/mine.parquet"],
        FIX_FOREIGN,
    ),
    "a folder in a table": (
        then(our_lake, put("readings/mine/x.parquet", "readings/date=2021-01-03/sub/y.parquet")),
        Kind.FOREIGN,
        ["readings/mine/", "readings/date=2021-01-03/sub/"],
        FIX_FOREIGN,
    ),
    "a table not the lake's": (
        then(our_lake, put("analytics/mine/_delta_log/0.json", "source/notes.txt")),
        Kind.FOREIGN,
        ["source/notes.txt", "analytics/mine/"],
        FIX_FOREIGN,
    ),
    "someone's folder": (put("readings/part-0.parquet"), Kind.FOREIGN, ["readings/part-0.parquet"], FIX_FOREIGN),
    "a lake from before Delta": (
        old_lake,
        Kind.PRE_DELTA,
        ["readings/date=2021-01-01/part-0.parquet", "readings/date=2021-01-02/part-0.parquet"],
        FIX_MIGRATE,
    ),
    "some tables migrated": (
        then(old_lake, lambda lake: lake.publish("readings_conflicts", "date", DAYS[0], rows(1, 1), "migration")),
        Kind.HALF_MIGRATED,
        ["readings/date=2021-01-01/part-0.parquet"],
        FIX_MIGRATE,
    ),
    "stopped publishing": (
        half_migrated("publishing"),
        Kind.HALF_MIGRATED,
        ["readings/date=2021-01-01/part-0.parquet", "readings/date=2021-01-03/part-0.parquet"],
        FIX_MIGRATE,
    ),
    "stopped moving": (
        half_migrated("moving"),
        Kind.HALF_MIGRATED,
        ["readings/date=2021-01-03/part-0.parquet"],
        FIX_MIGRATE,
    ),
}
ON_S3 = {"the lake", "files at the root", "in a day folder", "a lake from before Delta", "stopped moving"}


@pytest.mark.parametrize(
    "backend, case",
    [
        *(("local", case) for case in CASES),
        *(pytest.param("s3", case, marks=pytest.mark.s3, id=f"s3-{case}") for case in CASES if case in ON_S3),
    ],
)
def test_what_is_at_the_root_is_said_in_one_sentence_naming_it(tmp_path, request, backend, case):
    make, kind, named, fix = CASES[case]
    root = new_workspace(tmp_path / "ws", backend, request).lake_url
    lake = Lake(root)
    if make is not None:
        if lake.storage.is_local:
            (tmp_path / "ws" / "lake").mkdir(parents=True)
        make(lake)
    found = inspect(lake.storage)
    assert found.kind is kind, found
    said = found.problem(root)
    assert LakeStorage(root=root).problem() == said  # what a run, a tick or housekeeping stops with
    if fix is None:
        assert said is None
        return
    assert said.startswith(f"OCTO_LAKE_DIR: {root} ") and said.endswith(".") and "\n" not in said
    assert fix in said
    for path in named:
        assert path in said, path
    assert sorted(found.foreign + found.old) == sorted(set(found.foreign + found.old))  # each named once


def test_many_paths_are_counted_not_listed(tmp_path):
    storage = Storage(tmp_path)
    for n in range(7):
        storage.write_bytes(f"mine-{n}.txt", b"x")
    said = inspect(storage).problem(str(tmp_path))
    assert "mine-0.txt, mine-1.txt, mine-2.txt and 4 more" in said


def test_the_look_lists_by_the_table_never_by_the_day(tmp_path, monkeypatch):
    """A year of a lake is tens of thousands of files: what a run looks at before it starts does
    not grow with them. Counted: the folders listed (top level only) and the folders walked."""
    calls: list[tuple[str, str]] = []
    top, walk = Storage.list_top, Storage.list_files
    monkeypatch.setattr(Storage, "list_top", lambda self, *a: calls.append(("top", self.url)) or top(self, *a))
    monkeypatch.setattr(
        Storage, "list_files", lambda self, rel="", *a: calls.append(("walk", self.uri(rel))) or walk(self, rel, *a)
    )

    def looks(days: list[str]) -> list[tuple[str, str]]:
        lake = Lake(str(tmp_path / f"lake-{len(days)}"))
        our_lake(lake, days)
        calls.clear()
        assert inspect(lake.storage).kind is Kind.LAKE
        return [(how, url.removeprefix(lake.root)) for how, url in calls]

    few = looks(["2021-01-01", "2021-01-02", "2021-01-03"])
    many = looks([f"2021-{m:02d}-{d:02d}" for m in (1, 2, 3) for d in range(1, 29)])
    assert len(few) == len(many)  # the first and last day folder of each Delta table, whatever between
    # walked whole: only the table with no Delta log (its first commit never came)
    assert [url for how, url in many if how == "walk"] == ["/readings_files"]
    assert sum(1 for how, url in many if url.startswith("/readings/")) == 2


def test_a_complete_listing_finds_what_the_look_does_not(tmp_path):
    """A file of someone's in a Delta table's day folder other than its first and last is not
    looked at before a run; housekeeping lists every file anyway, and finds it."""
    lake = Lake(str(tmp_path / "lake"))
    our_lake(lake)
    lake.storage.write_bytes("readings/date=2021-01-02/mine.parquet", b"someone's")
    assert inspect(lake.storage).kind is Kind.LAKE
    listing = {t: [e.path for e in lake.storage.list_files(t)] for t in ("readings", "source/agreement")}
    found = inspect_listing(lake.storage, listing)
    assert found.kind is Kind.FOREIGN and found.foreign == ("readings/date=2021-01-02/mine.parquet",)


def test_the_names_the_lake_gives_its_files(tmp_path):
    """Every data file a publish writes, by delta-rs (a frame) or as written (a day's files), has a
    name of the lake's; nothing else has."""
    lake = Lake(str(tmp_path / "lake"))
    lake.publish("t", "date", DAYS[0], rows(1, 3), "run")  # delta-rs creates the table
    lake.publish("t", "date", DAYS[0], rows(2, 3), "run")  # and overwrites the day
    placed = as_files(rows(3, 4), tmp_path, lake, "t", DAYS[1])
    lake.publish("t", "date", DAYS[1], placed, "run")  # a day's files, as written
    lake.publish("t", "date", DAYS[1], pl.DataFrame(schema=rows(0, 0).schema), "run")  # an empty day
    files = [e.path.removeprefix("t/") for e in lake.storage.list_files("t") if "_delta_log" not in e.path]
    assert len(files) == 4, files
    assert all(written_by_lake(f, "date") for f in files), files
    name = f"part-{uuid.uuid4()}.zstd.parquet"
    assert written_by_lake(f"date=2021-01-01/.{name}.{uuid.uuid4().hex}.tmp", "date")  # its upload, killed
    for other in [
        "date=2021-01-01/part-0.parquet",  # the lake's from before Delta: moved by `make migrate`, never deleted
        "date=2021-01-01/mine.parquet",
        "date=2021-01-01/part-stray-1.parquet",
        f"date=2021-01-01/.{name}",
        f"date=2021-01-01/x{name}",
        f"date=2021-01-01/sub/{name}",
        f"{name}",
        f"mine/{name}",
        f"as_of_date=2021-01-01/{name}",  # another table's key
        f"date=/{name}",
    ]:
        assert not written_by_lake(other, "date"), other
