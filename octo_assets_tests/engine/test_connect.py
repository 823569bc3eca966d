"""The analysts' `connect()` on a small lake of two tables committed at known moments
(support.aged): the catalog is never opened for writing (every run replaces it; an analyst's own
tables go in a file of theirs, attached), and a moment between the two commits, as within the
first run, opens every view: the table not committed yet has its columns and no rows."""

from datetime import date, datetime, timezone
from decimal import Decimal

import polars as pl
import pytest

import octo_assets
from octo_assets.catalog.connect import CatalogIsRebuilt, NothingThen, connect
from octo_assets.catalog.views import build_catalog
from octo_assets.lake import DAY_KEY, READINGS_TABLE, Lake, analytics_table
from octo_assets.storage import Storage
from octo_assets_tests.support.aged import age

UTC = timezone.utc
HALF_HOURLY = analytics_table("half_hourly_consumption")
READINGS_AT = datetime(2021, 7, 1, 9, 0, tzinfo=UTC)  # the first run's first commit
ANALYTICS_AT = datetime(2021, 7, 1, 9, 5, tzinfo=UTC)  # and a later one of the same run
WITHIN = datetime(2021, 7, 1, 9, 2, tzinfo=UTC)
START = datetime(2021, 7, 1, 8, 0, tzinfo=UTC)
KWH = pl.Decimal(18, 3)


@pytest.fixture
def catalog(tmp_path) -> str:
    """A lake of readings (committed at READINGS_AT) and one analytics table (at ANALYTICS_AT),
    and its catalog."""
    lake = Lake(str(tmp_path / "lake"))
    readings = pl.DataFrame(
        {
            "meterpoint_id": ["0123"],
            "interval_start_utc": [START],
            "interval_start_local": [START.replace(tzinfo=None)],
            "consumption_kwh": [Decimal("0.250")],
            "source_file": ["a.json"],
        },
        schema_overrides={"consumption_kwh": KWH},
    )
    half_hourly = readings.select(
        "interval_start_utc",
        "interval_start_local",
        meterpoint_count=pl.lit(1, pl.Int64),
        consumption_kwh=pl.col("consumption_kwh").cast(pl.Decimal(38, 3)),
        reading_date=pl.lit(date(2021, 7, 1)),
        reading_count=pl.lit(1, pl.Int64),
    )
    lake.publish(READINGS_TABLE, DAY_KEY, "2021-07-01", readings, "run-1")
    lake.publish(HALF_HOURLY, DAY_KEY, "2021-07-01", half_hourly, "run-1")
    age(tmp_path / "lake" / READINGS_TABLE, {0: READINGS_AT})
    age(tmp_path / "lake" / HALF_HOURLY, {0: ANALYTICS_AT})
    build_catalog(lake, Storage(str(tmp_path)), "warehouse.duckdb")
    return str(tmp_path / "warehouse.duckdb")


def columns(con, view: str) -> list[tuple]:
    return con.execute(f"DESCRIBE {view}").fetchall()


def views(con) -> set[str]:
    return {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }


# -- the catalog is read-only: every run replaces it -------------------------------------------------


@pytest.mark.parametrize("opener", [connect, octo_assets.connect])
def test_connect_read_write_is_refused_with_where_to_keep_ones_own_tables(catalog, opener):
    with pytest.raises(CatalogIsRebuilt) as refused:
        opener(catalog, read_only=False)
    sentence = str(refused.value)
    assert "\n" not in sentence
    assert sentence.startswith(f"connect(read_only=False): the catalog {catalog} is rebuilt by every run")
    assert "ATTACH 'mine.duckdb' AS mine" in sentence
    with pytest.raises(CatalogIsRebuilt):  # as of a moment too, and a catalog on S3 (nothing fetched)
        opener(catalog, read_only=False, as_of=ANALYTICS_AT)
    with pytest.raises(CatalogIsRebuilt, match="^connect\\(read_only=False\\): the catalog s3://lake/w.duckdb "):
        opener("s3://lake/w.duckdb", read_only=False)


def test_the_advice_works_ones_own_table_outlives_the_next_catalog(catalog, tmp_path, monkeypatch):
    """What the sentence says to do: a file of one's own attached to connect()'s connection; the
    next run replaces the catalog, and the table is still there, the catalog holding only views."""
    monkeypatch.chdir(tmp_path)
    with connect(catalog) as con:
        con.execute("ATTACH 'mine.duckdb' AS mine")
        con.execute("CREATE TABLE mine.kwh AS SELECT sum(consumption_kwh) AS kwh FROM lake.readings")
    build_catalog(Lake(str(tmp_path / "lake")), Storage(str(tmp_path)), "warehouse.duckdb")  # the next run
    with connect(catalog) as con:
        con.execute("ATTACH 'mine.duckdb' AS mine")
        assert con.execute("SELECT kwh FROM mine.kwh").fetchall() == [(Decimal("0.250"),)]
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'warehouse'").fetchall()
        assert tables == [(0,)]


# -- as of a moment within the first run -----------------------------------------------------------


def test_as_of_a_moment_within_the_first_run_opens_every_view_the_later_table_empty(catalog):
    with connect(catalog) as now, connect(catalog, as_of=WITHIN) as then:
        for view in ("lake.readings", "analytics.half_hourly_consumption"):
            assert columns(then, view) == columns(now, view)  # the same columns and types
        assert then.execute("SELECT count(*) FROM lake.readings").fetchall() == [(1,)]
        assert then.execute("SELECT count(*) FROM analytics.half_hourly_consumption").fetchall() == [(0,)]
        assert now.execute("SELECT count(*) FROM analytics.half_hourly_consumption").fetchall() == [(1,)]
        versions = then.execute("SELECT table_name, version, committed_at FROM lake.versions ORDER BY 1").fetchall()
        assert versions == [(HALF_HOURLY, None, None), (READINGS_TABLE, 0, READINGS_AT)]
        assert views(then) == views(now) == {"lake.readings", "lake.versions", "analytics.half_hourly_consumption"}


def test_as_of_after_every_first_commit_reads_them_all_and_before_any_is_one_sentence(catalog):
    with connect(catalog, as_of=ANALYTICS_AT) as then:
        assert then.execute("SELECT count(*) FROM analytics.half_hourly_consumption").fetchall() == [(1,)]
        assert then.execute("SELECT count(*) FROM lake.versions WHERE version IS NULL").fetchall() == [(0,)]
    with pytest.raises(NothingThen) as refused:
        connect(catalog, as_of=datetime(2021, 7, 1, 8, 59, tzinfo=UTC))
    assert str(refused.value).endswith(
        "held no table at 2021-07-01 08:59:00 UTC: its first commit came later, at 2021-07-01 09:00:00 UTC; "
        "give a moment from then on."
    )
    with pytest.raises(
        NothingThen, match="at 2021-07-01 09:59:00 BST: its first commit came later, at 2021-07-01 10:00:00 BST;"
    ):
        connect(catalog, as_of="2021-07-01 09:59")  # a London moment: the first commit in London time too
