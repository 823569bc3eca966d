"""The Delta lake layer (octo_assets.lake, octo_assets.housekeeping) on both backends, a local folder
and S3 (SeaweedFS): readers see whole versions while a day is republished, "as of" reads, concurrent
writers (other processes: octo_assets_tests.delta_writer), the newest-deliveries guard, and
housekeeping that deletes only files no retained version needs.

Every table here holds days of rows (k, i): publishing "k with n rows" replaces a day with the rows
(k, 0) .. (k, n - 1), so what a reader sees tells which publish it came from and whether it is whole.
"""

import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from octo_assets.housekeeping import Housekept, housekeep, needed_versions
from octo_assets.lake import (
    COMMIT,
    DAY_KEY,
    PARTITION,
    STATS_STRING_CHARS,
    WATERMARK,
    Lake,
    committed_version,
    data_file,
    history,
)
from octo_assets_tests.support.delta_writer import as_files, rows
from octo_assets_tests.support.workspace import BACKENDS, new_workspace

TABLE = "readings"
D, E = "2024-03-01", "2024-03-02"
REPO = Path(__file__).resolve().parents[2]


def n_rows(k: int) -> int:
    """How many rows publish k holds: 1 + 7k mod 11, so neighbouring publishes differ
    (k = 1, 2, 3, 4, 5 hold 8, 4, 11, 7, 3 rows)."""
    return 1 + (7 * k) % 11


@pytest.fixture(params=BACKENDS)
def lake(request, tmp_path) -> Lake:
    return Lake(new_workspace(tmp_path / "ws", request.param, request).lake_url)


# -- helpers: reading as the catalog does, files, writer processes -----------------------------------


