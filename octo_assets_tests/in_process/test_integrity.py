"""Nothing silently lost in real operation: what day-after-day running does to data, class by class.

- a snapshot that fails a blocking check is never published (write, audit, publish);
- a value that does not fit its source column fails the snapshot, nothing is coerced;
- a re-run never blanks a day whose landing files are gone, unless forced;
- the catalog survives analysts' killed sessions;
- local writes are durable (fsync of the file before its rename, of the folder after);
- one timestamp grammar, and every row of every file accounted for across days.
"""

import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import date

import dagster as dg
import duckdb
import pytest

from octo_assets import connect
from octo_assets.lake import Lake
from octo_assets.storage import Storage
from octo_assets_tests.support.runs import check_outcomes, failure_message, materialize, snapshot
from octo_assets_tests.support.workspace import PAIR_SOURCE, UNTYPED_SOURCE_DDL, Workspace, new_workspace

DAY = "2021-01-01"
READINGS = dg.AssetSelection.assets(["lake", "readings"])
DAILY = dg.AssetSelection.groups("readings", "analytics").materializable()
CATALOG = dg.AssetSelection.assets(["warehouse", "catalog"])
AGREEMENTS, PRODUCTS, METERPOINTS = PAIR_SOURCE["agreement"], PAIR_SOURCE["product"], PAIR_SOURCE["meterpoint"]


def snapshot_dates(ws, table: str = "product") -> list[str]:
    return Lake(ws.lake_storage()).partition_values(f"source/{table}", "snapshot_date")


def rows(day: str, meterpoint: str, kwh: float = 0.5, half_hours: int = 4) -> list:
    return [[f"{day} {h // 2:02d}:{30 * (h % 2):02d}:00", kwh, meterpoint] for h in range(half_hours)]


def build_day(ws, instance) -> None:
    """The source snapshotted once (2021-01-01), two meterpoints' readings for DAY built."""
    ws.write_source(AGREEMENTS, PRODUCTS, METERPOINTS)
    assert snapshot(ws, instance, "2021-01-01").success
    ws.write_readings("m1.json", rows(DAY, "m1"))
    ws.write_readings("m2.json", rows(DAY, "m2"))
    assert materialize(ws, instance, DAILY, [DAY]).success


@pytest.fixture(scope="module")
def built_day_template(tmp_path_factory) -> Workspace:
    ws = new_workspace(tmp_path_factory.mktemp("template"), "local", None)
    with dg.DagsterInstance.ephemeral() as instance:
        build_day(ws, instance)
    return ws


@pytest.fixture
def built_day(workspace, instance, built_day_template):
    """build_day's workspace: on disk a copy of this module's template (its source, landing files
    and lake), on S3 built there."""
    if workspace.s3:
        build_day(workspace, instance)
        return workspace
    template = built_day_template
    shutil.copy(template.source_db, workspace.source_db)
    shutil.copytree(template.readings, workspace.readings, dirs_exist_ok=True)
    workspace.install_lake(template.lake)
    return workspace


# -- write, audit, publish -------------------------------------------------------------------------


def product_names(ws) -> set:
    return {name for (name,) in ws.query_lake("SELECT product_display_name FROM {analytics/daily_product_consumption}")}


def on_s3(*values):
    """A parameter set run on the S3 server (the `workspace` fixture's value last)."""
    return pytest.param(*values, "s3", marks=pytest.mark.s3, id="-".join(map(str, values)) + "-s3")


