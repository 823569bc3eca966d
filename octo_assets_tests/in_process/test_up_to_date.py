"""`make run` brings the lake up to date and does nothing more (octo_assets.run.up_to_date): a day
is built when a landing file holding it is new or changed, when it was never built, or when a new
snapshot moves its analytics; anything else is left as it is, and a run with nothing new commits
nothing. Each test changes one input of a small built lake (three days delivered in dated
folders, one closed and two open) and compares what the second run built with what changed; where
it built, the tables equal a from-scratch build of the same inputs."""

import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import dagster as dg
import pytest
from deltalake import write_deltalake

from octo_assets.lake import Lake, lake_tables
from octo_assets.run.pipeline import Built, print_plan, run_pipeline
from octo_assets_tests.support.workspace import SMALL_SOURCE, Workspace, new_workspace

TABLES = lake_tables(("active_agreements", "half_hourly_consumption", "daily_product_consumption"))
# delivery folder -> the day its file holds: the first folder is closed (older than the two open
# ones), so a second run does not list it
DELIVERIES = {"2021-01-02": "2021-01-01", "2021-01-03": "2021-01-02", "2021-01-04": "2021-01-03"}
DAYS = sorted(DELIVERIES.values())


def rows(day: str, meterpoint: str = "m1", kwh: float = 0.5) -> list:
    return [[f"{day} {h:02d}:{m:02d}:00", kwh, meterpoint] for h in range(24) for m in (0, 30)]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Workspace:
    """The three days built once a module; each test changes a copy of it."""
    ws = new_workspace(tmp_path_factory.mktemp("template"), "local", None)
    ws.write_source(SMALL_SOURCE["agreement"], SMALL_SOURCE["product"], SMALL_SOURCE["meterpoint"])
    for folder, day in DELIVERIES.items():
        ws.write_readings(f"{folder}/m1.json", rows(day))
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_pipeline(instance, ws.resources()).days == DAYS
    return ws


@pytest.fixture
def built(template, tmp_path) -> Workspace:
    """A copy of the built template, run once more: its landing files, copied with their times
    (`cp -p`), are new versions of the same content (nothing to build), and its folders, new on disk,
    are listed once; from then on the oldest folder is closed (not listed)."""
    shutil.copytree(template.root, tmp_path / "ws", symlinks=True)
    ws = Workspace(tmp_path / "ws")
    assert run(ws).days == []
    return ws


def versions(ws) -> dict[str, int | None]:
    lake = Lake(ws.lake_url)
    return {table: (found.version() if (found := lake.delta(table)) else None) for table in TABLES}


def run(ws, *days: str, **options) -> Built:
    with dg.DagsterInstance.ephemeral() as instance:
        return run_pipeline(instance, ws.resources(), tuple(days) or None, **options)


def plan_of(built: Built) -> str:
    printed = io.StringIO()
    with redirect_stdout(printed):
        print_plan(built)
    return printed.getvalue()


def contents(ws) -> dict[str, list]:
    """Every table's rows, its columns in name order (a column added to a table comes last)."""
    found = {}
    for table in TABLES:
        names = sorted(name for name, *_ in ws.query_lake(f"DESCRIBE SELECT * FROM {{{table}}}"))
        columns = ", ".join(f'"{name}"' for name in names)
        found[table] = (names, ws.query_lake(f"SELECT {columns} FROM {{{table}}} ORDER BY ALL"))
    return found


def from_scratch(ws, tmp_path: Path) -> dict[str, list]:
    """The tables a first run makes of `ws`'s landing files and source, in a new lake."""
    fresh = Workspace(tmp_path / "scratch")
    shutil.copytree(ws.readings, fresh.readings)
    shutil.copy(ws.source_db, fresh.source_db)
    run(fresh)
    return contents(fresh)


def test_a_second_run_commits_nothing_and_says_every_day_is_up_to_date(built):
    before = versions(built)
    again = run(built)
    assert (again.days, again.corrected, again.kept, again.catalog) == ([], {}, {}, "")
    assert again.up_to_date == DAYS
    assert again.snapshot.startswith("unchanged")
    assert versions(built) == before
    plan = plan_of(again)
    assert "up to date: 3 day(s) within 2021-01-01 .. 2021-01-03" in plan
    assert "nothing to build: every landed day is up to date, nothing was committed" in plan


