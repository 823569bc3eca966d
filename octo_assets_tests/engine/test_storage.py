"""The storage layer on both backends: a folder on disk and a real S3 server (SeaweedFS)."""

import errno
import hashlib
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

import octo_assets.storage as storage_module
from octo_assets.lake import Lake
from octo_assets.storage import ABSENT, READ_AHEAD_FILES, Storage, VersionConflict, VersionUnsure
from octo_assets_tests.support.workspace import BACKENDS, TEST_BUCKET


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path) -> Storage:
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        return Storage(f"s3://{TEST_BUCKET}/{uuid.uuid4().hex[:12]}")
    return Storage(tmp_path / "root")


def test_a_published_file_replaces_the_old_one_whole_or_not_at_all(storage):
    storage.write_bytes("t/date=1/part-0.parquet", b"old")
    with pytest.raises(RuntimeError):
        with storage.publish("t/date=1/part-0.parquet") as path:
            path.write_bytes(b"half of the new one")
            raise RuntimeError("the writer died")
    assert storage.read_bytes("t/date=1/part-0.parquet") == b"old"
    storage.write_bytes("t/date=1/part-0.parquet", b"new")
    assert storage.read_bytes("t/date=1/part-0.parquet") == b"new"
    assert [e.path for e in storage.list_files()] == ["t/date=1/part-0.parquet"]  # no temporary file left


def test_a_conditional_publish_is_a_compare_and_swap(storage):
    storage.write_bytes("state.bin", b"1", expect=ABSENT)
    with pytest.raises(VersionConflict):
        storage.write_bytes("state.bin", b"2", expect=ABSENT)  # it exists now
    first = storage.version("state.bin")
    storage.write_bytes("state.bin", b"2", expect=first)
    with pytest.raises(VersionConflict):
        storage.write_bytes("state.bin", b"3", expect=first)  # someone published after we read
    assert storage.read_bytes("state.bin") == b"2"
    assert storage.version("state.bin") not in (None, first)
    assert storage.version("missing.bin") is None


def test_listing_is_recursive_sorted_and_gives_sizes_and_versions(storage):
    storage.write_bytes("b.json", b"12345")
    storage.write_bytes("2021-01-04/a.json", b"1")
    storage.write_bytes("notes.txt", b"x")
    listed = storage.list_files(suffix=".json")
    assert [(e.path, e.size) for e in listed] == [("2021-01-04/a.json", 1), ("b.json", 5)]
    before = {e.path: e.token for e in listed}
    storage.write_bytes("b.json", b"54321")  # same size, new content: a re-delivery
    after = {e.path: e.token for e in storage.list_files(suffix=".json")}
    assert after["b.json"] != before["b.json"] and after["2021-01-04/a.json"] == before["2021-01-04/a.json"]


def test_many_files_are_read_in_order_and_a_missing_one_gives_its_error(storage):
    storage.write_bytes("a.json", b"a")
    storage.write_bytes("c.json", b"c")
    found = storage.read_many(["c.json", "b.json", "a.json"])
    assert found[0] == b"c" and found[2] == b"a"
    assert isinstance(found[1], FileNotFoundError)
    assert storage.read_many([]) == []


def test_a_listing_without_a_suffix_holds_every_file_but_hidden_names(storage):
    """What the landing area lists (readings.landing): every name, whatever it ends with; names
    starting with a dot, files or folders, are left out (temporary, lock and system files)."""
    for name in ["a.json", "B.JSON", "c.json.gz", "notes.txt", "README", "d/x.zip", "d/e/y.json.tmp"]:
        storage.write_bytes(name, b"x")
    for hidden in [".DS_Store", "d/.y.json.Ab12Cd", ".git/config", "d/.cache/z.json"]:
        storage.write_bytes(hidden, b"x")
    assert [e.path for e in storage.list_files()] == [
        "B.JSON", "README", "a.json", "c.json.gz", "d/e/y.json.tmp", "d/x.zip", "notes.txt"
    ]  # fmt: skip
    top, folders = storage.list_top()
    assert sorted(top["path"]) == ["B.JSON", "README", "a.json", "c.json.gz", "notes.txt"] and folders == ["d"]


