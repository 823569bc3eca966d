"""A Dagster instance serves one lake.

The instance (a DAGSTER_HOME's SQLite files, or a deployment's PostgreSQL database) holds the
runs, the event log and the sensors' cursors of the lake its runs wrote, and the automation reads
them as that lake's: the correction sensor compares the snapshots it finds there, the landing
sensor's cursor is a moment of that lake's landing state. Mixed with a second lake's they would
be read as the first's. So the instance records the lake it serves, in its own key-value store
(the run storage's: a SQLite home and a PostgreSQL database alike), on first use (`make run`, a
run, a sensor or schedule tick); from then on, whatever is pointed at another lake is refused with
one sentence naming both: `make run` stops, a tick skips, a run fails where it sets up the lake.

The record is the instance's, not the lake's: it is the instance whose state would mix, and the
lake root holds the lake alone (lake_root). A lake is named by where it is: a folder by its
absolute path with symlinks resolved (`data/lake`, `./data/lake/` and a link to it are one lake), an
S3 prefix by its URL without trailing slashes and, when AWS_ENDPOINT_URL is set, that endpoint
(the same bucket on two S3 services is two lakes).
"""

import hashlib
import os

import dagster as dg
from dagster._core.storage.runs import SqliteRunStorage

from octo_assets.resources import LakeStorage
from octo_assets.settings import LAKE_DIR
from octo_assets.storage import Storage, StorageError

LAKE_KEY = "octo/lake"  # in the instance's key-value store: the lake it serves


def lake_location(root: str) -> str:
    """The lake at `root` (OCTO_LAKE_DIR), named the same however it is spelt."""
    storage = Storage(root)
    if storage.is_local:
        return storage.url
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip().rstrip("/")
    return f"{storage.url} at {endpoint}" if endpoint else storage.url


def recorded_lake(instance: dg.DagsterInstance) -> str | None:
    """The lake `instance` serves; None before its first use."""
    return instance.run_storage.get_cursor_values({LAKE_KEY}).get(LAKE_KEY)


def refusal(instance: dg.DagsterInstance, lake: LakeStorage, claim: bool = True) -> str | None:
    """None if `instance` serves `lake`, recording it (`claim`) if the instance served none yet and
    the lake's setting is sound (a mistyped OCTO_LAKE_DIR is reported as such where the lake is
    used, and claims nothing); else the sentence that refuses it."""
    try:
        location = lake_location(lake.root)
    except StorageError:
        return None  # not a lake at all: LakeStorage.problem says so where the lake is used
    recorded = recorded_lake(instance)
    if recorded is None:
        if not claim or lake.problem():
            return None
        instance.run_storage.set_cursor_values({LAKE_KEY: location})
        recorded = recorded_lake(instance)  # two first uses at once: the last one recorded wins
    if recorded == location:
        return None
    return (
        f"{_which(instance)} holds the runs of the lake {recorded}, not of {LAKE_DIR} {location}: "
        f"{_fix(instance, location)}, or set {LAKE_DIR} back to {recorded}."
    )


def _which(instance: dg.DagsterInstance) -> str:
    if instance.is_ephemeral:
        return "This Dagster instance"
    if isinstance(instance.run_storage, SqliteRunStorage):
        return f"The Dagster home {instance.root_directory}"
    kind = "PostgreSQL" if "Postgres" in type(instance.run_storage).__name__ else type(instance.run_storage).__name__
    return f"The Dagster instance of {instance.root_directory} (its runs in {kind})"


def _fix(instance: dg.DagsterInstance, location: str) -> str:
    if not instance.is_ephemeral and isinstance(instance.run_storage, SqliteRunStorage):
        home = os.path.join(os.path.dirname(instance.root_directory.rstrip("/")), f".dagster-{_short(location)}")
        return f"give that lake a home of its own (make run DAGSTER_HOME={home}, and the same for make ui)"
    if instance.is_ephemeral:
        return "give that lake an instance of its own"
    return "give that lake an instance of its own (another database: DAGSTER_PG_DB)"


def _short(location: str) -> str:
    return hashlib.sha256(location.encode()).hexdigest()[:8]


class InstanceLake(LakeStorage):
    """The lake, as the code location's runs use it: a run whose Dagster instance serves another
    lake fails where it sets the lake up, before a step reads or writes anything of either."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.run is None or context.instance is None:
            return  # a sensor's or schedule's tick: each checks for itself (and skips)
        refused = refusal(context.instance, self)
        if refused:
            raise dg.Failure(description=refused)


def homed(resources: dict) -> dict:
    """`resources` with the lake an InstanceLake."""
    lake = resources["lake"]
    return {**resources, "lake": InstanceLake(**{name: getattr(lake, name) for name in LakeStorage.model_fields})}
