"""The Delta lake end to end: the pipeline run by Dagster on a real instance, the lake on disk and
on a real S3 server, and what an analyst (or any other Delta reader) then sees.

Expected values come from the landing files and source rows written here, through the independent
computation of octo_assets_tests.expected, or from hand reasoning (version numbers: one commit per
day published), never from the code under test.
"""

import os
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from octo_assets import connect, sql
from octo_assets import migrate as migration
from octo_assets.automation.housekeeping import catalog_versions, lake_housekeeping_job
from octo_assets.automation.jobs import DAILY_ASSETS, SNAPSHOT_ASSETS, snapshot_run_config
from octo_assets.housekeeping import housekeep
from octo_assets.keys import CATALOG
from octo_assets.lake import Lake
from octo_assets.resources import LakeStorage, Warehouse
from octo_assets.settings import DEFAULT_RETENTION_DAYS
from octo_assets_tests.support import expected
from octo_assets_tests.support.faults import row_lost
from octo_assets_tests.support.runs import failure_message, materialize
from octo_assets_tests.support.workspace import BACKENDS, new_workspace

LONDON = ZoneInfo("Europe/London")
D1, D2 = "2021-01-01", "2021-01-02"
SNAPSHOT_DAY = "2021-01-02"
METERPOINTS = ["m1", "m2", "m3"]
HALF_HOURS = 4  # 00:00 .. 01:30 of each day
AGREEMENTS = [
    (1, "2020-01-01", None, "P1", "m1", "A1"),
    (2, "2020-06-01", D2, "P2", "m2", "A2"),  # ends on D2 (exclusive): D2's readings of m2 have no product
]  # m3: no agreement at all
PRODUCTS = [("Fixed", 0, 1, "P1"), ("Flexible", 1, 2, "P2")]
METERPOINT_ROWS = [("east", "m1"), ("west", "m2"), ("north", "m3")]
OLD, NEW = 1_000, 2_000  # landing files' modification times: the order of deliveries
CORRECTED = {(D1, 0): 1.5, (D1, 1): 2.25}  # m1's first two half hours of D1, re-delivered

# every Delta table of the lake and the key it is partitioned by
TABLES = {
    "readings": "date",
    "readings_quarantine": "date",
    "readings_conflicts": "date",
    "readings_files": "date",
    "source/agreement": "snapshot_date",
    "source/product": "snapshot_date",
    "source/meterpoint": "snapshot_date",
    "analytics/active_agreements": "as_of_date",
    "analytics/half_hourly_consumption": "date",
    "analytics/daily_product_consumption": "date",
}
# every catalog view: (its table, the view's column -> the table's where they differ, latest snapshot only)
VIEWS = {
    "lake.readings": ("readings", {"reading_date": "date"}, False),
    "lake.readings_quarantine": ("readings_quarantine", {"reading_date": "date"}, False),
    "lake.readings_conflicts": ("readings_conflicts", {"reading_date": "date"}, False),
    "lake.readings_files": ("readings_files", {"reading_date": "date"}, False),
    **{f"lake.{t}": (f"source/{t}", {}, True) for t in ("agreement", "product", "meterpoint")},
    **{f"lake.{t}_history": (f"source/{t}", {}, False) for t in ("agreement", "product", "meterpoint")},
    **{
        f"analytics.{t}": (f"analytics/{t}", {}, False)
        for t in ("active_agreements", "half_hourly_consumption", "daily_product_consumption")
    },
}
READINGS_AND_ANALYTICS = DAILY_ASSETS - dg.AssetSelection.assets(CATALOG)


# -- inputs ---------------------------------------------------------------------------------------


def kwh(meterpoint: str, day: str, half_hour: int) -> float:
    """A distinct kWh for every reading: 0.1 a meterpoint, 0.01 a half hour, 0.001 a day."""
    return round(0.1 * (METERPOINTS.index(meterpoint) + 1) + 0.01 * half_hour + 0.001 * int(day[-2:]), 3)


def wall(day: str, half_hour: int) -> str:
    return f"{day} {half_hour // 2:02d}:{30 * (half_hour % 2):02d}:00"


def land(ws, days=(D1, D2), mtime: int = OLD) -> None:
    """One landing file per meterpoint holding its readings of `days`, and the source database."""
    for meterpoint in METERPOINTS:
        rows = [[wall(day, h), kwh(meterpoint, day, h), meterpoint] for day in days for h in range(HALF_HOURS)]
        path = ws.write_readings(f"{meterpoint}.json", rows)
        os.utime(path, (mtime, mtime))
    ws.write_source(AGREEMENTS, PRODUCTS, METERPOINT_ROWS)


def deliver_correction(ws) -> None:
    """A newer delivery of two of m1's D1 readings with other kWh, in a dated delivery folder."""
    rows = [[wall(day, h), value, "m1"] for (day, h), value in CORRECTED.items()]
    path = ws.write_readings("2021-01-03/m1-corrected.json", rows)
    os.utime(path, (NEW, NEW))


