"""Asset checks: what the pipeline proves about each asset after every materialisation."""

ASSET_CHECKS: list = []
