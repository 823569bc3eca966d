"""How the graph runs itself: schedules, sensors, freshness and automation conditions."""

SCHEDULES: list = []
SENSORS: list = []


def with_policies(assets: list) -> list:
    """The assets with their freshness policies and automation conditions attached."""
    return assets
