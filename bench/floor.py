"""The floor: what no pipeline can go below. Every landing file listed, read and parsed with
orjson once, one process per core, nothing kept (no validation, no columns, no output).

    python -m bench.floor READINGS_DIR

Prints the files and readings seen. bench.run times it beside the pipeline, in the same run:
the pipeline's wall time over the floor's is the ratio the issue sets a target for.
"""

import multiprocessing
import os
import sys

import orjson


def listing(folder: str) -> list[str]:
    """Every .json file below `folder` (the pipeline lists the same way: os.scandir, no symlinked folders)."""
    found = []
    for parent, _, names in os.walk(folder):
        found.extend(os.path.join(parent, name) for name in names if name.endswith(".json"))
    return found


def parse(paths: list[str]) -> int:
    rows = 0
    for path in paths:
        with open(path, "rb") as file:
            rows += len(orjson.loads(file.read())["data"])
    return rows


def main(folder: str) -> None:
    paths = listing(folder)
    cores = len(os.sched_getaffinity(0))
    shares = [paths[n::cores] for n in range(cores)]  # interleaved: each core gets every kind of file
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        rows = sum(pool.map(parse, shares))
    print(f"files read: {len(paths)}, rows read: {rows}, processes: {cores}")


if __name__ == "__main__":
    main(sys.argv[1])
