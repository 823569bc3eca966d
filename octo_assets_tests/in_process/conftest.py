"""The in-process tier: the asset graph run by Dagster in the test's process on a real instance
(assets, checks, sensors, schedules, the backfill and sensor daemons' own iterations), the lake
and landing area as real files; on the S3 server too where the backend changes behaviour."""

import pytest


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.in_process)