@pytest.mark.parametrize(
    "redeliver",
    [
        pytest.param(lambda path: path.touch(), id="touched"),
        pytest.param(lambda path: shutil.copy(path, path.with_name("copy.json")) and None, id="copied"),
        pytest.param(lambda path: (path.rename(path.with_name("renamed.json"))), id="renamed"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()), id="rewritten, same bytes"),
    ],
)
def test_a_file_delivered_again_with_the_same_content_builds_nothing(built, redeliver):
    before = versions(built)
    redeliver(built.readings / "2021-01-04" / "m1.json")
    again = run(built)
    assert again.days == [] and versions(built) == before


def test_a_new_file_builds_its_day_only_and_says_which_file(built, tmp_path):
    before = versions(built)
    built.write_readings("2021-01-04/m2.json", rows("2021-01-03", "m2", 0.25))
    again = run(built)
    assert again.days == ["2021-01-03"]
    assert again.reasons == {"2021-01-03": "1 new or changed landing file(s): 2021-01-04/m2.json"}
    assert again.up_to_date == ["2021-01-01", "2021-01-02"]
    after = versions(built)
    assert after["readings"] == before["readings"] + 1  # one commit: its day
    assert built.days("readings") == DAYS
    assert contents(built) == from_scratch(built, tmp_path)


def test_a_late_file_for_a_closed_days_folder_rebuilds_that_day_from_all_its_files(built, tmp_path):
    """The day's first file is in a folder the run does not list (closed): it is read too."""
    built.write_readings("2021-01-05/late.json", rows("2021-01-01", "m2", 0.25))
    again = run(built)
    assert again.days == ["2021-01-01"]
    day = built.query_lake("SELECT source_file, count(*) FROM {readings} WHERE date = '2021-01-01' GROUP BY ALL")
    assert sorted(day) == [("2021-01-02/m1.json", 48), ("2021-01-05/late.json", 48)]
    assert contents(built) == from_scratch(built, tmp_path)


def test_a_rewritten_file_builds_its_day(built, tmp_path):
    built.write_readings("2021-01-03/m1.json", rows("2021-01-02", kwh=0.75))
    again = run(built)
    assert again.days == ["2021-01-02"]
    kwh = built.query_lake("SELECT sum(consumption_kwh)::DOUBLE FROM {readings} WHERE date = '2021-01-02'")
    assert kwh == [(36.0,)]
    assert contents(built) == from_scratch(built, tmp_path)


def test_a_day_whose_file_is_gone_is_named_and_left_as_built(built):
    before = versions(built)
    (built.readings / "2021-01-04" / "m1.json").unlink()
    again = run(built)
    assert again.days == [] and versions(built) == before
    assert list(again.kept) == ["2021-01-03"]
    assert "2021-01-04/m1.json" in again.kept["2021-01-03"]
    assert "--from 2021-01-03 --to 2021-01-03 --force --allow-empty" in again.kept["2021-01-03"]
    assert "not rebuilt 2021-01-03: 1 landing file(s) it was built from are gone" in plan_of(again)
    forced = run(built, "2021-01-03", "2021-01-03", force=True, allow_empty=True)  # what the sentence says
    assert forced.days == ["2021-01-03"] and built.days("readings") == ["2021-01-01", "2021-01-02"]


def test_a_day_with_a_file_gone_and_one_left_says_how_to_rebuild_it_from_what_is_left(built):
    built.write_readings("2021-01-04/m2.json", rows("2021-01-03", "m2", 0.25))
    assert run(built).days == ["2021-01-03"]
    (built.readings / "2021-01-04" / "m1.json").unlink()
    again = run(built)
    assert again.days == [] and "--from 2021-01-03 --to 2021-01-03 --force'`" in again.kept["2021-01-03"]
    forced = run(built, "2021-01-03", "2021-01-03", force=True)
    assert forced.days == ["2021-01-03"]
    assert built.query_lake("SELECT DISTINCT meterpoint_id FROM {readings} WHERE date = '2021-01-03'") == [("m2",)]


def test_a_range_is_rebuilt_regardless(built):
    before = versions(built)
    again = run(built, "2021-01-01", "2021-01-02")
    assert again.days == ["2021-01-01", "2021-01-02"]
    assert set(again.reasons.values()) == {"asked for (--from/--to)"}
    assert versions(built)["readings"] == before["readings"] + 2


def test_a_day_never_published_is_built_again(built):
    """A day whose earlier build did not publish (a failed audit, a crash) is built by the next run."""
    Lake(built.lake_url).delta("readings").delete("date = '2021-01-01'")
    for table in ("readings_files", "readings_quarantine"):
        Lake(built.lake_url).delta(table).delete("date = '2021-01-01'")
    again = run(built)
    assert again.days == ["2021-01-01"] and again.reasons == {"2021-01-01": "never built"}
    assert built.days("readings") == DAYS


