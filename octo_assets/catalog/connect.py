"""`connect()`: the analysts' way in. A DuckDB connection to the catalog, ready to query.

`connect(as_of="2021-02-03 09:00")` opens the catalog as it stood at that moment instead: the
same views, each over its table's Delta version of that moment (a time without a zone is
Europe/London's), in a private in-memory database. It reads the lake the catalog names.

The catalog's views read Parquet by path: absolute paths for a lake on disk, s3:// URLs for a
lake on object storage. DuckDB reads s3:// itself only with its httpfs extension, which cannot
be installed at run time on hosts without internet access; so the lake's S3 filesystem (s3fs,
configured by the standard AWS_* variables) is registered on the connection instead. A catalog
that is itself an S3 object is fetched into a local cache first (it holds only views: a few KB)
and opened read-only.

The catalog is only ever opened read-only: every run that builds it replaces the file whole, so
a table an analyst made in it would be gone after the next run. Their own tables go in a DuckDB
file of theirs, beside the catalog (CatalogIsRebuilt says how).
"""

import hashlib
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from octo_assets import settings
from octo_assets.catalog.views import VIEWS, create_views
from octo_assets.domain import LOCAL_TZ
from octo_assets.lake import Lake, history
from octo_assets.relations import sql_literal
from octo_assets.storage import Storage, is_remote, register_filesystems


class CatalogNotFound(Exception):
    """There is no catalog at the configured place; the message says how to make one."""


class NothingThen(Exception):
    """The lake held no table at the moment asked for; the message gives the first moment it did."""


class CatalogIsRebuilt(ValueError):
    """connect(read_only=False): the catalog is replaced by every run; the message says where an
    analyst's own tables go instead."""


def rebuilt_by_every_run(location: str) -> str:
    """Why the catalog is not opened for writing, and what to do instead, in one sentence."""
    return (
        f"connect(read_only=False): the catalog {location} is rebuilt by every run, which would drop "
        "any table you create in it; keep your own tables in a DuckDB file of yours: "
        "con = connect(); con.execute(\"ATTACH 'mine.duckdb' AS mine\"), then CREATE TABLE mine.… "
        "(or duckdb.connect('mine.duckdb') and ATTACH the catalog READ_ONLY)."
    )


def connect(
    warehouse: str | os.PathLike | None = None, read_only: bool = True, as_of: str | datetime | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the catalog (default: OCTO_WAREHOUSE), read-only, with the lake's filesystem
    registered; with `as_of`, the catalog as it stood at that moment. `read_only=False` is
    refused (CatalogIsRebuilt): every run replaces the catalog."""
    location = str(warehouse or settings.location(settings.WAREHOUSE))
    if not read_only:
        raise CatalogIsRebuilt(rebuilt_by_every_run(location))
    if as_of is not None:
        with connect(warehouse) as catalog:
            return connect_as_of(catalog, moment(as_of))
    if is_remote(location):
        path = _local_copy(location)
    else:
        path = Path(location).expanduser().resolve()
        if not path.is_file():
            raise CatalogNotFound(f"No catalog at {path}: run `make run` first (or set OCTO_WAREHOUSE).")
    # attached to a new in-memory database: duckdb.connect(path) would hand back the database an
    # open session of this process holds, the file as it was before the catalog was rebuilt
    connection = duckdb.connect()
    connection.execute(f"ATTACH {sql_literal(str(path))} AS {quoted(path.stem)} (READ_ONLY)")
    connection.execute(f"USE {quoted(path.stem)}")
    [(remote_views,)] = connection.execute("SELECT count(*) FROM duckdb_views() WHERE sql LIKE '%s3://%'").fetchall()
    if remote_views:
        register_filesystems(connection, ["s3://"])
    return connection


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def moment(as_of: str | datetime) -> datetime:
    """A moment to read the lake at; without a zone, Europe/London's wall clock."""
    try:
        when = as_of if isinstance(as_of, datetime) else datetime.fromisoformat(str(as_of).strip())
    except ValueError:
        raise ValueError(f"{as_of!r} is not a date and time") from None
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(LOCAL_TZ))


def connect_as_of(catalog: duckdb.DuckDBPyConnection, at: datetime) -> duckdb.DuckDBPyConnection:
    """The views of `catalog`, over every table's version at the moment `at`, in a new in-memory
    database. A table not committed yet then (the moment falls within the first run) is empty,
    with its columns, and `lake.versions` gives it no version: what the lake held of it then."""
    rows = catalog.execute("SELECT table_name, table_uri FROM lake.versions").fetchall()
    name, uri = rows[0]
    lake = Lake(uri[: -len(name) - 1])
    connection = duckdb.connect()
    if not create_views(connection, lake, at):
        connection.close()
        first = first_commit(lake)
        then = f", at {first.astimezone(at.tzinfo):%Y-%m-%d %H:%M:%S %Z}; give a moment from then on" if first else ""
        raise NothingThen(f"{lake.root} held no table at {at:%Y-%m-%d %H:%M:%S %Z}: its first commit came later{then}.")
    return connection


def first_commit(lake: Lake) -> datetime | None:
    """When the earliest commit the lake's tables keep was made (their logs reach back
    OCTO_RETENTION_DAYS), or None for a lake of no table."""
    stamps = []
    for table in dict.fromkeys(view.table for view in VIEWS):
        found = lake.delta(table)
        if found is not None:
            stamps += [entry["timestamp"] for entry in history(found)]
    return datetime.fromtimestamp(min(stamps) / 1000, timezone.utc) if stamps else None


def _local_copy(uri: str) -> Path:
    """The S3 catalog object in a local cache, fetched again only when its ETag changed."""
    folder, _, name = uri.rpartition("/")
    storage = Storage(folder)
    version = storage.version(name)
    if version is None:
        raise CatalogNotFound(f"No catalog at {uri}: run `make run` with OCTO_WAREHOUSE={uri} first.")
    cache = Path(tempfile.gettempdir()) / "octo-catalog-cache"
    cache.mkdir(exist_ok=True)
    path = cache / f"{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{version}.duckdb"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(storage.read_bytes(name))
        os.replace(partial, path)
    return path