def connection(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    lake.storage.register(con)
    return con


def sql_files(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def day_groups(con, files: list[str]) -> dict[str, list[tuple]]:
    """Per day, each k's (k, rows, distinct i, min i, max i), read as the catalog's views read."""
    found = con.execute(
        f"SELECT CAST({DAY_KEY} AS VARCHAR), k, count(*), count(DISTINCT i), min(i), max(i) "
        f"FROM read_parquet({sql_files(files)}, hive_partitioning = true) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    groups: dict[str, list[tuple]] = {}
    for day, *rest in found:
        groups.setdefault(day, []).append(tuple(rest))
    return groups


def whole(k: int, n: int) -> list[tuple]:
    """What day_groups gives for a day holding publish k of n rows, whole."""
    return [(k, n, n, 0, n - 1)]


def table_rows(con, files: list[str]) -> list[tuple]:
    if not files:
        return []
    return con.execute(
        f"SELECT CAST({DAY_KEY} AS VARCHAR), k, i FROM read_parquet({sql_files(files)}, hive_partitioning = true) "
        "ORDER BY ALL"
    ).fetchall()


def expected_rows(days: dict[str, tuple[int, int]]) -> list[tuple]:
    """The rows of a table whose days hold {day: (k, n)}."""
    return sorted((day, k, i) for day, (k, n) in days.items() for i in range(n))


def polars_rows(lake: Lake, version: int | None = None) -> list[tuple]:
    frame = pl.read_delta(lake.table_uri(TABLE), version=version, storage_options=lake.storage_options)
    return sorted((str(day), k, i) for day, k, i in frame.select(DAY_KEY, "k", "i").iter_rows())


def exists(lake: Lake, uri: str) -> bool:
    return lake.storage.fs.exists(uri)


def commits(lake: Lake) -> list[dict]:
    """The table's history, oldest first."""
    return sorted(lake.delta(TABLE).history(), key=lambda c: int(c["version"]))


def moment(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def write_stray(lake: Lake, day: str) -> str:
    """A Parquet file in the day's folder that no commit references (a write that failed before
    its commit); returns its URI."""
    rel = f"{TABLE}/{DAY_KEY}={day}/part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    with lake.storage.publish(rel) as path:
        rows(-1, 3).write_parquet(path)
    return lake.storage.uri(rel)


def start_writer(folder: Path, name: str, spec: dict) -> subprocess.Popen:
    """octo_assets_tests.support.delta_writer in its own process (the S3 server's AWS_* variables inherited)."""
    path = folder / f"writer-{name}.json"
    path.write_text(json.dumps({"name": name, **spec}))
    with open(folder / f"writer-{name}.out", "wb") as out, open(folder / f"writer-{name}.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "octo_assets_tests.support.delta_writer", str(path)],
            cwd=REPO,
            stdout=out,
            stderr=err,
        )


def writer_results(folder: Path, name: str, process: subprocess.Popen, timeout: float = 150) -> list[dict]:
    code = process.wait(timeout=timeout)
    err = (folder / f"writer-{name}.err").read_text(errors="replace")
    assert code == 0, f"writer {name} failed:\n{err[-3000:]}"
    return [json.loads(line) for line in (folder / f"writer-{name}.out").read_text().splitlines()]


def run_together(folder: Path, specs: dict[str, dict]) -> dict[str, list[dict]]:
    """Start one writer per spec, let them all go at once when every one is ready, and collect what
    each published."""
    go = folder / "go"
    processes = {}
    try:
        for name, spec in specs.items():
            processes[name] = start_writer(
                folder, name, {**spec, "ready": str(folder / f"ready-{name}"), "go": str(go)}
            )
        deadline = time.monotonic() + 120
        while not all((folder / f"ready-{name}").exists() for name in specs):
            assert all(p.poll() is None for p in processes.values()), "a writer died before the start"
            assert time.monotonic() < deadline, "the writers never got ready"
            time.sleep(0.02)
        go.touch()
        return {name: writer_results(folder, name, process) for name, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


# -- 1. readers while one day is republished 100 times ----------------------------------------------


def test_readers_see_only_whole_versions_while_a_day_is_republished_100_times(lake, tmp_path):
    assert lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="fixed").version == 0  # E: never touched again
    # publish k (k = 1..100) becomes version k: D holds n_rows(k) rows, all carrying k; every other
    # publish hands the writer a staged Parquet file rather than a frame
    spec = {
        "root": lake.root,
        "table": TABLE,
        "publishes": [
            {"day": D, "k": k, "n": n_rows(k), "parquet": k % 3 == 1, "files": k % 3 == 2} for k in range(1, 101)
        ],
    }
    writer = start_writer(tmp_path, "republish", spec)
    con = connection(lake)
    observations, seen, polars_reads = 0, set(), 0
    try:
        while True:
            finished = writer.poll() is not None  # looked at before the last observation
            pinned = lake.pin(TABLE)
            version = pinned.version
            groups = day_groups(con, pinned.files)
            expected = {E: whole(0, 5)} | ({D: whole(version, n_rows(version))} if version else {})
            assert groups == expected, f"version {version} read as {groups}"
            if observations % 4 == 0:  # Polars, time travel to the pinned version, and its latest
                want = expected_rows({E: (0, 5)} | ({D: (version, n_rows(version))} if version else {}))
                assert polars_rows(lake, version) == want
                latest = pl.scan_delta(lake.table_uri(TABLE), storage_options=lake.storage_options)
                found = latest.group_by(DAY_KEY, "k").agg(pl.len(), pl.col("i").n_unique()).collect()
                by_day = {str(day): (k, n, unique) for day, k, n, unique in found.iter_rows()}
                assert len(found) == len(by_day) and by_day[E] == (0, 5, 5)
                if D in by_day:
                    k, n, unique = by_day[D]
                    assert version <= k <= 100 and n == unique == n_rows(k)
                polars_reads += 1
            observations += 1
            seen.add(version)
            if finished:
                break
    finally:
        if writer.poll() is None:
            writer.kill()
    published = writer_results(tmp_path, "republish", writer)
    assert [p["version"] for p in published] == list(range(1, 101))
    assert observations >= 30 and polars_reads >= 8, (observations, polars_reads)
    assert len(seen - {0, 100}) >= 5, f"the readers saw only versions {sorted(seen)}"
    assert lake.pin(TABLE).version == 100
    assert lake.read_day(TABLE, DAY_KEY, D).rows() == [(100, i) for i in range(n_rows(100))]
    assert lake.read_day(TABLE, DAY_KEY, E).rows() == [(0, i) for i in range(5)]
    assert lake.partition_values(TABLE, DAY_KEY) == [D, E]
    history = commits(lake)
    assert [(c["version"], c[PARTITION]) for c in history] == [(0, E)] + [(k, D) for k in range(1, 101)]


# -- 2. as-of reads ----------------------------------------------------------------------------------


def test_as_of_reads_give_the_version_current_at_each_moment(lake):
    plan = [(D, 1), (D, 2), (E, 3), (D, 4), (E, 5)]  # publish k: version k - 1
    state: dict[str, tuple[int, int]] = {}
    expected = {}
    for version, (day, k) in enumerate(plan):
        assert lake.publish(TABLE, DAY_KEY, day, rows(k, n_rows(k)), run_id=f"run-{k}").version == version
        state[day] = (k, n_rows(k))
        expected[version] = expected_rows(state)
        time.sleep(0.05)
    history = commits(lake)
    assert [c["version"] for c in history] == [0, 1, 2, 3, 4]
    assert [c[PARTITION] for c in history] == [day for day, _ in plan]
    con = connection(lake)
    for commit, following in zip(history, [*history[1:], None]):
        version = commit["version"]
        just_before_next = following["timestamp"] - 1 if following else commit["timestamp"] + 3_600_000
        for ms in (commit["timestamp"], just_before_next):
            pinned = lake.pin(TABLE, moment(ms))
            assert pinned.version == version, f"as of {moment(ms)}"
            assert pinned.committed_at == moment(commit["timestamp"])
            assert table_rows(con, pinned.files) == expected[version]
        assert polars_rows(lake, version) == expected[version]
    assert lake.pin(TABLE, moment(history[0]["timestamp"] - 1)) is None  # before the table existed
    latest = lake.pin(TABLE, datetime.now(timezone.utc) + timedelta(days=1))
    assert latest.version == 4 and table_rows(con, latest.files) == expected[4]
    assert lake.pin(TABLE).version == 4


# -- 3. concurrent writers ---------------------------------------------------------------------------


def test_four_writers_of_different_days_lose_no_commit(lake, tmp_path):
    per_writer = 5
    days = {f"w{w}": f"2024-04-0{w + 1}" for w in range(4)}
    # writer w publishes its day k = 10w + 1 .. 10w + 5, the table created by whichever commits first
    specs = {
        name: {
            "root": lake.root,
            "table": TABLE,
            "publishes": [
                {"day": day, "k": 10 * w + j, "n": n_rows(10 * w + j), "parquet": j % 3 == 0, "files": j % 3 == 1}
                for j in range(1, per_writer + 1)
            ],
        }
        for w, (name, day) in enumerate(days.items())
    }
    published = run_together(tmp_path, specs)
    total = 4 * per_writer
    assert all(p["version"] is not None for results in published.values() for p in results)
    # (the versions publish reported are not compared: see test_publish_reports_the_version_it_committed)
    history = commits(lake)
    assert [c["version"] for c in history] == list(range(total))  # no commit lost, none merged, no gap
    # every commit writes a day: the first one creates the table with it (a CREATE TABLE when it
    # committed files, as the readings do)
    assert history[0]["operation"] in {"WRITE", "CREATE TABLE"}
    assert all(c["operation"] == "WRITE" for c in history[1:])
    for w, (name, day) in enumerate(days.items()):
        # each writer's commits, in the order it made them
        assert [c["dagster_run_id"] for c in history if c[PARTITION] == day] == [
            f"writer-{name}-{j}" for j in range(per_writer)
        ]
        last = 10 * w + per_writer
        assert lake.read_day(TABLE, DAY_KEY, day).rows() == [(last, i) for i in range(n_rows(last))]
    con = connection(lake)
    final = {day: (10 * w + per_writer, n_rows(10 * w + per_writer)) for w, day in enumerate(days.values())}
    assert table_rows(con, lake.pin(TABLE).files) == expected_rows(final)


def test_concurrent_writers_of_one_day_leave_the_newest_deliveries(lake, tmp_path):
    days = ["2024-05-01", "2024-05-02", "2024-05-03"]  # one round each
    # the table exists already (creating it in a race: test_a_first_publish_racing_another_creator_...)
    assert lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="fixed").version == 0
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    # writer w built every day from deliveries up to watermark w; its rows carry k = w
    specs = {
        f"w{w}": {
            "root": lake.root,
            "table": TABLE,
            "publishes": [
                {"day": day, "k": w, "n": n_rows(w), "watermark": w, "delay": rng.uniform(0, 0.25), "files": w % 2 == 0}
                for day in days
            ],
        }
        for w in rng.sample([1, 2, 3, 4], 4)
    }
    published = run_together(tmp_path, specs)
    context = f"seed {seed}: {published}"
    assert all(p["version"] is not None for p in published["w4"]), context  # nothing newer ever stands
    current = lake.delta(TABLE)
    history = commits(lake)[1:]
    replaced = [p for results in published.values() for p in results if p["version"] is not None]
    assert len(history) == len(replaced), context
    for day in days:
        assert lake.read_day(TABLE, DAY_KEY, day).rows() == [(4, i) for i in range(n_rows(4))], context
        assert current.transaction_version(f"{DAY_KEY}={day}") == 4, context
        # the watermarks a day was committed with only ever rise: a later commit from older
        # deliveries would have replaced newer rows with older ones
        marks = [int(c[WATERMARK]) for c in history if c[PARTITION] == day]
        assert marks == sorted(set(marks)) and marks[-1] == 4, f"{context}\n{day}: {marks}"

    # afterwards, one at a time: older deliveries change nothing, unless forced
    version = current.version()
    late = lake.publish(TABLE, DAY_KEY, days[0], rows(2, 3), run_id="late", watermark_ns=2)
    assert late.version is None and not late.replaced
    assert lake.delta(TABLE).version() == version
    assert lake.read_day(TABLE, DAY_KEY, days[0]).rows() == [(4, i) for i in range(n_rows(4))]
    forced = lake.publish(TABLE, DAY_KEY, days[0], rows(1, 2), run_id="rebuild", watermark_ns=1, force=True)
    assert forced.version == version + 1
    assert lake.read_day(TABLE, DAY_KEY, days[0]).rows() == [(1, 0), (1, 1)]
    after = lake.delta(TABLE)
    assert after.transaction_version(f"{DAY_KEY}={days[0]}") == 1  # the deliveries the day is built from now
    assert after.transaction_version(f"{DAY_KEY}={days[1]}") == 4
    assert lake.read_day(TABLE, DAY_KEY, days[1]).rows() == [(4, i) for i in range(n_rows(4))]
    assert lake.read_day(TABLE, DAY_KEY, E).rows() == [(0, i) for i in range(5)]


# -- a concurrent commit at a chosen moment ----------------------------------------------------------


class Interleaved(Lake):
    """A Lake after whose n-th look at a table's latest version another writer commits (`then`):
    the interleaving a concurrent writer produces by chance, made certain (a real second commit)."""

    def __init__(self, root: str, at_look: int, then):
        super().__init__(root)
        self.looks, self.at_look, self.then = 0, at_look, then

    def delta(self, table: str, version: int | None = None):
        found = super().delta(table, version)
        if version is None:
            self.looks += 1
            if self.looks == self.at_look:
                self.then()
        return found


HISTORY_NUMBERING = (
    "delta-rs 1.6.6 DeltaTable.history() lists commits up to the newest in storage but numbers them "
    "down from the version loaded, so a commit landing after Lake loads a table shifts every number"
)


@pytest.mark.parametrize("how", ["frame", "files"])
def test_publish_reports_the_version_it_committed_though_another_commit_came_between(lake, tmp_path, how):
    assert lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="first").version == 0
    # publish reads the table, then writes: between the two, another writer commits
    racing = Interleaved(lake.root, 1, lambda: lake.publish(TABLE, DAY_KEY, E, rows(9, 1), run_id="other"))
    ours = rows(1, 3) if how == "frame" else as_files(rows(1, 3), tmp_path, lake, TABLE, D)
    published = racing.publish(TABLE, DAY_KEY, D, ours, run_id="ours")
    assert [(c["version"], c["dagster_run_id"]) for c in commits(lake)] == [(0, "first"), (1, "other"), (2, "ours")]
    assert published.version == 2
    # and one that follows ours does not change what ours reported
    lake.publish(TABLE, DAY_KEY, E, rows(8, 1), run_id="after")
    assert [c["dagster_run_id"] for c in commits(lake)] == ["first", "other", "ours", "after"]


def test_the_commits_since_a_version_are_all_found_though_more_landed_after_the_table_was_loaded(lake, tmp_path):
    """A writer of files finds its version among the commits since it read the table. In CI (S3, four
    writers) the window was counted before the newest commits were seen and the oldest, its own, fell out."""
    lake.publish(TABLE, DAY_KEY, E, rows(0, 2), run_id="first")  # version 0
    for k in range(1, 5):  # versions 1-4, each with its own commit id
        lake.publish(TABLE, DAY_KEY, D, as_files(rows(k, n_rows(k)), tmp_path, lake, TABLE, D), run_id=f"run-{k}")
    ids = {int(c["version"]): c[COMMIT] for c in commits(lake)[1:]}
    assert sorted(ids) == [1, 2, 3, 4] and len(set(ids.values())) == 4
    for since in range(4):
        for loaded in range(since + 1, 5):  # the table as a writer may hold it: commits landed after it
            found = lake.delta(TABLE, version=loaded)
            entries = history(found, since=since)
            assert sorted((int(c["version"]), c["dagster_run_id"]) for c in entries) == [
                (v, f"run-{v}") for v in range(since + 1, 5)
            ], (since, loaded)
            assert found.version() == 4
            for ours in range(since + 1, loaded + 1):
                assert committed_version(lake.delta(TABLE, version=loaded), ours - 1, ids[ours]) == ours


def test_as_of_reads_while_another_commit_lands(lake):
    for k in (1, 2):  # versions 0 and 1
        lake.publish(TABLE, DAY_KEY, D, rows(k, n_rows(k)), run_id=f"run-{k}")
        time.sleep(0.05)
    stamps = [c["timestamp"] for c in commits(lake)]
    racing = Interleaved(lake.root, 1, lambda: lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="other"))
    pinned = racing.pin(TABLE, moment(stamps[1]))  # another commit (version 2) lands as pin looks
    assert (pinned.version, pinned.committed_at) == (1, moment(stamps[1]))
    assert table_rows(connection(lake), pinned.files) == expected_rows({D: (2, n_rows(2))})
    # the latest version, another commit (3) landing as pin looks: the version and its own commit time
    racing = Interleaved(lake.root, 1, lambda: lake.publish(TABLE, DAY_KEY, E, rows(1, 5), run_id="third"))
    latest = racing.pin(TABLE)
    assert latest.version in (2, 3)
    assert latest.committed_at == moment(commits(lake)[latest.version]["timestamp"])


@pytest.mark.parametrize("how", ["frame", "files"])
def test_a_first_publish_racing_another_creator_keeps_the_newest_deliveries(lake, tmp_path, how):
    def newer():  # another run, from newer deliveries, creates the table first
        data = rows(4, n_rows(4)) if how == "frame" else as_files(rows(4, n_rows(4)), tmp_path, lake, TABLE, D)
        Lake(lake.root).publish(TABLE, DAY_KEY, D, data, run_id="newer", watermark_ns=4)

    data = rows(2, n_rows(2)) if how == "frame" else as_files(rows(2, n_rows(2)), tmp_path, lake, TABLE, D)
    older = Interleaved(lake.root, 1, newer).publish(TABLE, DAY_KEY, D, data, run_id="older", watermark_ns=2)
    assert lake.read_day(TABLE, DAY_KEY, D).rows() == [(4, i) for i in range(n_rows(4))]
    assert lake.delta(TABLE).transaction_version(f"{DAY_KEY}={D}") == 4
    assert older.version is None


@pytest.mark.parametrize("how", ["frame", "files"])
def test_a_day_from_the_same_deliveries_replaces_it_from_older_ones_does_not(lake, tmp_path, how):
    """The newest-deliveries guard's three cases, for a day written by delta-rs and for a day of
    files committed as written: the same deliveries (a re-run) and newer ones replace the day,
    older ones leave it."""

    def data(k: int):
        return rows(k, n_rows(k)) if how == "frame" else as_files(rows(k, n_rows(k)), tmp_path, lake, TABLE, D)

    assert lake.publish(TABLE, DAY_KEY, D, data(1), run_id="first", watermark_ns=100).version == 0
    assert lake.publish(TABLE, DAY_KEY, D, data(2), run_id="again", watermark_ns=100).version == 1
    assert lake.read_day(TABLE, DAY_KEY, D).rows() == [(2, i) for i in range(n_rows(2))]
    older = lake.publish(TABLE, DAY_KEY, D, data(3), run_id="older", watermark_ns=99)
    assert older.version is None and lake.delta(TABLE).version() == 1
    assert lake.publish(TABLE, DAY_KEY, D, data(4), run_id="newer", watermark_ns=101).version == 2
    assert lake.read_day(TABLE, DAY_KEY, D).rows() == [(4, i) for i in range(n_rows(4))]
    assert [c["dagster_run_id"] for c in commits(lake)] == ["first", "again", "newer"]


# -- 3b. a day committed as its files were written ---------------------------------------------------


def test_a_day_of_files_is_committed_as_written_and_replaces_the_day_whole(lake, tmp_path):
    lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="first")
    first = as_files(rows(1, 7), tmp_path, lake, TABLE, D, parts=3)
    assert lake.publish(TABLE, DAY_KEY, D, first, run_id="one", watermark_ns=10).version == 1
    served = lake.day_files(TABLE, DAY_KEY, D)
    # the files served are the files placed: nothing was encoded again, nor copied
    assert sorted(lake_rel(lake, uri) for uri in served) == sorted(f"{TABLE}/{f.rel}" for f in first)
    assert table_rows(connection(lake), lake.delta(TABLE).file_uris()) == expected_rows({D: (1, 7), E: (0, 5)})
    assert polars_rows(lake) == expected_rows({D: (1, 7), E: (0, 5)})
    # replaced by two files: the day is those only (the three before stay for older versions)
    second = as_files(rows(2, 4), tmp_path, lake, TABLE, D, parts=2)
    assert lake.publish(TABLE, DAY_KEY, D, second, run_id="two", watermark_ns=20).version == 2
    assert polars_rows(lake) == expected_rows({D: (2, 4), E: (0, 5)})
    assert len(lake.day_files(TABLE, DAY_KEY, D)) == 2
    assert polars_rows(lake, version=1) == expected_rows({D: (1, 7), E: (0, 5)})
    # a run from older deliveries is refused: nothing commits its files, which no reader sees (left
    # to housekeeping, as a lost attempt's are)
    old = as_files(rows(3, 2), tmp_path, lake, TABLE, D)
    assert lake.publish(TABLE, DAY_KEY, D, old, run_id="old", watermark_ns=15).version is None
    assert commits(lake)[-1]["dagster_run_id"] == "two"
    assert polars_rows(lake) == expected_rows({D: (2, 4), E: (0, 5)})
    assert not {f"{TABLE}/{f.rel}" for f in old} & {lake_rel(lake, uri) for uri in lake.delta(TABLE).file_uris()}


