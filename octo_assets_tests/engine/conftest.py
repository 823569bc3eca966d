"""The engine tier: the Dagster-free code (parser, landing state, lake, storage, source reading,
the days a correction moves, settings and their sentences) called directly, no Dagster run.
Fast enough for every commit: `make test-quick` runs it with the in-process tier."""

import pytest


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.engine)
