"""The Makefile as a user meets it: `make help` lists every target with what it does, and every
target it declares does something (`make -n`: the commands, not run)."""

import re
import subprocess

from octo_assets_tests.support.commands import as_a_shell_runs_make
from octo_assets_tests.support.workspace import REPO_ROOT


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", *args], cwd=REPO_ROOT, env=as_a_shell_runs_make(), capture_output=True, text=True, timeout=60
    )


def declared() -> set[str]:
    (line,) = [line for line in (REPO_ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:")]
    return set(line.split(":", 1)[1].split())


def test_make_help_lists_every_target_with_what_it_does():
    done = make("help")
    assert done.returncode == 0, done.stderr
    described = dict(re.findall(r"^  make (\S+) +(.+)$", done.stdout, re.MULTILINE))
    assert set(described) == declared()
    assert all(len(text) > 10 for text in described.values())
    assert "http://127.0.0.1:3000 " in described["ui"]  # the port itself, not $(PORT)
    assert (
        "http://127.0.0.1:3001 "
        in dict(re.findall(r"^  make (\S+) +(.+)$", make("help", "PORT=3001").stdout, re.M))["ui"]
    )


def test_every_declared_target_has_a_recipe_and_bench_runs_the_benchmarks():
    for target in declared():
        done = make("-n", target)
        assert done.returncode == 0 and "Nothing to be done" not in done.stdout + done.stderr, (target, done.stderr)
    assert (
        make("-n", "bench")
        .stdout.splitlines()[-1]
        .endswith("-m bench.run --all && .venv/bin/python -m bench.up_to_date")
    )
    assert make("-n", "bench", "ARGS=--fixed-cost").stdout.splitlines()[-1].endswith("-m bench.run --fixed-cost")


def test_make_alone_still_only_makes_the_venv():
    assert ".venv" in make("-n").stdout and "help" not in make("-n").stdout