def lake_rel(lake: Lake, uri: str) -> str:
    return uri.removeprefix(lake.root.rstrip("/") + "/")


def delta_rs_stats(frame: pl.DataFrame, folder: Path) -> dict:
    """The statistics delta-rs itself writes for a file of `frame` (the reference)."""
    from deltalake import DeltaTable, write_deltalake

    target = folder / f"reference-{uuid.uuid4()}"
    write_deltalake(str(target), frame.to_arrow())
    assert len(DeltaTable(str(target)).file_uris()) == 1
    log = sorted((target / "_delta_log").glob("*.json"))[-1].read_text().splitlines()
    (stats,) = [json.loads(json.loads(line)["add"]["stats"]) for line in log if '"add"' in line]
    return stats


def random_frame(rng: random.Random, n: int, long_strings: bool = False) -> pl.DataFrame:
    def maybe(value):
        return None if rng.random() < 0.1 else value

    start = datetime(2021, 3, 27, 23, 0)
    length = STATS_STRING_CHARS + 5 if long_strings else rng.randrange(1, STATS_STRING_CHARS + 1)
    return pl.DataFrame(
        {
            "meterpoint_id": [maybe("".join(rng.choices("0123456789abcdef", k=length))) for _ in range(n)],
            "interval_start_utc": [maybe(start + timedelta(minutes=30 * rng.randrange(96))) for _ in range(n)],
            "interval_start_local": [maybe(start + timedelta(minutes=30 * rng.randrange(96))) for _ in range(n)],
            "consumption_kwh": [maybe(Decimal(rng.randrange(-2000, 200_000)) / 1000) for _ in range(n)],
            "source_file": [maybe(f"2021-03-28/{rng.randrange(100):03d}.json") for _ in range(n)],
            "n": [maybe(rng.randrange(-5, 5)) for _ in range(n)],
        },
        schema={
            "meterpoint_id": pl.String,
            "interval_start_utc": pl.Datetime("us", "UTC"),
            "interval_start_local": pl.Datetime("us"),
            "consumption_kwh": pl.Decimal(18, 3),
            "source_file": pl.Categorical,
            "n": pl.Int64,
        },
    )