def build(ws, instance, days: list[str]) -> None:
    assert materialize(ws, instance, SNAPSHOT_ASSETS, run_config=snapshot_run_config(SNAPSHOT_DAY)).success
    assert materialize(ws, instance, DAILY_ASSETS, days).success


# -- reading back -----------------------------------------------------------------------------------


def _value(value):
    """A value as both DuckDB and Polars give it: instants in UTC, exact decimals without trailing
    zeros, lists as tuples."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    return value


def normalised(rows) -> list[tuple]:
    return sorted((tuple(_value(v) for v in row) for row in rows), key=repr)


def view_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every catalog view's rows (lake.versions aside), normalised and sorted."""
    return {view: normalised(con.execute(f"SELECT * FROM {view}").fetchall()) for view in VIEWS}


def readings_of(con) -> dict:
    """(meterpoint, UTC instant) -> (kWh, day, local wall clock), as expected.readings gives them."""
    rows = con.execute(
        "SELECT meterpoint_id, interval_start_utc, consumption_kwh, reading_date, interval_start_local "
        "FROM lake.readings"
    ).fetchall()
    found = {(m, _value(utc)): (k, day, local) for m, utc, k, day, local in rows}
    assert len(found) == len(rows), "a reading twice"
    return found


def half_hourly_of(con) -> dict:
    rows = con.execute(
        "SELECT interval_start_utc, meterpoint_count, consumption_kwh FROM analytics.half_hourly_consumption"
    ).fetchall()
    found = {_value(utc): (n, k) for utc, n, k in rows}
    assert len(found) == len(rows), "a half hour twice"
    return found


def product_day_of(con) -> dict:
    rows = con.execute(
        "SELECT reading_date, product_display_name, meterpoint_count, consumption_kwh "
        "FROM analytics.daily_product_consumption"
    ).fetchall()
    found = {(d, name): (n, k) for d, name, n, k in rows}
    assert len(found) == len(rows), "a product-day twice"
    return found


def versions_of(con) -> dict[str, int]:
    return dict(con.execute("SELECT table_name, version FROM lake.versions").fetchall())


