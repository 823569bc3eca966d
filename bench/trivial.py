"""Three trivial assets in a chain: Dagster's fixed cost of a run, measured by `bench.run --fixed-cost`.

    BENCH_EXECUTOR=multiprocess|in_process dagster asset materialize -m bench.trivial --select '*'

multiprocess (the default, as in Dagster's own default executor) starts a fresh Python process
per step; in_process runs the steps in the run's process, as the project's Definitions do.
"""

import os

import dagster as dg

EXECUTORS = {"multiprocess": dg.multiprocess_executor, "in_process": dg.in_process_executor}


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@dg.asset
def third(second: int) -> int:
    return second + 1


defs = dg.Definitions(
    assets=[first, second, third],
    executor=EXECUTORS[os.environ.get("BENCH_EXECUTOR", "multiprocess")],
)