@pytest.mark.parametrize(
    "damage, check, workspace",
    [
        on_s3("INSERT INTO product VALUES ('Fixed again', 0, 3, 'p1')", "product_id_unique"),
        ("INSERT INTO product VALUES ('Fixed again', 0, 3, 'p1')", "product_id_unique", "local"),
        (
            "INSERT INTO agreement VALUES (3, '2020-01-01', NULL, 'p-gone', 'm1', 'a3')",
            "agreement_product_exists",
            "local",
        ),
        (
            "UPDATE agreement SET agreement_valid_to = '2019-01-01' WHERE agreement_id = 2",
            "agreement_valid_dates",
            "local",
        ),
        ("UPDATE agreement SET agreement_valid_from = NULL WHERE agreement_id = 1", "agreement_valid_dates", "local"),
    ],
    indirect=["workspace"],
)
def test_a_snapshot_failing_a_blocking_check_is_kept_aside_and_the_last_good_one_stays(
    built_day, instance, damage, check
):
    ws = built_day
    with sqlite3.connect(ws.source_db) as con:  # the business renames a product, and breaks something
        con.execute("UPDATE product SET display_name = 'Renamed' WHERE product_id = 'p1'")
        con.execute(damage)
    con.close()
    result = snapshot(ws, instance, "2021-01-02")
    assert not result.success
    message = failure_message(result)
    assert "2021-01-02 snapshot" in message and check in message and "previous snapshot stays in use" in message
    assert snapshot_dates(ws) == ["2021-01-01"]  # the last good snapshot is still the latest
    outcome = check_outcomes(result)[check]
    assert outcome[0] is False and outcome[2]["published"] is False
    rejected = Storage(ws.lake_url).list_files("_rejected/source/product")
    assert [e.path.rsplit("/", 2)[-2] for e in rejected] == ["snapshot_date=2021-01-02"]  # kept, to inspect
    # the next daily run builds from the last good snapshot, not the rejected one
    assert materialize(ws, instance, DAILY, [DAY]).success
    assert product_names(ws) == {"Fixed", "Flexible"}


# -- nothing coerced from the source ---------------------------------------------------------------


@pytest.mark.parametrize(
    "table, column, literal, shown",
    [
        ("agreement", "agreement_id", "'0042'", "'0042' (stored as text) is not an integer"),
        ("agreement", "agreement_valid_to", "20210105", "20210105 (stored as integer) is not a date"),
    ],
)
def test_a_value_that_does_not_fit_its_column_fails_the_snapshot_naming_it(
    workspace, instance, table, column, literal, shown
):
    """SQLite stores what a writer gives it; a cast would turn 'A-17' into 0 and '0042' into 42. The
    step fails with read_source's sentence, and the last good snapshot stays (every kind of value:
    engine/test_source_read.py)."""
    ws = workspace
    ws.write_source(AGREEMENTS, PRODUCTS, METERPOINTS, ddl=UNTYPED_SOURCE_DDL)
    assert snapshot(ws, instance, "2021-01-01").success
    with sqlite3.connect(ws.source_db) as con:
        con.execute(f"UPDATE {table} SET {column} = {literal} WHERE rowid = 2")
    con.close()
    result = snapshot(ws, instance, "2021-01-02")
    assert not result.success
    message = failure_message(result)
    assert f"table '{table}', column '{column}', row 2: {shown}" in message
    assert "nothing was converted" in message
    assert snapshot_dates(ws, table) == ["2021-01-01"]


# -- a re-run never blanks a day ---------------------------------------------------------------------


def day_rows(ws) -> list:
    return ws.query_lake(
        f"SELECT meterpoint_id, count(*) FROM {{readings}} WHERE date = DATE '{DAY}' GROUP BY 1 ORDER BY 1"
    )


FORCE = {"ops": {"lake__readings": {"config": {"force": True}}}}


@pytest.mark.parametrize(
    "gone, workspace",
    [(["m1.json", "m2.json"], "local"), (["m2.json"], "local"), on_s3(["m2.json"])],
    indirect=["workspace"],
)
def test_a_rerun_of_a_day_whose_files_are_gone_fails_in_one_sentence_and_keeps_the_day(built_day, instance, gone):
    ws = built_day
    before = day_rows(ws)
    for name in gone:
        (ws.readings / name).rename(ws.root / name)  # archived
    result = materialize(ws, instance, READINGS, [DAY])
    assert not result.success
    message = failure_message(result)
    assert message.startswith(f"{DAY}: {len(gone)} landing file(s) its published readings came from are gone")
    assert "force: true" in message and "\n" not in message
    assert day_rows(ws) == before
    # the operator decides: rebuild the day from what is there now
    forced = materialize(ws, instance, READINGS, [DAY], run_config=FORCE) if len(gone) < 2 else None
    if forced is not None:
        assert forced.success
        assert day_rows(ws) == [("m1", 4)]


def test_a_file_moved_within_the_landing_area_is_not_gone(built_day, instance):
    ws = built_day
    before = day_rows(ws)
    (ws.readings / "archive").mkdir()
    (ws.readings / "m2.json").rename(ws.readings / "archive" / "m2.json")
    assert materialize(ws, instance, READINGS, [DAY]).success
    assert day_rows(ws) == before


