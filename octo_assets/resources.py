"""The resources: where things are, and how a run may use the machine. Each is built from the
settings (octo_assets.settings) when the definitions load, and says what is wrong with it
(`problem`) before a run writes anything.

The landing area, the lake and the catalog may each be a local path or an `s3://bucket/prefix`
URL (endpoint and credentials from the standard AWS_* variables); the source SQLite database
is always a local file.
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from octo_assets import settings
from octo_assets.lake import Lake
from octo_assets.lake_root import root_problem
from octo_assets.readings.exchange import Exchange
from octo_assets.settings import (
    DEFAULT_MEMORY_MB,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TIMEOUT_S,
    LANDING_OPEN_DAYS,
    MEMORY_MB,
    MIN_MEMORY_MB,
    OPEN_DAYS,
    READINGS_STEPS,
    RETENTION_DAYS,
    WORKER_TIMEOUT_S,
    WORKERS,
    WorkerLimits,
    cores,
)
from octo_assets.staging import blocking_file, folder_problem, staging_problem
from octo_assets.storage import CREDENTIALS, Storage, StorageError, credentials_problem, is_remote

SQLITE_HEADER = b"SQLite format 3\x00"


class LandingFolder(dg.ConfigurableResource):
    """Where readings files land (read recursively): a folder or an S3 prefix."""

    path: str
    # dated delivery folders (YYYY-MM-DD/) listed every time, the newest first: deliveries still arriving
    open_days: int = OPEN_DAYS

    def problem(self) -> str | None:
        if self.open_days < 1:
            return f"{LANDING_OPEN_DAYS}: {self.open_days} is below the minimum (1); set it to 1 or more."
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
        return None


class LakeStorage(dg.ConfigurableResource):
    """The root of the Parquet lake: a folder or an S3 prefix."""

    root: str
    retention_days: int = DEFAULT_RETENTION_DAYS  # how far back time travel reaches (housekeeping)

    def problem(self) -> str | None:
        """Also what is at the root: the lake writes (and housekeeping deletes) only in a root that
        is empty or holds the lake alone (lake_root; a few listings, however large the lake)."""
        if is_remote(self.root):
            why = _storage_problem(self.root)
            if why:
                return f"OCTO_LAKE_DIR: {self.root} {why}; fix the bucket or the AWS_* settings."
        else:
            why = _unwritable_folder("OCTO_LAKE_DIR", Path(self.root).expanduser())
            if why:
                return why
        try:
            return root_problem(Storage(self.root), self.root)
        except OSError as exc:
            return f"OCTO_LAKE_DIR: {self.root} cannot be listed ({exc}); check the folder or the AWS_* settings."

    def lake(self) -> Lake:
        _fail_on(self.problem())
        return Lake(Storage(self.root), self.retention_days)


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
        blocking = blocking_file(path.parent)
        if blocking is not None:
            return (
                f"OCTO_WAREHOUSE: {self.path} cannot be created: {blocking} is a file; "
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


class ReadingsWorkers(dg.ConfigurableResource):
    """How the readings step may use the machine; the engine is handed these as plain values."""

    processes: int = 0  # make run's pre-pass worker processes; 0: one per core this process may use
    steps: int = 0  # parse and assembling steps a readings run takes; 0: from its files (readings.steps.steps_for)
    task_timeout_s: float = DEFAULT_TIMEOUT_S  # the longest one task (a batch of files, a slice of a day) may take
    memory_mb: int = DEFAULT_MEMORY_MB  # what one worker's share of a day may hold

    def problem(self) -> str | None:
        if self.steps < 0:
            return f"{READINGS_STEPS}: {self.steps} is not a number of steps; set it to 1 or more, or unset it."
        if self.processes < 0:
            return f"{WORKERS}: {self.processes} is not a number of processes; set it to 1 or more."
        if not self.task_timeout_s > 0:
            return f"{WORKER_TIMEOUT_S}: {self.task_timeout_s} is not a number of seconds above 0."
        if self.memory_mb < MIN_MEMORY_MB:
            least = MIN_MEMORY_MB
            return f"{MEMORY_MB}: {self.memory_mb} is below the minimum ({least}); set it to {least} or more."
        return staging_problem()  # where the workers stage a day (OCTO_STAGING_DIR)

    def limits(self) -> WorkerLimits:
        _fail_on(self.problem())
        return WorkerLimits(self.processes or cores(), self.task_timeout_s, self.memory_mb)


class ExchangeIOManager(dg.ConfigurableIOManager):
    """The outputs of a readings run's steps (descriptors and counts, kilobytes), pickled under the
    producing run's prefix of the lake (readings.exchange): every step can read them, on whichever
    machine it runs, and a re-execution reads its parent run's."""

    root: str  # the lake's (LakeStorage.root)

    def _where(self, identifier: list[str]) -> tuple:
        run, *rest = identifier
        name = "/".join(part.replace("/", "_") for part in rest)
        return Exchange(Storage(self.root).url, run), f"io/{name}.pickle"

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        exchange, name = self._where(context.get_identifier())
        exchange.write_object(name, obj)

    def load_input(self, context: dg.InputContext):
        exchange, name = self._where(context.upstream_output.get_identifier())
        return exchange.read_object(name)


