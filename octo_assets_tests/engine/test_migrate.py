"""`make migrate` (octo_assets.migrate.main, in this process) says what it found at OCTO_LAKE_DIR:
nothing there, an empty folder, files the lake did not write, Delta tables already: one sentence
on stderr, exit 1, nothing written; a lake stopped half way resumes and says how many days it
migrated; a day a run already built from newer deliveries stays, its old file moved aside. (A
whole lake's rows, each table's: in_process/test_delta_pipeline.py; the command as a process,
`--help` and the exit code: integration/test_commands.py.)"""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from octo_assets import migrate as migration
from octo_assets.lake import Lake
from octo_assets.lake_root import Kind, inspect
from octo_assets.storage import Storage
from octo_assets_tests.support.delta_writer import rows

DAYS = ["2021-01-01", "2021-01-02", "2021-01-03"]
TABLES = ["readings", "readings_files"]
WATERMARK = 1_609_484_400 * 10**9  # the newest delivery the old days were built from (long ago)


def old_file(k: int, n: int, watermark: int = WATERMARK) -> bytes:
    table = rows(k, n).to_arrow()
    table = table.replace_schema_metadata({migration.OLD_WATERMARK: str(watermark)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def old_lake(root) -> dict[str, bytes]:
    """Two tables of three days each, as the lake wrote them before Delta: rel -> bytes."""
    storage, files = Storage(root), {}
    for t, table in enumerate(TABLES):
        for d, day in enumerate(DAYS):
            rel = f"{table}/date={day}/part-0.parquet"
            files[rel] = old_file(10 * t + d, 2 + d)
            storage.write_bytes(rel, files[rel])
    return files


def every_file(root) -> list[str]:
    return [e.path for e in Storage(root).list_files()]


@pytest.fixture
def migrate(monkeypatch, capsys):
    """migrate(root) -> (exit code, stdout, stderr) of `make migrate` with OCTO_LAKE_DIR=root."""

    def run(root) -> tuple[int, str, str]:
        monkeypatch.setenv("OCTO_LAKE_DIR", str(root))
        code = migration.main([])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def refused(done: tuple[int, str, str]) -> str:
    """A migration that did nothing: exit 1, nothing on stdout, one sentence on stderr."""
    code, out, err = done
    assert (code, out) == (1, ""), done
    (line,) = err.strip().splitlines()
    return line


def test_a_mistyped_lake_dir_is_not_a_lake_to_migrate(tmp_path, migrate):
    nowhere = tmp_path / "lkae"
    assert refused(migrate(nowhere)) == (
        f"OCTO_LAKE_DIR: {nowhere} does not exist, so there is no lake to migrate; "
        "point OCTO_LAKE_DIR at the lake from before Delta."
    )
    assert not nowhere.exists()  # nothing was made


def test_an_empty_folder_or_a_file_is_not_a_lake_to_migrate(tmp_path, migrate):
    (tmp_path / "empty").mkdir()
    said = refused(migrate(tmp_path / "empty"))
    assert said.startswith(f"OCTO_LAKE_DIR: {tmp_path / 'empty'} is empty, so there is no lake to migrate;")
    (tmp_path / "a-file").write_text("not a folder")
    said = refused(migrate(tmp_path / "a-file"))
    assert said.startswith(f"OCTO_LAKE_DIR: {tmp_path / 'a-file'} is not a folder: nothing migrated;")
    assert every_file(tmp_path / "empty") == []


def test_a_folder_the_lake_did_not_write_is_named_and_left_alone(tmp_path, migrate):
    """Someone's folder, even with a file named as the old lake's, at a table's place."""
    root = tmp_path / "someone"
    storage = Storage(root)
    for rel in ("notes.txt", "readings/part-0.parquet", "readings/date=2021-01-01/part-0.parquet"):
        storage.write_bytes(rel, b"someone's")
    before = every_file(root)
    said = refused(migrate(root))
    assert said == (
        f"OCTO_LAKE_DIR: {root} holds what the lake did not write (notes.txt, readings/part-0.parquet); "
        "point OCTO_LAKE_DIR at an empty folder or at the lake (or move those out of it). Nothing migrated."
    )
    assert every_file(root) == before


def test_a_lake_of_delta_tables_has_nothing_to_migrate(tmp_path, migrate):
    root = tmp_path / "lake"
    Lake(str(root)).publish("readings", "date", DAYS[0], rows(1, 2), "run")
    before = every_file(root)
    said = refused(migrate(root))
    assert said.startswith(f"OCTO_LAKE_DIR: {root} holds Delta tables already (readings) and no file from before")
    assert "nothing to migrate" in said
    assert every_file(root) == before


def test_a_migration_stopped_half_way_resumes_and_says_how_many_days_it_migrated(
    tmp_path, migrate, monkeypatch, capsys
):
    root = tmp_path / "lake"
    old = old_lake(root)
    code, out, _ = migrate(root)  # the whole migration, for the counts it says
    assert code == 0 and "Migrated 6 day(s) of 2 table(s)" in out

    root = tmp_path / "stopped"
    old = old_lake(root)
    moved = []
    move = Storage.move

    def stopping(self, rel, target):  # the process killed after the readings' first two moves
        if len(moved) == 2:
            raise KeyboardInterrupt
        moved.append(rel)
        move(self, rel, target)

    monkeypatch.setattr(Storage, "move", stopping)
    with pytest.raises(KeyboardInterrupt):
        migrate(root)
    capsys.readouterr()  # what the stopped one said
    monkeypatch.setattr(Storage, "move", move)
    assert inspect(Storage(root)).kind is Kind.HALF_MIGRATED

    code, out, err = migrate(root)
    assert (code, err) == (0, "")
    assert out.startswith(f"Migrating the Parquet lake {root} to Delta tables (resuming: it was half migrated)")
    assert "Migrated 4 day(s) of 2 table(s)" in out  # the readings' last day, and readings_files' three
    assert inspect(Storage(root)).kind is Kind.LAKE
    storage = Storage(root)
    assert all(storage.read_bytes(f"_migrated/{rel}") == content for rel, content in old.items())
    lake = Lake(str(root))
    for t, table in enumerate(TABLES):
        for d, day in enumerate(DAYS):
            assert lake.read_day(table, "date", day).rows() == rows(10 * t + d, 2 + d).rows()


def test_a_day_a_run_built_from_newer_deliveries_stays_and_its_old_file_is_moved_aside(tmp_path, migrate):
    """A lake from before Delta that a run wrote into (before runs refused one): the run's day,
    built from newer deliveries, is what the table serves; the old one is kept under _migrated/."""
    root = tmp_path / "lake"
    old = old_lake(root)
    lake = Lake(str(root))
    lake.publish("readings", "date", DAYS[1], rows(99, 1), "a-run", WATERMARK + 1)
    code, out, _ = migrate(root)
    assert code == 0
    assert "1 built since from newer deliveries: kept" in out
    assert "Migrated 5 day(s) of 2 table(s), 1 old day(s) already rebuilt from newer deliveries" in out
    assert lake.read_day("readings", "date", DAYS[1]).rows() == rows(99, 1).rows()
    assert lake.read_day("readings", "date", DAYS[0]).rows() == rows(0, 2).rows()
    assert (
        Storage(root).read_bytes(f"_migrated/readings/date={DAYS[1]}/part-0.parquet")
        == old[f"readings/date={DAYS[1]}/part-0.parquet"]
    )
