"""A parsing worker: `python -m octo_assets.readings.worker < job.json`.

The job (from ingest._stage_in_workers) names batches of landing files, the days wanted and
the staging folder; the worker stages each batch's rows there and exits 0, or exits 1 with
the reason as the last line on stderr. It imports only what parsing needs.
"""

import json
import sys
from datetime import date
from pathlib import Path

from octo_assets.readings.ingest import stage_batches


def main() -> None:
    job = json.load(sys.stdin)
    days = [date.fromisoformat(d) for d in job["days"]]
    stage_batches([(n, batch) for n, batch in job["batches"]], days, Path(job["staging"]))


if __name__ == "__main__":
    main()