def storage_options() -> dict[str, str] | None:
    """What a Delta reader of the test S3 server needs beyond the AWS_* variables: plain http."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    return {"AWS_ALLOW_HTTP": "true"} if endpoint.startswith("http://") else None


def delta(ws, table: str, version: int | None = None) -> DeltaTable:
    uri = f"{ws.lake_url}/{table}"
    return DeltaTable(uri, version=version, storage_options=storage_options() if ws.s3 else None)


def london(instant: datetime) -> str:
    """A moment as an analyst types it: Europe/London wall clock, no zone."""
    return instant.astimezone(LONDON).replace(tzinfo=None).isoformat(sep=" ")


# -- one lake, built, then corrected ----------------------------------------------------------------


@dataclass
class Corrected:
    """D1 and D2 built with the catalog; T; a corrected delivery of D1 re-run without the catalog;
    then the catalog rebuilt. What every view said at each step."""

    ws: object
    instance: dg.DagsterInstance
    before: dict  # expected.readings before the correction
    after: dict  # ... and after it
    moment: datetime  # T, between the two
    views_before: dict[str, list[tuple]]  # every view, with the first catalog
    views_between: dict[str, list[tuple]]  # D1 re-run, the catalog not rebuilt
    views_after_housekeeping: dict[str, list[tuple]]  # ... then a vacuum keeping no history
    views_held: dict[str, list[tuple]]  # the first catalog, held open, after the catalog was rebuilt
    old_files: list[str]  # the files of the readings version the first catalog pinned
    old_files_between: list[bool]  # ... on storage, between the re-run and the rebuild
    reopened_versions: dict[str, int]  # lake.versions of connect() while the first catalog was still open


def exists(ws, uri: str) -> bool:
    return ws.lake_storage().fs.exists(uri)


@pytest.fixture(scope="module", params=BACKENDS)
def corrected(request, tmp_path_factory):
    ws = new_workspace(tmp_path_factory.mktemp("ws"), request.param, request)
    land(ws)
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        build(ws, instance, [D1, D2])
        before = expected.readings(ws.readings)
        held = connect(ws.warehouse)  # an analyst's session on the first catalog, open until it is rebuilt
        views_before = view_rows(held)
        old_files = delta(ws, "readings", versions_of(held)["readings"]).file_uris()
        time.sleep(0.05)
        moment = datetime.now(timezone.utc)
        time.sleep(0.05)

        deliver_correction(ws)
        after = expected.readings(ws.readings)
        assert materialize(ws, instance, READINGS_AND_ANALYTICS, [D1]).success
        # each query runs the views' SQL again over the files they name: what a new session sees too
        views_between = view_rows(held)
        old_files_between = [exists(ws, uri) for uri in old_files]
        # a vacuum keeping no history at all still keeps what the catalog reads
        housekeep(Lake(ws.lake_url), list(TABLES), timedelta(0), catalog_versions(Warehouse(path=ws.warehouse)))
        views_after_housekeeping = view_rows(held)

        assert materialize(ws, instance, dg.AssetSelection.assets(CATALOG)).success
        views_held = view_rows(held)
        with connect(ws.warehouse) as reopened:
            reopened_versions = versions_of(reopened)
        held.close()
        yield Corrected(
            ws,
            instance,
            before,
            after,
            moment,
            views_before,
            views_between,
            views_after_housekeeping,
            views_held,
            old_files,
            old_files_between,
            reopened_versions,
        )


def test_the_correction_inputs_differ(corrected):
    """The correction moves two readings and so the totals: otherwise the tests below prove nothing."""
    before, after = corrected.before, corrected.after
    assert len(before) == len(after) == len(METERPOINTS) * 2 * HALF_HOURS
    moved = {key for key in before if before[key] != after[key]}
    assert {(m, utc.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S")) for m, utc in moved} == {
        ("m1", wall(D1, 0)),
        ("m1", wall(D1, 1)),
    }
    moved_kwh = sum(v[0] for v in after.values()) - sum(v[0] for v in before.values())
    assert moved_kwh == Decimal("3.538")  # 1.5 + 2.25 - (0.101 + 0.111)


def test_connect_shows_the_correction_and_as_of_shows_what_was_there_before(corrected):
    """The issue's "done when": after the corrected delivery's re-run the catalog shows the new
    totals, the catalog as of T the earlier ones, readings and analytics alike, over older versions."""
    c = corrected
    db = c.ws.source_db
    with connect(c.ws.warehouse) as now:
        assert readings_of(now) == c.after
        assert half_hourly_of(now) == expected.half_hourly(c.after)
        assert product_day_of(now) == expected.product_day(c.after, db)
        now_versions = versions_of(now)
    for as_of in (london(c.moment), c.moment):  # a naive Europe/London time, and an aware datetime
        with connect(c.ws.warehouse, as_of=as_of) as then:
            assert readings_of(then) == c.before
            assert half_hourly_of(then) == expected.half_hourly(c.before)
            assert product_day_of(then) == expected.product_day(c.before, db)
            then_versions = versions_of(then)
            [(latest_then,)] = then.execute("SELECT max(committed_at) FROM lake.versions").fetchall()
            assert latest_then <= c.moment  # every view reads a version committed by T
    # one commit per day published: D1 is version 0 and D2 version 1, the corrected D1 version 2
    assert then_versions["readings"] == 1 and now_versions["readings"] == 2
    assert set(then_versions) == set(now_versions) == set(TABLES)
    for table in ("readings", "readings_quarantine", "readings_conflicts", "readings_files"):
        assert then_versions[table] == now_versions[table] - 1, table  # D1's re-run: one commit each
    for table in TABLES:
        if table.startswith("analytics/"):  # every analytics table of D1 re-run (the same active agreements)
            assert then_versions[table] == now_versions[table] - 1, table
        elif table.startswith("source/"):  # no new snapshot
            assert then_versions[table] == now_versions[table] == 0, table
    # the conflict the correction made is in the new version only
    with connect(c.ws.warehouse) as now, connect(c.ws.warehouse, as_of=c.moment) as then:
        conflicts = "SELECT meterpoint_id, kept_kwh FROM lake.readings_conflicts ORDER BY ALL"
        assert now.execute(conflicts).fetchall() == [("m1", Decimal("1.500")), ("m1", Decimal("2.250"))]
        assert then.execute(conflicts).fetchall() == []


def test_views_are_pinned_to_the_versions_the_catalog_was_built_over(corrected):
    """A re-run of a day publishes new versions, but a catalog not rebuilt since shows the old rows in
    every view (none of the new day beside the old analytics), and so does a session held open
    while the catalog is rebuilt; the rebuilt catalog shows the new rows."""
    c = corrected
    assert c.views_before["lake.readings"] and c.views_before["analytics.half_hourly_consumption"]
    assert c.views_between == c.views_before  # every view, not only readings: no mix of versions
    assert c.views_after_housekeeping == c.views_before  # the vacuum kept the pinned version's files
    assert c.views_held == c.views_before
    assert c.old_files and all(c.old_files_between)  # the replaced D1 files were still on storage
    assert all(exists(c.ws, uri) for uri in c.old_files)  # ... and are still (within the retention)
    # what the first catalog showed is the earlier answer, worked out independently
    readings = {(m, utc): (kwh, day, local) for m, utc, local, day, kwh, _ in c.views_before["lake.readings"]}
    assert readings == {key: (value[0].normalize(), value[1], value[2]) for key, value in c.before.items()}
    with connect(c.ws.warehouse) as rebuilt:
        assert readings_of(rebuilt) == c.after
        assert half_hourly_of(rebuilt) == expected.half_hourly(c.after)
        assert product_day_of(rebuilt) == expected.product_day(c.after, c.ws.source_db)
        changed = {view for view, rows in view_rows(rebuilt).items() if rows != c.views_before[view]}
    assert changed == {
        "lake.readings",
        "lake.readings_conflicts",
        "lake.readings_files",  # the correction's file is counted among D1's
        "analytics.half_hourly_consumption",
        "analytics.daily_product_consumption",
    }


def test_connect_after_a_rebuild_opens_the_rebuilt_catalog_while_an_old_session_is_open(corrected):
    """DuckDB hands a second duckdb.connect() to the same path the database instance an open session
    already holds: connect() attaches the file to a new database instead, so an analyst who keeps
    one session open and calls connect() again after `make run` reads the rebuilt catalog. (On S3
    the cached copy's name carries the object's ETag, so a rebuilt catalog is a new file there.)"""
    with connect(corrected.ws.warehouse) as rebuilt:
        want = versions_of(rebuilt)  # nothing else is open now
    assert want["readings"] == 2
    assert corrected.reopened_versions == want


@cache
def duckdb_delta_extension() -> str | None:
    """None if DuckDB's own Delta reader (the `delta` extension) loads here, else why not."""
    try:
        with duckdb.connect() as con:
            con.execute("INSTALL delta; LOAD delta")
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    return None