def _storage_problem(url: str) -> str | None:
    try:
        return Storage(url).reachable_problem()
    except StorageError as exc:
        return str(exc)


def _unwritable_folder(name: str, folder: Path) -> str | None:
    problem = folder_problem(name, folder)
    return f"{problem}." if problem else None


def _fail_on(problem: str | None) -> None:
    if problem:
        raise dg.Failure(description=problem)


def setting_problems(resources: dict) -> list[str]:
    """One sentence per wrong setting, naming the setting and the fix. Missing AWS credentials are
    one sentence, whichever settings are on S3."""
    on_s3 = [name for name, url in _locations(resources) if is_remote(url)]
    why = credentials_problem() if on_s3 else None
    if why:
        local = [r for name, r in resources.items() if name not in ("landing", "lake", "warehouse")]
        return [
            f"{', '.join(SETTING_OF[name] for name in on_s3)} {'is' if len(on_s3) == 1 else 'are'} on S3, but {why}: "
            f"set {CREDENTIALS} (and AWS_ENDPOINT_URL for an S3 server other than AWS's).",
            *[p for r in local if hasattr(r, "problem") and (p := r.problem())],
        ]
    return [p for r in resources.values() if hasattr(r, "problem") and (p := r.problem())]


SETTING_OF = {"landing": settings.READINGS_DIR, "lake": settings.LAKE_DIR, "warehouse": settings.WAREHOUSE}


def _locations(resources: dict) -> list[tuple[str, str]]:
    """(resource name, URL or path) of the resources that may be on S3."""
    found = []
    for name, resource in resources.items():
        if isinstance(resource, LandingFolder | Warehouse):
            found.append((name, resource.path))
        elif isinstance(resource, LakeStorage):
            found.append((name, resource.root))
    return found


def build_resources(
    readings_dir: str,
    source_db: str,
    lake_dir: str,
    warehouse: str,
    open_days: int = OPEN_DAYS,
    workers=None,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> dict:
    lake = LakeStorage(root=str(lake_dir), retention_days=retention_days)
    return {
        "landing": LandingFolder(path=str(readings_dir), open_days=open_days),
        "source_db": SourceDatabase(path=str(source_db)),
        "lake": lake,
        "warehouse": Warehouse(path=str(warehouse)),
        "workers": workers or ReadingsWorkers(),
        # a readings run's steps hand each other their outputs through the lake's storage
        "readings_exchange_io": ExchangeIOManager(root=str(lake_dir)),
        # analytics SQL runs in a private in-memory database over Parquet, never in the catalog
        "duckdb": DuckDBResource(database=":memory:", connection_config={"threads": 2}),
    }


def resources_from_env() -> dict:
    """The resources as the settings say (a wrong value: settings.SettingError, one sentence)."""
    location = settings.location
    workers = ReadingsWorkers(
        processes=settings.whole_number(WORKERS, 0, 1, "processes", "or unset it for one per core"),
        task_timeout_s=settings.seconds(
            WORKER_TIMEOUT_S, DEFAULT_TIMEOUT_S, f"or unset it for {DEFAULT_TIMEOUT_S:.0f}"
        ),
        memory_mb=settings.whole_number(
            MEMORY_MB, DEFAULT_MEMORY_MB, MIN_MEMORY_MB, "megabytes", f"or unset it for {DEFAULT_MEMORY_MB}"
        ),
        steps=settings.whole_number(READINGS_STEPS, 0, 1, "steps", "or unset it to choose from the day's files"),
    )
    return build_resources(
        location(settings.READINGS_DIR),
        location(settings.SOURCE_DB),
        location(settings.LAKE_DIR),
        location(settings.WAREHOUSE),
        settings.whole_number(LANDING_OPEN_DAYS, OPEN_DAYS, 1, "days", f"or unset it for {OPEN_DAYS}"),
        workers,
        settings.whole_number(
            RETENTION_DAYS, DEFAULT_RETENTION_DAYS, 1, "days", f"or unset it for {DEFAULT_RETENTION_DAYS}"
        ),
    )
