"""Where things are. Every location is a setting, read from the environment with a default.

The landing area, the lake and the catalog may each be a local path or an `s3://bucket/prefix`
URL (endpoint and credentials from the standard AWS_* variables); the source SQLite database
is always a local file.
"""

import os
import tempfile
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from octo_assets.lake import Lake
from octo_assets.readings.landing import OPEN_DAYS
from octo_assets.storage import Storage, StorageError, is_remote

DEFAULTS = {
    "OCTO_READINGS_DIR": "data/readings",
    "OCTO_SOURCE_DB": "data/case_study.db",
    "OCTO_LAKE_DIR": "data/lake",
    "OCTO_WAREHOUSE": "data/warehouse.duckdb",
}


def setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


SQLITE_HEADER = b"SQLite format 3\x00"


OPEN_DAYS_SETTING = "OCTO_LANDING_OPEN_DAYS"


class LandingFolder(dg.ConfigurableResource):
    """Where readings files land (read recursively): a folder or an S3 prefix."""

    path: str
    # dated delivery folders (YYYY-MM-DD/) listed every time, the newest first: deliveries still arriving
    open_days: int = OPEN_DAYS

    def problem(self) -> str | None:
        if self.open_days < 1:
            return f"{OPEN_DAYS_SETTING}: {self.open_days} is not a number of days; set it to 1 or more."
        why = _storage_problem(self.path)
        if why:
            return (
                f"OCTO_READINGS_DIR: {self.path} {why}; "
                "point OCTO_READINGS_DIR at the folder (or s3://bucket/prefix) the readings files land in."
            )
        return None

    def storage(self) -> Storage:
        _fail_on(self.problem())
        return Storage(self.path)


class SourceDatabase(dg.ConfigurableResource):
    """The nightly SQLite database; only ever opened read-only."""

    path: str
    busy_timeout_s: float = 10.0  # how long to wait for a writer to finish before giving up

    def problem(self) -> str | None:
        path = Path(self.path).expanduser()
        if is_remote(self.path):
            return f"OCTO_SOURCE_DB: {self.path} is a URL; the source database must be a local SQLite file."
        if path.is_dir():
            return f"OCTO_SOURCE_DB: {self.path} is a folder; point OCTO_SOURCE_DB at the SQLite database file in it."
        if not path.is_file():
            return f"OCTO_SOURCE_DB: {self.path} does not exist; point OCTO_SOURCE_DB at the SQLite database file."
        with path.open("rb") as file:
            if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return f"OCTO_SOURCE_DB: {self.path} is not a SQLite database; point OCTO_SOURCE_DB at the right file."
        from octo_assets.source.snapshot import schema_problem

        return schema_problem(path)


class LakeStorage(dg.ConfigurableResource):
    """The root of the Parquet lake: a folder or an S3 prefix."""

    root: str

    def problem(self) -> str | None:
        if is_remote(self.root):
            why = _storage_problem(self.root)
            return f"OCTO_LAKE_DIR: {self.root} {why}; fix the bucket or the AWS_* settings." if why else None
        return _unwritable_folder("OCTO_LAKE_DIR", Path(self.root).expanduser())

    def lake(self) -> Lake:
        _fail_on(self.problem())
        return Lake(Storage(self.root))


class Warehouse(dg.ConfigurableResource):
    """The analysts' DuckDB catalog file (views over the lake): a local path or an S3 object."""

    path: str

    def problem(self) -> str | None:
        if is_remote(self.path):
            why = _storage_problem(self.path.rsplit("/", 1)[0])
            return f"OCTO_WAREHOUSE: {self.path} {why}; fix the bucket or the AWS_* settings." if why else None
        path = Path(self.path).expanduser()
        if path.is_dir():
            return (
                f"OCTO_WAREHOUSE: {self.path} is a folder; "
                "set OCTO_WAREHOUSE to a file path such as data/warehouse.duckdb."
            )
        return _unwritable_folder("OCTO_WAREHOUSE", path.parent)

    def location(self) -> tuple[Storage, str]:
        """The storage holding the catalog file, and the file's name in it."""
        _fail_on(self.problem())
        folder, _, name = self.path.rstrip("/").rpartition("/")
        if not is_remote(self.path):
            path = Path(self.path).expanduser().resolve()
            folder, name = str(path.parent), path.name
        return Storage(folder), name

    def uri(self) -> str:
        storage, name = self.location()
        return storage.uri(name)


def _storage_problem(url: str) -> str | None:
    try:
        return Storage(url).reachable_problem()
    except StorageError as exc:
        return str(exc)


def _unwritable_folder(name: str, folder: Path) -> str | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"{name}: cannot write to {folder} ({reason}); choose a folder you can write to, or fix its permissions."
    return None


def _fail_on(problem: str | None) -> None:
    if problem:
        raise dg.Failure(description=problem)


def setting_problems(resources: dict) -> list[str]:
    """One sentence per wrong setting, naming the setting and the fix."""
    return [p for r in resources.values() if hasattr(r, "problem") and (p := r.problem())]


def build_resources(readings_dir: str, source_db: str, lake_dir: str, warehouse: str) -> dict:
    return {
        "landing": LandingFolder(path=str(readings_dir)),
        "source_db": SourceDatabase(path=str(source_db)),
        "lake": LakeStorage(root=str(lake_dir)),
        "warehouse": Warehouse(path=str(warehouse)),
        # analytics SQL runs in a private in-memory database over Parquet, never in the catalog
        "duckdb": DuckDBResource(database=":memory:", connection_config={"threads": 2}),
    }


def resources_from_env() -> dict:
    resources = build_resources(
        setting("OCTO_READINGS_DIR"), setting("OCTO_SOURCE_DB"), setting("OCTO_LAKE_DIR"), setting("OCTO_WAREHOUSE")
    )
    resources["landing"] = LandingFolder(path=setting("OCTO_READINGS_DIR"), open_days=open_days())
    return resources


def open_days() -> int:
    value = os.environ.get(OPEN_DAYS_SETTING, "").strip()
    if not value:
        return OPEN_DAYS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"{OPEN_DAYS_SETTING}: {value!r} is not a number of days; "
            f"set it to 1 or more (or unset it for {OPEN_DAYS})."
        )
    return int(value)