def delta_frame(ws, table: str, version: int) -> pl.DataFrame:
    uri = f"{ws.lake_url}/{table}"
    return pl.read_delta(uri, version=version, storage_options=storage_options() if ws.s3 else None)


def test_an_independent_delta_reader_reads_what_every_view_shows(corrected):
    """Polars' Delta reader (delta-rs's log replay, none of octo_assets' code), at the version each
    view says it reads, gives the view's rows; now and as of T.

    DuckDB's `delta` extension (delta_scan) would be a second reader, but it is downloaded on
    INSTALL and the test hosts have no internet access: where it cannot load, Polars is the
    independent reader and the comparison with delta_scan is left out (never skipped silently: the
    reason is asserted to be the download)."""
    c = corrected
    why_not = duckdb_delta_extension()
    for as_of in (None, c.moment):
        with connect(c.ws.warehouse, as_of=as_of) as con:
            pinned = versions_of(con)
            for view, (table, renamed, latest_only) in VIEWS.items():
                frame = delta_frame(c.ws, table, pinned[table])
                if latest_only:
                    frame = frame.filter(pl.col("snapshot_date") == pl.col("snapshot_date").max())
                columns = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
                want = normalised(con.execute(f"SELECT * FROM {view}").fetchall())
                got = normalised(frame.select([pl.col(renamed.get(n, n)).alias(n) for n in columns]).rows())
                assert got == want, (view, as_of)
                if why_not is None and not c.ws.s3 and as_of is None:  # delta_scan reads the latest version
                    scanned = con.execute(f"SELECT * FROM delta_scan('{c.ws.lake_url}/{table}')").pl()
                    if latest_only:
                        scanned = scanned.filter(pl.col("snapshot_date") == pl.col("snapshot_date").max())
                    rows = scanned.select([pl.col(renamed.get(n, n)).alias(n) for n in columns]).rows()
                    assert normalised(rows) == want, view
            # and the totals, against the independent computation
            readings = delta_frame(c.ws, "readings", pinned["readings"])
            half_hourly = delta_frame(
                c.ws, "analytics/half_hourly_consumption", pinned["analytics/half_hourly_consumption"]
            )
            want_kwh = sum(kwh for kwh, _, _ in (c.before if as_of else c.after).values())
            assert readings["consumption_kwh"].sum() == half_hourly["consumption_kwh"].sum() == want_kwh
        if as_of is None:  # the rebuilt catalog reads every table's latest version
            assert pinned == {table: delta(c.ws, table).version() for table in TABLES}
    if why_not is not None:
        assert "delta" in why_not and ("download" in why_not.lower() or "http" in why_not.lower()), why_not


ASSET_TABLES = {
    ("lake", "readings"): "readings",
    ("lake", "agreement"): "source/agreement",
    ("lake", "product"): "source/product",
    ("lake", "meterpoint"): "source/meterpoint",
    ("analytics", "active_agreements"): "analytics/active_agreements",
    ("analytics", "half_hourly_consumption"): "analytics/half_hourly_consumption",
    ("analytics", "daily_product_consumption"): "analytics/daily_product_consumption",
}