@pytest.mark.parametrize("seed", range(12))
def test_a_files_statistics_are_those_delta_rs_writes(tmp_path, seed):
    """A reader skips files on their statistics: ours must say what delta-rs's own would."""
    rng = random.Random(seed)
    frame = random_frame(rng, rng.choice([1, 3, 50, 2_000]))
    if seed == 0:
        frame = frame.with_columns(n=pl.lit(None, pl.Int64))  # a column with no value at all
    path = tmp_path / "part.parquet"
    # the workers' way: pyarrow, no Arrow schema in the footer
    pq.write_table(frame.to_arrow(), path, store_schema=False, row_group_size=rng.choice([7, 1_000_000]))
    ours = json.loads(data_file(path).stats)
    assert ours == delta_rs_stats(frame.with_columns(pl.col("source_file").cast(pl.String)), tmp_path)


def test_long_strings_and_sub_millisecond_times_get_safe_bounds(tmp_path):
    frame = random_frame(random.Random(1), 50, long_strings=True).with_columns(
        pl.col("interval_start_utc") + pl.duration(microseconds=1_500)
    )
    path = tmp_path / "part.parquet"
    pq.write_table(frame.to_arrow(), path, store_schema=False)
    stats = json.loads(data_file(path).stats)
    assert "meterpoint_id" not in stats["minValues"] and "meterpoint_id" not in stats["maxValues"]
    times = frame["interval_start_utc"].drop_nulls()
    low, high = (datetime.fromisoformat(stats[k]["interval_start_utc"]) for k in ("minValues", "maxValues"))
    assert low <= times.min() and high >= times.max()  # rounded outwards to the millisecond
    assert (times.min() - low) < timedelta(milliseconds=1) and (high - times.max()) < timedelta(milliseconds=1)


