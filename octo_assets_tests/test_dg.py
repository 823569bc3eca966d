"""`dg`, the current Dagster CLI, finds and loads the code location from the repository root."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


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
