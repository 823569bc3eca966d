"""The suite watches its own time (a pytest plugin, loaded by pyproject's addopts).

Each session prints, at its end, every tier's tests and summed test time (setup, call and
teardown), and appends the same facts to the file $OCTO_TEST_TIMES when it is set. `make test`
runs two sessions (the parallel part, then the tests marked `serial`, alone) and then

    python -m octo_assets_tests.support.suite FILE

which prints both parts' wall time, each tier's, and the 25 slowest tests of the whole suite.

It also orders a session's tests so that the long ones start first (the integration tier, then
the in-process tier, then the engine), which keeps a parallel session from ending on one long
test, and marks `s3` every test that starts the S3 server through its fixture.
"""

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

TIERS = ("integration", "in_process", "engine")  # also the order a session runs them in
SLOWEST = 25
TIMES = "OCTO_TEST_TIMES"


def tier_of(nodeid: str) -> str:
    """The tier of a test, from its folder: octo_assets_tests/<tier>/test_*.py."""
    parts = nodeid.split("::")[0].split("/")
    return next((part for part in parts if part in TIERS), "other")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "s3_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)
    # stable: within a tier, files and tests keep their order (module fixtures are built once)
    items.sort(key=lambda item: TIERS.index(tier_of(item.nodeid)) if tier_of(item.nodeid) in TIERS else len(TIERS))


class Timer:
    def __init__(self, config):
        self.config = config
        self.started = time.monotonic()
        self.durations: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report):
        self.durations[report.nodeid] += report.duration

    def records(self) -> dict:
        workers = getattr(self.config.option, "numprocesses", None) or 1
        part = "serial" if self.config.option.markexpr == "serial" else "parallel" if workers > 1 else "session"
        return {
            "part": part,
            "workers": workers,
            "wall_s": round(time.monotonic() - self.started, 1),
            "tests": {nodeid: round(seconds, 3) for nodeid, seconds in self.durations.items()},
        }

    def pytest_terminal_summary(self, terminalreporter):
        records = self.records()
        for line in tier_lines([records]):
            terminalreporter.write_line(line)
        path = os.environ.get(TIMES)
        if path:
            with open(path, "a") as file:
                file.write(json.dumps(records) + "\n")


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller of a parallel session, or a plain one
        config.pluginmanager.register(Timer(config), "octo-suite-timer")


def tier_lines(sessions: list[dict]) -> list[str]:
    tests: dict[str, dict[str, float]] = defaultdict(dict)
    for session in sessions:
        for nodeid, seconds in session["tests"].items():
            tests[tier_of(nodeid)][nodeid] = seconds
    lines = ["", "the suite's time, by tier (test time summed over setup, call and teardown):"]
    for tier in (*reversed(TIERS), "other"):
        if tests.get(tier):
            lines.append(f"  {tier:<12} {len(tests[tier]):>5} tests  {sum(tests[tier].values()):8.1f} s")
    for session in sessions:
        lines.append(
            f"  {session['part']} part: {len(session['tests'])} tests in {session['wall_s']:.1f} s wall time"
            f" ({session['workers']} worker{'s' if session['workers'] > 1 else ''})"
        )
    return lines


def report(path: Path) -> None:
    """The whole suite's time, from the sessions `make test` ran: both parts, each tier, the slowest."""
    if not path.is_file():
        print(f"no test times in {path}")
        return
    sessions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for line in tier_lines(sessions):
        print(line)
    every = {nodeid: seconds for session in sessions for nodeid, seconds in session["tests"].items()}
    print(f"  all: {len(every)} tests, {sum(s['wall_s'] for s in sessions):.1f} s wall time")
    print(f"\nthe {SLOWEST} slowest tests:")
    for nodeid, seconds in sorted(every.items(), key=lambda item: -item[1])[:SLOWEST]:
        print(f"  {seconds:7.2f} s  {nodeid}")


if __name__ == "__main__":
    report(Path(sys.argv[1]))
