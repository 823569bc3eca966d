"""`dg`, the current Dagster CLI, finds and loads the code location from the repository root."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_dg_check_defs_loads_every_definition(tmp_path):
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "DAGSTER_HOME": str(tmp_path)}
    # --use-active-venv: load with this interpreter, not whatever .venv the repository holds
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs", "--use-active-venv"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully." in result.stdout


def test_dg_as_the_readme_runs_it_prints_no_venv_warning(tmp_path):
    """The README exports VIRTUAL_ENV=$PWD/.venv with DAGSTER_HOME: without it, dg warns on every
    call that the active venv (none) is not the project's."""
    venv = REPO_ROOT / ".venv"
    if Path(sys.prefix).resolve() != venv.resolve():
        pytest.skip("the README's commands run the repository's .venv (make test uses it)")
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    outputs = {}
    for active in (str(venv), None):
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"DAGSTER_HOME": str(tmp_path)}
        if active:
            env["VIRTUAL_ENV"] = active
        done = subprocess.run(
            [str(venv / "bin" / "dg"), "list", "defs"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[active] = done.stdout + done.stderr
    warning = "does not match the virtual environment found in the project"
    assert warning not in outputs[str(venv)] and "readings" in outputs[str(venv)]
    assert warning in outputs[None]  # what the README's export avoids