# -- 4. housekeeping ---------------------------------------------------------------------------------


def publish_versions(lake: Lake, pause: float) -> tuple[dict[int, list[tuple]], dict[int, set[str]], list[dict]]:
    """Version 0: day E (k = 0, 5 rows); versions 1..6: day D replaced with k = 1..6, `pause` apart.
    Returns each version's rows and files, and the history."""
    state = {E: (0, 5)}
    assert lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="run-0").version == 0
    expected = {0: expected_rows(state)}
    for k in range(1, 7):
        time.sleep(pause)
        assert lake.publish(TABLE, DAY_KEY, D, rows(k, n_rows(k)), run_id=f"run-{k}").version == k
        state[D] = (k, n_rows(k))
        expected[k] = expected_rows(state)
    files = {v: set(lake.delta(TABLE, v).file_uris()) for v in expected}
    return expected, files, commits(lake)


def assert_readable(lake: Lake, version: int, rows_then: list[tuple], files: set[str]) -> None:
    """Every file of the version is there, and reading the version gives its rows."""
    assert set(lake.delta(TABLE, version).file_uris()) == files
    assert all(exists(lake, f) for f in files), f"version {version} lost a file"
    assert table_rows(connection(lake), sorted(files)) == rows_then
    assert polars_rows(lake, version) == rows_then