def test_every_materialisation_names_the_commit_that_published_it(corrected):
    """Each materialisation's delta_version is a commit of its table whose custom metadata names
    the run and the day; every commit of a table is one materialisation's (no commit unaccounted)."""
    c = corrected
    runs = {}
    for key, table in ASSET_TABLES.items():
        records = c.instance.fetch_materializations(dg.AssetKey(list(key)), limit=1000).records
        from_dagster = {}
        for record in records:
            metadata = record.asset_materialization.metadata
            version = metadata["delta_version"].value
            assert version not in from_dagster, (table, version)
            from_dagster[version] = (record.run_id, record.partition_key or SNAPSHOT_DAY)
            assert metadata["path"].value == f"{c.ws.lake_url}/{table}"
        history = delta(c.ws, table).history()
        from_delta = {
            int(e["version"]): (e["dagster_run_id"], e["partition"]) for e in history if "dagster_run_id" in e
        }
        assert from_dagster == from_delta, table
        assert len(from_delta) == len(history), table  # every commit is a publication
        runs[table] = from_dagster
    # one commit a day published: D1, D2 in the build's run; D1 again in the correction's
    (build_run, _), _, (correction_run, _) = (runs["readings"][v] for v in range(3))
    assert runs["readings"] == {0: (build_run, D1), 1: (build_run, D2), 2: (correction_run, D1)}
    assert build_run != correction_run
    assert {v: day for v, (_, day) in runs["analytics/half_hourly_consumption"].items()} == {0: D1, 1: D2, 2: D1}
    assert runs["source/agreement"] == {0: (runs["source/agreement"][0][0], SNAPSHOT_DAY)}
    # the day's side tables were committed by the same runs, day for day
    for table in ("readings_quarantine", "readings_conflicts", "readings_files"):
        commits = [(e["dagster_run_id"], e["partition"]) for e in delta(c.ws, table).history()]
        assert sorted(commits) == sorted(runs["readings"].values()), table


def run_sql_prompt(ws, monkeypatch, capsys, *args: str) -> tuple[int | str, str, str]:
    """`make sql ARGS=...` in this process: octo_assets.sql.main with OCTO_WAREHOUSE set; (exit
    code or the sentence it exits with, stdout, stderr). (As a process: integration/test_commands.py.)"""
    monkeypatch.setenv("OCTO_WAREHOUSE", ws.warehouse)
    try:
        code = sql.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


TOTAL = "SELECT 'total=' || sum(consumption_kwh)::VARCHAR AS answer FROM lake.readings"


def test_the_sql_prompt_answers_as_of_a_moment(corrected, monkeypatch, capsys):
    c = corrected
    before = sum(kwh for kwh, _, _ in c.before.values())
    after = sum(kwh for kwh, _, _ in c.after.values())
    assert before != after
    code, out, err = run_sql_prompt(c.ws, monkeypatch, capsys, "--as-of", london(c.moment), "-c", TOTAL)
    assert (code, err) == (0, "")
    assert f"total={before:.3f}" in out and f"total={after:.3f}" not in out
    code, out, err = run_sql_prompt(c.ws, monkeypatch, capsys, "-c", TOTAL)
    assert (code, err) == (0, "")
    assert f"total={after:.3f}" in out

    sentence, out, _ = run_sql_prompt(c.ws, monkeypatch, capsys, "--as-of", "yesterday", "-c", TOTAL)
    assert out == "" and "\n" not in sentence
    assert sentence.startswith("--as-of: 'yesterday' is not a date and time")

    sentence, out, _ = run_sql_prompt(c.ws, monkeypatch, capsys, "--as-of", "2001-01-01 09:00", "-c", TOTAL)
    assert out == "" and "\n" not in sentence
    assert "2001-01-01" in sentence and "held no table" in sentence


# -- last on the shared lake: housekeeping ---------------------------------------------------------


def every_file(ws) -> set[str]:
    """The data files of every version of every table."""
    files = set()
    for table in TABLES:
        latest = delta(ws, table)
        for version in range(latest.version() + 1):
            files |= set(delta(ws, table, version).file_uris())
    return files


def test_housekeeping_keeps_what_the_catalog_and_time_travel_need(corrected):
    """The weekly job, in process, with the default retention (OCTO_RETENTION_DAYS unset: 430 days):
    every version is minutes old, so nothing may go; each table gets a checkpoint; the catalog, now and as of T, answers
    as before."""
    c = corrected
    with connect(c.ws.warehouse) as now, connect(c.ws.warehouse, as_of=c.moment) as then:
        before_now, before_then = view_rows(now), view_rows(then)
    files = every_file(c.ws)
    result = lake_housekeeping_job.execute_in_process(
        instance=c.instance,
        resources={"lake": LakeStorage(root=c.ws.lake_url), "warehouse": Warehouse(path=c.ws.warehouse)},
    )
    assert result.success
    [output] = [e for e in result.all_events if e.is_successful_output]
    metadata = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert (metadata["retention_days"], metadata["files_deleted"]) == (DEFAULT_RETENTION_DAYS, 0)
    assert all(exists(c.ws, uri) for uri in files)
    storage = c.ws.lake_storage()
    for table in TABLES:
        assert storage.list_files(f"{table}/_delta_log", suffix=".checkpoint.parquet"), table
    with connect(c.ws.warehouse) as now, connect(c.ws.warehouse, as_of=c.moment) as then:
        assert view_rows(now) == before_now
        assert view_rows(then) == before_then
    assert before_then != before_now