def test_files_are_hashed_a_chunk_at_a_time_in_order_and_a_missing_one_gives_its_error(storage, monkeypatch):
    monkeypatch.setattr(storage_module, "HASH_CHUNK", 7)
    big = bytes(range(256)) * 50
    storage.write_bytes("big.zip", big)
    storage.write_bytes("empty.txt", b"")
    found = storage.sha256_many(["big.zip", "gone.txt", "empty.txt"])
    assert found[0] == hashlib.sha256(big).hexdigest() and found[2] == hashlib.sha256(b"").hexdigest()
    assert isinstance(found[1], FileNotFoundError)
    assert storage.sha256_many([]) == []


def test_on_disk_files_are_hashed_only_as_the_settled_versions_asked_for(tmp_path, monkeypatch):
    storage = Storage(tmp_path / "root")
    storage.write_bytes("same.zip", b"old")
    storage.write_bytes("replaced.zip", b"old")
    listed = {e.path: e.token for e in storage.list_files()}
    names = sorted(listed)
    assert all(isinstance(h, VersionUnsure) for h in storage.sha256_many(names, [listed[n] for n in names]))
    monkeypatch.setattr(time, "time_ns", lambda: time.clock_gettime_ns(time.CLOCK_REALTIME) + 2 * 10**9)
    storage.write_bytes("replaced.zip", b"new")
    found = dict(zip(names, storage.sha256_many(names, [listed[n] for n in names])))
    assert found["same.zip"] == hashlib.sha256(b"old").hexdigest() and isinstance(found["replaced.zip"], VersionUnsure)


def test_on_disk_files_read_a_window_ahead_come_back_in_order_and_no_descriptor_is_left_open(tmp_path):
    """read_many opens a window of files before reading them (their reads queued at once)."""
    storage = Storage(tmp_path / "root")
    names = [f"{n:04d}.json" for n in range(READ_AHEAD_FILES * 2 + 7)]
    for name in names[::2]:  # every other file is missing
        storage.write_bytes(name, name.encode() * 1000)
    (tmp_path / "root" / "folder.json").mkdir()  # opens, but cannot be read
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    asked = [*names, "folder.json", names[0]]  # a name twice: read twice
    found = storage.read_many(asked)
    assert len(found) == len(asked)
    for name, raw in zip(asked, found):
        if name == "folder.json":
            assert isinstance(raw, IsADirectoryError)
        elif int(name[:4]) % 2:
            assert isinstance(raw, FileNotFoundError)
        else:
            assert raw == name.encode() * 1000
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) == fds_before


def test_on_disk_files_are_read_only_as_the_settled_versions_asked_for(tmp_path, monkeypatch):
    storage = Storage(tmp_path / "root")
    for name in ("same.json", "rewritten.json", "replaced.json"):
        storage.write_bytes(name, b"old")
    listed = {e.path: e.token for e in storage.list_files()}
    names = sorted(listed)
    found = storage.read_many(names, [listed[name] for name in names])
    assert all(isinstance(raw, VersionUnsure) for raw in found)  # changed within the last second
    monkeypatch.setattr(time, "time_ns", lambda: time.clock_gettime_ns(time.CLOCK_REALTIME) + 2 * 10**9)
    (tmp_path / "root" / "rewritten.json").write_bytes(b"new")  # in place: the ctime changes
    storage.write_bytes("replaced.json", b"new")  # renamed over: another inode
    found = dict(zip(names, storage.read_many(names, [listed[name] for name in names])))
    assert found["same.json"] == b"old"
    assert isinstance(found["rewritten.json"], VersionUnsure) and isinstance(found["replaced.json"], VersionUnsure)
    assert storage.read_many(["same.json"], ["1-2"])[0].errno == errno.ESTALE


def test_on_disk_a_copy_keeping_the_old_mtime_is_still_a_new_version(tmp_path):
    """`cp -p`, `rsync -t` and `mv` keep the modification time; the version still changes."""
    storage = Storage(tmp_path / "landing")
    storage.write_bytes("m.json", b"first")
    first = storage.list_files()[0]
    source = tmp_path / "corrected.json"
    source.write_bytes(b"fixed")  # same size
    os.utime(source, ns=(first.mtime_ns, first.mtime_ns))
    shutil.copy2(source, tmp_path / "landing" / "m.json")  # cp -p
    second = storage.list_files()[0]
    assert (second.size, second.mtime_ns) == (first.size, first.mtime_ns)
    assert second.token != first.token
    os.rename(tmp_path / "landing" / "m.json", tmp_path / "landing" / "moved.json")  # mv within the landing
    assert storage.list_files()[0].token != second.token