def test_a_new_file_with_no_readable_day_is_reported_on_the_newest_day(built):
    (built.readings / "2021-01-04" / "broken.json").write_bytes(b"{not json")
    again = run(built)
    assert again.days == ["2021-01-03"]
    assert again.reasons["2021-01-03"] == "1 new landing file(s) with no readable day are reported on it"
    rejected = built.query_lake("SELECT source_file FROM {readings_quarantine} WHERE row_number IS NULL")
    assert rejected == [("2021-01-04/broken.json",)]
    assert run(built).days == []  # reported once


def test_a_missing_catalog_is_rebuilt_alone(built):
    before = versions(built)
    Path(built.warehouse).unlink()
    again = run(built)
    assert again.days == [] and again.catalog == "the catalog does not exist yet"
    assert versions(built) == before
    assert built.query_lake("SELECT 1") and Path(built.warehouse).is_file()


def test_a_source_change_rebuilds_the_analytics_days_it_moves_and_no_readings(built, tmp_path):
    """m1's agreement now starts on 2021-01-02: the product of 2021-01-01's readings and the
    agreements active on the 2nd and 3rd move (active on D: valid_from < D), the readings do not."""
    before = versions(built)
    agreement = [(1, "2021-01-02", None, "p1", "m1", "a1")]
    built.write_source(agreement, SMALL_SOURCE["product"], SMALL_SOURCE["meterpoint"])
    again = run(built)
    assert again.days == [] and again.snapshot.startswith("published (the source changed")
    assert again.corrected and set(again.corrected) <= {"active_agreements", "daily_product_consumption"}
    assert again.corrected["daily_product_consumption"] == ["2021-01-01"]
    after = versions(built)
    assert (
        after["readings"] == before["readings"]
        and after["analytics/half_hourly_consumption"] == (before["analytics/half_hourly_consumption"])
    )
    assert contents(built) == from_scratch(built, tmp_path)
    assert run(built).days == [] and versions(built) == after  # and then nothing more


def test_a_source_change_that_moves_no_day_rebuilds_no_day(built):
    before = versions(built)
    built.write_source(SMALL_SOURCE["agreement"], SMALL_SOURCE["product"], [("Western", "m1")])
    again = run(built)
    assert again.snapshot.startswith("published") and again.corrected == {} and again.days == []
    after = versions(built)
    assert {t: v for t, v in after.items() if not t.startswith("source/")} == {
        t: v for t, v in before.items() if not t.startswith("source/")
    }


@pytest.mark.parametrize(
    "table, column", [("half_hourly_consumption", "meterpoint_count"), ("active_agreements", "product_is_variable")]
)
def test_a_column_the_code_adds_rebuilds_every_day_of_its_table_and_no_other(built, tmp_path, table, column):
    """The lake as an older code wrote it, without one column of a table: every day of that table is
    rebuilt, and only that table."""
    folder = f"analytics/{table}"
    older = built.delta(folder).to_pyarrow_table().drop_columns([column])
    key = "as_of_date" if table == "active_agreements" else "date"
    write_deltalake(
        Lake(built.lake_url).table_uri(folder), older, mode="overwrite", schema_mode="overwrite", partition_by=[key]
    )
    before = versions(built)
    again = run(built)
    assert again.days == [] and list(again.refreshed) == [table]
    assert again.refreshed[table] == {day: f"the code writes column(s) the table lacks: {column}" for day in DAYS}
    after = versions(built)
    assert {t: v for t, v in after.items() if t != folder} == {t: v for t, v in before.items() if t != folder}
    assert contents(built) == from_scratch(built, tmp_path)
    assert run(built).refreshed == {}


def test_analytics_a_run_stopped_before_are_built_and_nothing_else(built, tmp_path):
    """A run stopped after a day's readings were published and before its analytics: the next run
    builds the analytics it missed, whether a day's are missing or older than its readings."""
    lake = Lake(built.lake_url)
    lake.delta("analytics/half_hourly_consumption").delete("date = '2021-01-02'")
    day = lake.read_day("readings", "date", "2021-01-03")
    lake.publish("readings", "date", "2021-01-03", day, "a run stopped after its readings")
    before = versions(built)
    again = run(built)
    why = "not built from the day's readings (a run stopped before it)"
    assert again.days == [] and again.refreshed == {
        "daily_product_consumption": {"2021-01-03": why},
        "half_hourly_consumption": {"2021-01-02": why, "2021-01-03": why},
    }
    after = versions(built)
    assert after["readings"] == before["readings"]
    assert contents(built) == from_scratch(built, tmp_path)
    assert run(built).refreshed == {}
