"""Every OCTO_* setting read from the environment: one door, so that each is named, defaulted
and validated in one place, with one sentence naming the fix when it is wrong.

Read when the definitions load (resources.resources_from_env, partitions.backfill_policy); the
engine under the assets never reads the environment: it is handed plain values.
"""

import os
from dataclasses import dataclass

# where things are (resources.py says what each may be)
READINGS_DIR = "OCTO_READINGS_DIR"
SOURCE_DB = "OCTO_SOURCE_DB"
LAKE_DIR = "OCTO_LAKE_DIR"
WAREHOUSE = "OCTO_WAREHOUSE"
LOCATIONS = {
    READINGS_DIR: "data/readings",
    SOURCE_DB: "data/case_study.db",
    LAKE_DIR: "data/lake",
    WAREHOUSE: "data/warehouse.duckdb",
}
# how a run works
WORKERS = "OCTO_WORKERS"  # readings worker processes; unset: one per core
WORKER_TIMEOUT_S = "OCTO_WORKER_TIMEOUT_S"  # the longest one worker task may take
MEMORY_MB = "OCTO_MEMORY_MB"  # what one worker's share of a day may hold
LANDING_OPEN_DAYS = "OCTO_LANDING_OPEN_DAYS"  # dated delivery folders still listed every time
DAYS_PER_RUN = "OCTO_DAYS_PER_RUN"  # the most days one backfill run builds
STAGING_DIR = "OCTO_STAGING_DIR"  # local scratch space of a run (storage.staging_root)
RETENTION_DAYS = "OCTO_RETENTION_DAYS"  # how far back "as of" reaches: housekeeping keeps that history


# the defaults of the settings a run works by
OPEN_DAYS = 2  # the newest dated delivery folder and the one before it are listed every time
DEFAULT_TIMEOUT_S = 1800.0  # one worker task: a batch of files, or one slice of a day
DEFAULT_MEMORY_MB = 256  # one worker's share of a day
MIN_MEMORY_MB = 16  # below this a worker's share of a day is mostly overhead
# more than a year of "what did we report then?" (settlement reconciliation runs reach back 14 months)
DEFAULT_RETENTION_DAYS = 430


def cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerLimits:
    """How a readings run may use the machine: plain values for the engine (resources.ReadingsWorkers
    makes them from OCTO_WORKERS, OCTO_WORKER_TIMEOUT_S and OCTO_MEMORY_MB)."""

    processes: int = 1
    task_timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB  # bounds what one worker's share of a day holds

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 2**20


class SettingError(ValueError):
    """A setting's value cannot be used; the message names the setting and the fix."""


def location(name: str) -> str:
    return os.environ.get(name) or LOCATIONS[name]


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def ascii_digits(text: str) -> bool:
    """A whole number as a person types one: 0-9 only. (str.isdigit also takes superscripts and
    circled digits, which int() refuses, and other scripts' digits, which it reads.)"""
    return text.isascii() and text.isdigit()


def whole_number(name: str, default: int, minimum: int, unit: str, unset: str) -> int:
    """A setting that is a whole number of `unit`, `minimum` or more; unset: `default`. `unset`
    ends the sentence a wrong value gets ("for one per core", ...)."""
    raw = _raw(name)
    if not raw:
        return default
    fix = f"set it to {minimum} or more, {unset}"
    if not ascii_digits(raw):
        raise SettingError(f"{name}: {raw!r} is not a whole number of {unit}; {fix}.")
    if int(raw) < minimum:
        raise SettingError(f"{name}: {raw} is below the minimum ({minimum}); {fix}.")
    return int(raw)


def seconds(name: str, default: float, unset: str) -> float:
    """A setting that is a number of seconds above 0; unset: `default`."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:  # also NaN
        raise SettingError(f"{name}: {raw!r} is not a number of seconds above 0; set it to one such as 3600, {unset}.")
    return value