def test_a_partition_is_never_replaced_by_one_built_from_an_older_listing(storage):
    """A day's commit carries the newest delivery it was built from (watermark_ns): a day built
    from older deliveries never replaces it, one built from the same or newer deliveries does, and
    an operator's forced rebuild does. The watermark is the day's own (other days are not held)."""
    lake = Lake(storage)
    day = "2021-01-02"

    def publish(kwh: int, watermark_ns: int, force: bool = False, on: str = day):
        return lake.publish("readings", "date", on, pl.DataFrame({"kwh": [kwh]}), f"run-{kwh}", watermark_ns, force)

    def served(on: str = day) -> list[int]:
        return lake.read_day("readings", "date", on)["kwh"].to_list()

    assert publish(1, watermark_ns=100).replaced
    assert publish(2, watermark_ns=300).replaced
    kept = publish(9, watermark_ns=200)  # older: kept
    assert not kept.replaced and kept.version is None
    assert served() == [2]
    assert lake.delta("readings").transaction_version(f"date={day}") == 300
    assert publish(3, watermark_ns=300).replaced  # a re-run from the same deliveries: replaced
    assert served() == [3]
    assert publish(4, watermark_ns=50, on="2021-01-03").replaced  # another day: its own watermark
    assert served("2021-01-03") == [4] and served() == [3]
    assert publish(5, watermark_ns=200, force=True).replaced  # an operator's rebuild: replaced
    assert served() == [5]
    newest = lake.delta("readings").history(limit=1)[0]
    assert (newest["dagster_run_id"], newest["partition"]) == ("run-5", day)


def test_concurrent_publishers_of_a_day_leave_the_one_built_from_the_newest_deliveries(storage):
    """Runs publishing one day at once, in any order: the check of the published watermark and
    the commit are one transaction, so the day ends as the newest deliveries built it."""
    lake = Lake(storage)
    lake.publish("readings", "date", "2021-01-02", pl.DataFrame({"kwh": [0]}), "first", 1)
    watermarks = [7, 3, 8, 1, 5, 2, 6, 4]
    with ThreadPoolExecutor(len(watermarks)) as pool:
        done = list(
            pool.map(
                lambda w: lake.publish("readings", "date", "2021-01-02", pl.DataFrame({"kwh": [w]}), f"run-{w}", w),
                watermarks,
            )
        )
    assert done[watermarks.index(8)].replaced  # the newest is never the one kept out
    assert lake.read_day("readings", "date", "2021-01-02")["kwh"].to_list() == [8]
    assert lake.delta("readings").transaction_version("date=2021-01-02") == 8


def test_an_unreachable_or_missing_bucket_is_named_in_one_sentence(s3_server, monkeypatch):
    assert Storage(f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/x").reachable_problem().startswith("bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    problem = Storage(f"s3://{TEST_BUCKET}/elsewhere").reachable_problem()
    assert problem.startswith("cannot reach http://127.0.0.1:9") and "AWS_ENDPOINT_URL" in problem


# -- durable writes ---------------------------------------------------------------------------------------


def test_a_local_publish_syncs_the_file_before_its_rename_and_the_folder_after(tmp_path, monkeypatch):
    """Atomic against a killed process is not durable against a power cut: the bytes must reach
    the disk before the name points at them, and the name after. The calls are recorded as they
    happen (the real calls still run). The plain files the lake still writes itself (an audit's
    rejects, the landing state) go this way; the Delta tables are delta-rs's to write."""
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("rename", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    storage = Storage(tmp_path / "lake")
    storage.write_bytes("_rejected/readings/date=2021-01-01/run-1.parquet", b"data")
    target = str(tmp_path / "lake" / "_rejected" / "readings" / "date=2021-01-01" / "run-1.parquet")
    folder = os.path.dirname(target)
    synced_file = [path for kind, path in calls if kind == "fsync" and path.endswith(".tmp")]
    assert len(synced_file) == 1
    order = [(kind, path) for kind, path in calls if path in (synced_file[0], target, folder)]
    assert order == [("fsync", synced_file[0]), ("rename", target), ("fsync", folder)]
    # the new folders themselves were made durable in their parents
    assert ("fsync", str(tmp_path / "lake" / "_rejected" / "readings")) in calls
