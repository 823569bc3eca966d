"""The integration tier: what needs processes of its own or a large input. `python -m
octo_assets.run`, `make`, `dg dev`, a browser, PostgreSQL, the deployment (daemon and webserver),
runs killed or interrupted by signals, and the benchmarks' helpers. Left out of
`make test-quick`; tests that cannot share the machine are also marked `serial`."""

import pytest


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.integration)
