"""`python -m octo_assets.run` (what `make run` runs); see octo_assets.run.

A `__main__` module of its own: the readings workers are spawned processes, and a spawned process
re-imports its parent's main module unless that module is a package's `__main__`. This one
imports nothing, so a worker starts without importing Dagster.
"""

import sys

if __name__ == "__main__":
    try:
        from octo_assets.run.pipeline import main
    except ValueError as exc:  # a setting read as the definitions load (OCTO_DAYS_PER_RUN)
        raise SystemExit(str(exc)) from None
    sys.exit(main())