def test_housekeeping_deletes_only_files_no_retained_version_needs(lake):
    stray = write_stray(lake, D)  # a failed write's file, older than the retention by the end
    expected, files, history = publish_versions(lake, pause=0.4)
    stamps = [c["timestamp"] for c in history]
    # the window [now - retention, now] starts between versions 5 and 4's commits: it holds 5 and
    # 6, version 4 is current at its start; the catalog pins version 2; 0, 1 and 3 are not needed
    now_ms = stamps[6] + 300
    start_ms = (stamps[4] + stamps[5]) / 2
    retention = timedelta(milliseconds=now_ms - start_ms)
    assert lake.pin(TABLE, moment(start_ms)).version == 4
    done = housekeep(lake, [TABLE], retention, pinned={TABLE: 2}, now=moment(now_ms))
    # deleted: D's files of versions 1 and 3 (no needed version holds them) and the stray file;
    # E's file (every version's) and version 0 itself cost nothing. A vacuum that deletes files
    # logs itself (VACUUM START, VACUUM END: versions 7 and 8, holding version 6's files)
    assert done == [Housekept(TABLE, 8, [2, 4, 5, 6], 3)]
    assert [c["operation"] for c in commits(lake)[7:]] == ["VACUUM START", "VACUUM END"]
    assert table_rows(connection(lake), lake.pin(TABLE).files) == expected[6]
    for version in (2, 4, 5, 6):
        assert_readable(lake, version, expected[version], files[version])
    gone = (files[0] | files[1] | files[3]) - files[2] - files[4] - files[5] - files[6]
    assert len(gone) == 2 and not any(exists(lake, f) for f in gone)
    assert not exists(lake, stray)
    with pytest.raises(duckdb.Error):  # version 1 cannot be read any more: its D file went
        table_rows(connection(lake), sorted(files[1]))
    assert lake.storage.exists(f"{TABLE}/_delta_log/_last_checkpoint")


