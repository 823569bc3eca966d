"""A parsing worker: `python -m octo_assets.readings.worker < job.json`.

The job (from ingest._stage_in_workers) names the staging folder (which holds the run's file
list), the landing root, the days wanted and the ranges of the file list this worker parses;
the worker stages each range's rows and exits 0, or exits 1 with the reason as the last line
on stderr. It imports only what parsing needs.
"""

import json
import sys

from octo_assets.readings.ingest import stage_ranges


def main() -> None:
    job = json.load(sys.stdin)
    stage_ranges(job, [tuple(r) for r in job.pop("ranges")])


if __name__ == "__main__":
    main()
