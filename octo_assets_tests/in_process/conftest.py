"""The in-process tier: the asset graph run by Dagster in the test's process on a real instance
(assets, checks, sensors, schedules, the backfill and sensor daemons' own iterations), the lake
and landing area as real files; on the S3 server too where the backend changes behaviour."""

from collections.abc import Callable
from datetime import date

import polars as pl
import pytest

from octo_assets.readings import assemble
from octo_assets_tests.support.runs import snapshot
from octo_assets_tests.support.workspace import SMALL_SOURCE


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.in_process)


@pytest.fixture
def sourced(workspace, instance):
    """A workspace whose source (SMALL_SOURCE: meterpoint m1 on product p1) was snapshotted on 2021-01-01."""
    workspace.write_source(SMALL_SOURCE["agreement"], SMALL_SOURCE["product"], SMALL_SOURCE["meterpoint"])
    assert snapshot(workspace, instance, "2021-01-01").success
    return workspace


@pytest.fixture
def fault_on(monkeypatch):
    """fault_on(day, fault): de-duplication of `day`'s rows goes wrong as `fault` says
    (support.faults); returns the list of the calls it altered (a test asserts the fault really
    happened). Assembly runs in the test's process (OCTO_WORKERS=1), where the fault is."""
    monkeypatch.setenv("OCTO_WORKERS", "1")
    real = assemble.deduplicate

    def install(day: str, fault: Callable) -> list:
        altered = []

        def deduplicate(frame: pl.DataFrame):
            kept, dropped, conflicts = real(frame)
            if frame.height and (frame["interval_start_local"].dt.date() == date.fromisoformat(day)).all():
                kept, dropped = fault(kept, dropped)
                altered.append(kept.height)
            return kept, dropped, conflicts

        monkeypatch.setattr(assemble, "deduplicate", deduplicate)
        return altered

    yield install
    monkeypatch.setattr(assemble, "deduplicate", real)