def test_housekeeping_with_a_year_of_retention_deletes_nothing(lake):
    old_stray = write_stray(lake, D)
    expected, files, _ = publish_versions(lake, pause=0.02)
    new_stray = write_stray(lake, E)
    done = housekeep(lake, [TABLE], timedelta(days=365))
    assert done == [Housekept(TABLE, 6, [0, 1, 2, 3, 4, 5, 6], 0)]
    for version in expected:
        assert_readable(lake, version, expected[version], files[version])
    assert exists(lake, old_stray) and exists(lake, new_stray)


def test_an_uncommitted_file_is_removed_only_once_older_than_the_retention(lake):
    assert lake.publish(TABLE, DAY_KEY, D, rows(1, 3), run_id="run-1").version == 0
    fresh = write_stray(lake, D)
    assert housekeep(lake, [TABLE], timedelta(hours=2)) == [Housekept(TABLE, 0, [0], 0)]
    assert exists(lake, fresh)
    if lake.storage.is_local:  # S3 cannot date a file back (see the test above for an old one there)
        old = write_stray(lake, D)
        three_hours_ago = time.time() - 3 * 3600
        os.utime(old, (three_hours_ago, three_hours_ago))
        # deleted by housekeeping itself, not by delta-rs's vacuum (which would take any file the log
        # does not name): no VACUUM commit
        assert housekeep(lake, [TABLE], timedelta(hours=2)) == [Housekept(TABLE, 0, [0], 1)]
        assert not exists(lake, old) and exists(lake, fresh)
    assert lake.read_day(TABLE, DAY_KEY, D).rows() == [(1, 0), (1, 1), (1, 2)]


def test_housekeeping_counts_only_the_files_it_deletes(lake):
    for k in (1, 2):  # version 1 replaces version 0's one file
        lake.publish(TABLE, DAY_KEY, D, rows(k, 3), run_id=f"run-{k}")
    assert housekeep(lake, [TABLE], timedelta(0)) == [Housekept(TABLE, 3, [1], 1)]  # + VACUUM START, END
    assert housekeep(lake, [TABLE], timedelta(0)) == [Housekept(TABLE, 3, [3], 0)]  # nothing left to delete


