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
READINGS_STEPS = "OCTO_READINGS_STEPS"  # parse and assembling steps of a readings run; unset: from its files
LANDING_OPEN_DAYS = "OCTO_LANDING_OPEN_DAYS"  # dated delivery folders still listed every time
DAYS_PER_RUN = "OCTO_DAYS_PER_RUN"  # the most days one backfill run builds
STAGING_DIR = "OCTO_STAGING_DIR"  # local scratch space of a run (storage.staging_root)
RETENTION_DAYS = "OCTO_RETENTION_DAYS"  # how far back "as of" reaches: housekeeping keeps that history
# how a run's steps are started (executors.py)
STEP_EXECUTOR = "OCTO_STEP_EXECUTOR"  # multiprocess (unset: one machine) or k8s (a Kubernetes Job a step)
STEP_K8S_CONFIG = "OCTO_STEP_K8S_CONFIG"  # k8s: the k8s_job_executor's config, YAML (deploy/values.yaml)


# the defaults of the settings a run works by
OPEN_DAYS = 2  # the newest dated delivery folder and the one before it are listed every time
DEFAULT_TIMEOUT_S = 1800.0  # one worker task: a batch of files, or one slice of a day
DEFAULT_MEMORY_MB = 256  # one worker's share of a day
MIN_MEMORY_MB = 16  # below this a worker's share of a day is mostly overhead
# more than a year of "what did we report then?" (settlement reconciliation runs reach back 14 months)
DEFAULT_RETENTION_DAYS = 430

# the most each number setting may be: past these, values stop meaning anything and start failing
# deep in a run (a C int of processes, a date before year 1, a timeout no clock can wait for)
MAXIMUM = {
    WORKERS: 1024,  # processes
    READINGS_STEPS: 64,  # readings.stage.SLICES: the most assembling steps a run can have
    MEMORY_MB: 1024 * 1024,  # a terabyte for one worker's share of a day
    LANDING_OPEN_DAYS: 36500,  # a hundred years of dated folders
    RETENTION_DAYS: 36500,  # a hundred years of versions
    DAYS_PER_RUN: 36500,
    WORKER_TIMEOUT_S: 366 * 86400,  # a year
}


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


def shown(raw: str) -> str:
    """A value as a sentence quotes it: whole when short, its start when long."""
    return repr(raw) if len(raw) <= 24 else f"{raw[:20]!r}… ({len(raw):,} characters)"


def whole_number(name: str, default: int, minimum: int, unit: str, unset: str) -> int:
    """A setting that is a whole number of `unit`, from `minimum` to MAXIMUM[name]; unset:
    `default`. `unset` ends the sentence a wrong value gets ("for one per core", ...)."""
    raw = _raw(name)
    if not raw:
        return default
    maximum = MAXIMUM.get(name)
    most = f" (at most {maximum:,})" if maximum else ""
    fix = f"set it to {minimum} or more{most}, {unset}"
    if not ascii_digits(raw):
        raise SettingError(f"{name}: {shown(raw)} is not a whole number of {unit}; {fix}.")
    digits = raw.lstrip("0") or "0"
    if maximum and (len(digits) > len(str(maximum)) or int(digits) > maximum):  # int() refuses 4,300 digits
        raise SettingError(
            f"{name}: {shown(raw)} is above the maximum ({maximum:,}); set it to {maximum:,} or less, {unset}."
        )
    if int(digits) < minimum:
        raise SettingError(f"{name}: {raw} is below the minimum ({minimum}); {fix}.")
    return int(digits)


def seconds(name: str, default: float, unset: str) -> float:
    """A setting that is a number of seconds above 0, at most MAXIMUM[name], in ASCII (Python's
    float() also reads other scripts' digits); unset: `default`."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = float(raw) if raw.isascii() else float("nan")
    except ValueError:
        value = float("nan")
    maximum = MAXIMUM.get(name, float("inf"))
    if not 0 < value <= maximum:  # also NaN and infinity
        most = f" and at most {maximum:,.0f}" if maximum != float("inf") else ""
        raise SettingError(
            f"{name}: {shown(raw)} is not a number of seconds above 0{most}; set it to one such as 3600, {unset}."
        )
    return value