# -- a failed audit ----------------------------------------------------------------------------------

READINGS_ONLY = dg.AssetSelection.assets(["lake", "readings"])
DAY_TABLES = ["readings", "readings_quarantine", "readings_conflicts", "readings_files"]


def table_state(ws) -> dict[str, tuple]:
    """Per readings table: its version, the length of its history, its data files on storage, its rows."""
    storage = ws.lake_storage()
    state = {}
    for table in DAY_TABLES:
        found = delta(ws, table)
        files = sorted(e.path for e in storage.list_files(table) if "/_delta_log/" not in f"/{e.path}")
        rows = normalised(delta_frame(ws, table, found.version()).rows())
        state[table] = (found.version(), len(found.history()), files, rows)
    return state


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_a_day_failing_its_audit_commits_nothing(workspace, instance, fault_on):  # noqa: F811
    """The fault of test_readings_publish.py (support.faults: de-duplication loses a row of one day): the re-run's
    audit fails, and no readings table gets a commit or a file."""
    ws = workspace
    land(ws, days=(D1,))
    # the readings' checks against the source need a snapshot
    assert materialize(ws, instance, SNAPSHOT_ASSETS, run_config=snapshot_run_config(SNAPSHOT_DAY)).success
    assert materialize(ws, instance, READINGS_ONLY, [D1]).success
    before = table_state(ws)
    assert [before[t][0] for t in DAY_TABLES] == [0, 0, 0, 0]  # one commit each: D1
    assert len(before["readings"][3]) == len(METERPOINTS) * HALF_HOURS

    deliver_correction(ws)
    altered = fault_on(D1, row_lost)
    result = materialize(ws, instance, READINGS_ONLY, [D1])
    assert altered, "the fault was never applied: the test proves nothing"
    assert not result.success
    assert failure_message(result).startswith(f"{D1}: not published, blocking check(s) failed: readings_rows_accounted")
    assert table_state(ws) == before


# -- migration from the hive-partitioned Parquet lake -------------------------------------------------

D3 = "2021-01-03"
KWH_38 = pl.Decimal(38, 3)
# the newest delivery each old readings day was built from (2021-01-0N 07:00 UTC): long before now
WATERMARKS = {day: int(datetime.fromisoformat(f"{day}T07:00:00+00:00").timestamp()) * 10**9 for day in (D1, D2)}
CONTENT = {t: f"{t}-content-sha256-{'0123456789abcdef' * 3}" for t in ("agreement", "product", "meterpoint")}