def test_housekeeping_deletes_no_file_the_lake_did_not_write(lake):
    """delta-rs's full vacuum deletes every file in a table's folder its log does not name. Files
    no listing shows (dot names: never refused, lake_root) are someone's all the same: of the files
    no commit names, housekeeping deletes only those named as the lake names its own."""
    for k in (1, 2):  # version 1 replaces version 0's one file
        lake.publish(TABLE, DAY_KEY, D, rows(k, 3), run_id=f"run-{k}")
    ours = write_stray(lake, D)
    theirs = [f"{TABLE}/{DAY_KEY}={D}/.mine.parquet", f"{TABLE}/{DAY_KEY}={D}/.DS_Store", f"{TABLE}/.notes"]
    for rel in theirs:
        lake.storage.write_bytes(rel, b"someone's")
    # version 0's file by delta-rs's vacuum of what the log names (VACUUM START, END), the stray by housekeeping
    assert housekeep(lake, [TABLE], timedelta(0)) == [Housekept(TABLE, 3, [1], 2)]
    assert not exists(lake, ours)
    assert [rel for rel in theirs if not exists(lake, lake.storage.uri(rel))] == []


# -- needed_versions, the rule -----------------------------------------------------------------------

# four commits a second apart (timestamps in ms, as Delta's history gives them)
HISTORY = [{"version": v, "timestamp": 1_000 * (v + 1)} for v in range(4)]


@pytest.mark.parametrize(
    ("cutoff_ms", "pinned", "needed"),
    [
        (2_500, set(), [1, 2, 3]),  # 1 is current at the window's start, 2 and 3 come within it
        (500, set(), [0, 1, 2, 3]),  # the window starts before the first commit: every version
        (9_000, set(), [3]),  # the window starts after the last commit: the latest only
        (9_000, {1}, [1, 3]),  # a version the catalog reads
        (2_500, {0}, [0, 1, 2, 3]),
        (3_500, {3}, [2, 3]),  # pinned and latest at once
    ],
)
def test_needed_versions(cutoff_ms, pinned, needed):
    assert needed_versions(HISTORY, moment(cutoff_ms), pinned) == needed
    assert needed_versions(HISTORY[::-1], moment(cutoff_ms), pinned) == needed  # Delta lists newest first


def test_needed_versions_at_the_edges():
    one = [{"version": 0, "timestamp": 1_000}]
    assert needed_versions(one, moment(500), set()) == [0]
    assert needed_versions(one, moment(5_000), set()) == [0]
    # a window starting at the very moment of commit 1: 1 is current then (it may keep 0 as well)
    assert {1, 2, 3} <= set(needed_versions(HISTORY, moment(2_000), set()))
    # versions with gaps (a history cut by log cleanup) and a pinned version older than all of them
    sparse = [{"version": 7, "timestamp": 1_000}, {"version": 9, "timestamp": 3_000}]
    assert needed_versions(sparse, moment(2_000), {4}) == [4, 7, 9]


# -- 5. a version pinned before later publishes ------------------------------------------------------


def test_a_pinned_version_stays_readable_until_housekept_without_its_pin(lake):
    assert lake.publish(TABLE, DAY_KEY, D, rows(1, n_rows(1)), run_id="run-1").version == 0
    assert lake.publish(TABLE, DAY_KEY, E, rows(0, 5), run_id="run-0").version == 1
    pinned = lake.pin(TABLE)  # what the catalog reads from now on
    then = expected_rows({D: (1, n_rows(1)), E: (0, 5)})
    assert pinned.version == 1
    for k in (2, 3, 4):  # versions 2, 3, 4 replace D
        lake.publish(TABLE, DAY_KEY, D, rows(k, n_rows(k)), run_id=f"run-{k}")
    assert lake.publish(TABLE, DAY_KEY, E, rows(5, 2), run_id="run-5").version == 5  # and E
    latest = expected_rows({D: (4, n_rows(4)), E: (5, 2)})
    con = connection(lake)
    assert table_rows(con, pinned.files) == then  # nothing was deleted by publishing
    assert table_rows(con, lake.pin(TABLE).files) == latest

    # D's files of versions 2 and 3 go; the pinned version's D (k = 1) and E (k = 0) stay
    # (the vacuum logs itself as versions 6 and 7)
    assert housekeep(lake, [TABLE], timedelta(0), pinned={TABLE: 1}) == [Housekept(TABLE, 7, [1, 5], 2)]
    assert all(exists(lake, f) for f in pinned.files)
    assert table_rows(connection(lake), pinned.files) == then
    assert polars_rows(lake, 1) == then

    # unpinned, the next housekeeping takes them: D k = 1 and E k = 0 (only 7, the latest, is kept;
    # how many files it says it deleted: test_housekeeping_counts_only_the_files_it_deletes)
    (done,) = housekeep(lake, [TABLE], timedelta(0))
    assert (done.version, done.kept_versions) == (9, [7])
    assert not any(exists(lake, f) for f in pinned.files)
    with pytest.raises(duckdb.Error):
        table_rows(connection(lake), pinned.files)
    assert table_rows(connection(lake), lake.pin(TABLE).files) == latest