def test_a_day_no_landing_file_holds_is_not_published_unless_asked(built_day, instance):
    ws = built_day
    result = materialize(ws, instance, READINGS, ["2021-01-05"])
    assert not result.success
    assert failure_message(result).startswith("2021-01-05: no landing file holds a reading of this day")
    assert ws.published_day("readings", "date", "2021-01-05") is None  # no commit of the day
    allowed = {"ops": {"lake__readings": {"config": {"allow_empty_days": True}}}}
    allowed_run = materialize(ws, instance, READINGS, ["2021-01-05"], run_config=allowed)
    assert allowed_run.success
    # published empty: a commit of the day that adds no file (Delta writes none for no rows)
    empty = ws.published_day("readings", "date", "2021-01-05")
    assert (empty.run_id, empty.files, empty.rows) == (allowed_run.run_id, (), [])
    assert ws.days("readings") == [DAY]


# -- the catalog survives analysts --------------------------------------------------------------------

KILLED_SESSION = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write, as an analyst might
con.execute("SET wal_autocheckpoint = '1TB'")
con.execute("CREATE TABLE analyst_scratch AS SELECT 42 AS answer")
print("written", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("leftover", ["killed session", "garbage"])
def test_a_stale_write_ahead_log_never_breaks_the_next_catalog(built_day, instance, leftover, tmp_path):
    ws = built_day
    assert materialize(ws, instance, CATALOG).success
    wal = tmp_path / "unused"
    if leftover == "killed session":
        session = subprocess.Popen([sys.executable, "-c", KILLED_SESSION, ws.warehouse], stdout=subprocess.PIPE)
        assert session.stdout.readline() == b"written\n"
        session.send_signal(signal.SIGKILL)
        session.wait()
        wal = ws.root / "warehouse.duckdb.wal"
        assert wal.is_file()  # what a killed read-write session leaves
    else:
        (ws.root / "warehouse.duckdb.wal").write_bytes(b"\x00" * 4096)
    assert materialize(ws, instance, CATALOG).success  # the next swap
    with connect(ws.warehouse) as reader:  # read-only
        assert reader.execute("SELECT count(*) FROM lake.readings").fetchall() == [(8,)]
    with duckdb.connect(ws.warehouse) as writer:  # and read-write
        assert writer.execute("SELECT count(*) FROM analytics.half_hourly_consumption").fetchall() == [(4,)]


# -- one timestamp grammar, every row accounted for -----------------------------------------------------


@pytest.mark.parametrize("odd", ["2021-01-02T00:30:00"])
def test_one_timestamp_grammar_the_day_scan_and_the_parser_agree(workspace, instance, odd):
    """A row in another form than YYYY-MM-DD HH:MM:SS is quarantined, on its file's day, and the
    file is filed under the days of its valid rows only: a re-run of any day loses nothing. Here
    through Dagster, into the tables; every form of it: engine/test_ingest.py."""
    ws = workspace
    ws.write_source(AGREEMENTS, PRODUCTS, METERPOINTS)
    assert snapshot(ws, instance, "2021-01-01").success
    ws.write_readings(
        "m1.json", [*rows(DAY, "m1", half_hours=2), [odd, 1.0, "m1"], *rows("2021-01-02", "m1", half_hours=2)]
    )
    for day in (DAY, "2021-01-02", DAY, "2021-01-02"):  # each day, and each again
        assert materialize(ws, instance, READINGS, [day]).success
    loaded = ws.query_lake("SELECT date::VARCHAR, count(*) FROM {readings} GROUP BY 1 ORDER BY 1")
    assert loaded == [(DAY, 2), ("2021-01-02", 2)]
    quarantined = ws.query_lake("SELECT date::VARCHAR, row_number, reason FROM {readings_quarantine}")
    assert quarantined == [(DAY, 3, "interval_start is not a YYYY-MM-DD HH:MM:SS time")]
    accounted = ws.query_lake(
        "SELECT source_file, sum(rows_loaded + duplicates + rows_quarantined) FROM {readings_files} GROUP BY 1"
    )
    assert accounted == [("m1.json", 5)]  # every row of the file, once, across its days
    days = ws.query_lake("SELECT days FROM '{lake}/_state/landing/files/*.parquet'")
    assert days == [([date(2021, 1, 1), date(2021, 1, 2)],)]