def old_readings(day: str) -> pl.DataFrame:
    """A day's readings as the old code wrote them: no `date` column (it was in the path), the
    source file a categorical, instants in UTC and the local wall clock."""
    rows = []
    for meterpoint in METERPOINTS:
        for h in range(HALF_HOURS):
            local = datetime.strptime(wall(day, h), "%Y-%m-%d %H:%M:%S")
            utc = local.replace(tzinfo=LONDON).astimezone(timezone.utc)
            rows.append((meterpoint, utc, local, Decimal(str(kwh(meterpoint, day, h))), f"{meterpoint}.json"))
    schema = {
        "meterpoint_id": pl.String,
        "interval_start_utc": pl.Datetime("us", "UTC"),
        "interval_start_local": pl.Datetime("us"),
        "consumption_kwh": pl.Decimal(18, 3),
        "source_file": pl.Categorical,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def old_side_tables(day: str) -> dict[str, pl.DataFrame]:
    quarantine = pl.DataFrame(
        [("m2.json", 99, date.fromisoformat(day), "consumption_delta has more than 3 decimal places", "[...]")],
        schema={
            "source_file": pl.String,
            "row_number": pl.Int32,
            "reading_date": pl.Date,
            "reason": pl.String,
            "raw": pl.String,
        },
        orient="row",
    )
    first = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    conflicts = pl.DataFrame(
        [
            (
                "m1",
                first,
                2,
                [Decimal("0.9"), Decimal(str(kwh("m1", day, 0)))],
                ["old.json", "m1.json"],
                kwh("m1", day, 0),
            )
        ],
        schema={
            "meterpoint_id": pl.String,
            "interval_start_utc": pl.Datetime("us", "UTC"),
            "deliveries": pl.UInt32,
            "values": pl.List(pl.Decimal(18, 3)),
            "sources": pl.List(pl.String),
            "kept_kwh": pl.Decimal(18, 3),
        },
        orient="row",
    )
    files = pl.DataFrame(
        [(f"{m}.json", f"sha-of-{m}", HALF_HOURS, 0, 0) for m in METERPOINTS],
        schema={
            "source_file": pl.String,
            "sha": pl.String,
            "rows_loaded": pl.UInt32,
            "duplicates": pl.UInt32,
            "rows_quarantined": pl.UInt32,
        },
        orient="row",
    )
    return {"readings_quarantine": quarantine, "readings_conflicts": conflicts, "readings_files": files}


def old_source() -> dict[str, pl.DataFrame]:
    d = date.fromisoformat
    return {
        "agreement": pl.DataFrame(
            [(a, d(f), d(t) if t else None, p, m, acc) for a, f, t, p, m, acc in AGREEMENTS],
            schema={
                "agreement_id": pl.Int64,
                "agreement_valid_from": pl.Date,
                "agreement_valid_to": pl.Date,
                "product_id": pl.String,
                "meterpoint_id": pl.String,
                "account_id": pl.String,
            },
            orient="row",
        ),
        "product": pl.DataFrame(
            [(p, name, bool(variable), i) for name, variable, i, p in PRODUCTS],
            schema={"product_id": pl.String, "display_name": pl.String, "is_variable": pl.Boolean, "id": pl.Int64},
            orient="row",
        ),
        "meterpoint": pl.DataFrame(
            [(m, region) for region, m in METERPOINT_ROWS],
            schema={"meterpoint_id": pl.String, "region": pl.String},
            orient="row",
        ),
    }


def old_analytics(ws, day: str) -> dict[str, pl.DataFrame]:
    """The day's analytics as the old run wrote them, worked out by octo_assets_tests.expected."""
    readings = {k: v for k, v in expected.readings(ws.readings).items() if v[1].isoformat() == day}
    half_hourly = pl.DataFrame(
        [
            (utc, utc.astimezone(LONDON).replace(tzinfo=None), date.fromisoformat(day), n, total, n)
            for utc, (n, total) in sorted(expected.half_hourly(readings).items())
        ],
        schema={
            "interval_start_utc": pl.Datetime("us", "UTC"),
            "interval_start_local": pl.Datetime("us"),
            "reading_date": pl.Date,
            "meterpoint_count": pl.Int64,
            "consumption_kwh": KWH_38,
            "reading_count": pl.Int64,
        },
        orient="row",
    )
    product_day = pl.DataFrame(
        [
            (d, name, n, total, n * HALF_HOURS)
            for (d, name), (n, total) in expected.product_day(readings, ws.source_db).items()
        ],
        schema={
            "reading_date": pl.Date,
            "product_display_name": pl.String,
            "meterpoint_count": pl.Int64,
            "consumption_kwh": KWH_38,
            "reading_count": pl.Int64,
        },
        orient="row",
    )
    names = {p: (name, bool(variable)) for name, variable, _, p in PRODUCTS}
    active = pl.DataFrame(
        [
            (
                date.fromisoformat(day),
                a,
                m,
                *names[p],
                p,
                acc,
                date.fromisoformat(f),
                date.fromisoformat(t) if t else None,
            )
            for a, f, t, p, m, acc in AGREEMENTS
            if f < day and (t is None or day < t)
        ],
        schema={
            "as_of_date": pl.Date,
            "agreement_id": pl.Int64,
            "meterpoint_id": pl.String,
            "product_display_name": pl.String,
            "product_is_variable": pl.Boolean,
            "product_id": pl.String,
            "account_id": pl.String,
            "agreement_valid_from": pl.Date,
            "agreement_valid_to": pl.Date,
        },
        orient="row",
    )
    return {
        "analytics/active_agreements": active,
        "analytics/half_hourly_consumption": half_hourly,
        "analytics/daily_product_consumption": product_day,
    }


def parquet_bytes(frame: pl.DataFrame, footer: dict[str, str]) -> bytes:
    """The frame as one Parquet file with `footer` as its key-value metadata (pyarrow)."""
    table = frame.to_arrow()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **footer})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_old_lake(ws) -> dict[str, tuple[str, str, pl.DataFrame, bytes]]:
    """The hive lake of before Delta: rel -> (table, day, frame, the file's bytes)."""
    files = {}

    def put(table: str, key: str, day: str, frame: pl.DataFrame, footer: dict[str, str]) -> None:
        rel = f"{table}/{key}={day}/part-0.parquet"
        files[rel] = (table, day, frame, parquet_bytes(frame, footer))
        ws.lake_storage().write_bytes(rel, files[rel][3])

    for day in (D1, D2):
        watermark = {"octo.deliveries_seen_ns": str(WATERMARKS[day])}
        put("readings", "date", day, old_readings(day), watermark)
        for table, frame in old_side_tables(day).items():
            put(table, "date", day, frame, watermark)
        for table, frame in old_analytics(ws, day).items():
            put(table, TABLES[table], day, frame, {})
    for table, frame in old_source().items():
        put(f"source/{table}", "snapshot_date", SNAPSHOT_DAY, frame, {"octo.content_sha256": CONTENT[table]})
    return files


def migrate(ws, monkeypatch, capsys) -> str:
    """`make migrate` in this process: octo_assets.migrate.main with OCTO_LAKE_DIR set; what it
    printed. (As a process: integration/test_commands.py.)"""
    monkeypatch.setenv("OCTO_LAKE_DIR", ws.lake_url)
    assert migration.main([]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def migrate_refused(ws, monkeypatch, capsys) -> str:
    """`make migrate` where it migrates nothing: exit 1, one sentence on stderr (returned), nothing on stdout."""
    monkeypatch.setenv("OCTO_LAKE_DIR", ws.lake_url)
    assert migration.main([]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("workspace", BACKENDS, indirect=True)
def test_the_migration_moves_every_row_into_delta_and_the_pipeline_carries_on(workspace, instance, monkeypatch, capsys):
    ws = workspace
    land(ws)  # the landing files the old lake's D1 and D2 were built from
    old = write_old_lake(ws)
    storage = ws.lake_storage()

    said = migrate(ws, monkeypatch, capsys)
    assert said.startswith(f"Migrating the Parquet lake {ws.lake_url} to Delta tables")
    versions = {table: delta(ws, table).version() for table in TABLES}
    assert versions == {t: (0 if t.startswith("source/") else 1) for t in TABLES}  # a commit per day

    for rel, (table, day, frame, content) in old.items():
        key = TABLES[table]
        migrated = delta_frame(ws, table, versions[table])
        assert migrated.schema[key] == pl.Date
        day_rows = migrated.filter(pl.col(key) == date.fromisoformat(day)).select(frame.columns)
        assert normalised(day_rows.rows()) == normalised(frame.rows()), rel  # the same values
        assert not storage.exists(rel), rel  # moved, not copied
        assert storage.read_bytes(f"_migrated/{rel}") == content, rel  # nothing lost
    for table in TABLES:  # and no row from anywhere else
        want = sum(frame.height for t, _, frame, _ in old.values() if t == table)
        assert delta_frame(ws, table, versions[table]).height == want, table

    # each commit says what the old files said: the deliveries a day was built from, a snapshot's content
    readings = delta(ws, "readings")
    for entry in readings.history():
        assert (entry["dagster_run_id"], entry["octo.deliveries_seen_ns"]) == (
            "migration",
            str(WATERMARKS[entry["partition"]]),
        )
    assert {day: readings.transaction_version(f"date={day}") for day in (D1, D2)} == WATERMARKS
    for table, sha in CONTENT.items():
        [entry] = delta(ws, f"source/{table}").history()
        assert (entry["partition"], entry["octo.content_sha256"]) == (SNAPSHOT_DAY, sha)

    # a second migration finds nothing to do, and says so (exit 1: it did nothing asked of it)
    assert migrate_refused(ws, monkeypatch, capsys).startswith(f"OCTO_LAKE_DIR: {ws.lake_url} holds Delta tables")
    assert {table: delta(ws, table).version() for table in TABLES} == versions
    assert all(storage.exists(f"_migrated/{rel}") for rel in old)

    # the newest-deliveries guard came along: a day built from older deliveries does not replace D1
    stale = old_readings(D1).with_columns(consumption_kwh=pl.lit(Decimal("9.999"), pl.Decimal(18, 3)))
    published = Lake(ws.lake_url).publish("readings", "date", D1, stale, "a-stale-run", WATERMARKS[D1] - 1)
    assert published.version is None
    assert delta(ws, "readings").version() == versions["readings"]

    # and the pipeline carries on over the migrated tables: D2 rebuilt from its landing files (seen
    # now: newer than the old watermark), D3 newly delivered, D1 left as migrated, analytics over
    # the migrated snapshot; then the catalog
    rows = [[wall(D3, h), kwh(m, D3, h), m] for m in METERPOINTS for h in range(HALF_HOURS)]
    os.utime(ws.write_readings(f"{D3}/all.json", rows), (NEW, NEW))
    result = materialize(ws, instance, DAILY_ASSETS, [D2, D3])
    assert result.success
    want = expected.readings(ws.readings)
    assert {day for _, day, _ in want.values()} == {date.fromisoformat(d) for d in (D1, D2, D3)}
    with connect(ws.warehouse) as catalog:
        assert readings_of(catalog) == want
        assert half_hourly_of(catalog) == expected.half_hourly(want)
        assert product_day_of(catalog) == expected.product_day(want, ws.source_db)
        pinned = versions_of(catalog)
        migrated_d1 = catalog.execute(
            "SELECT reason FROM lake.readings_quarantine WHERE reading_date = DATE '2021-01-01'"
        ).fetchall()
    assert pinned["readings"] == versions["readings"] + 2  # D2 and D3 each one more commit
    assert migrated_d1 == [("consumption_delta has more than 3 decimal places",)]
    # the analytics read the migrated snapshot, named by the content hashes the old files carried
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["analytics", "daily_product_consumption"]), asset_partitions=[D3]),
        limit=1,
    ).records
    snapshot = record.asset_materialization.metadata["snapshot_version"].value
    assert snapshot == f"{CONTENT['agreement'][:16]}/{CONTENT['product'][:16]}"
