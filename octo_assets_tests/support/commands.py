"""The project's commands run as a user runs them, in processes of their own: `python -m
octo_assets.run` (what `make run` runs) on a workspace's settings, and what such a command says
when it stops."""

import os
import subprocess
import sys
from pathlib import Path

from octo_assets_tests.support.workspace import Workspace

# botocore must find no credentials of this machine's: no keys, no files, no instance role
NO_AWS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def as_a_shell_runs_make(env: dict | None = None) -> dict:
    """The environment of `make` typed in a shell: under `make test`, MAKELEVEL and MAKEFLAGS say
    make is nested, and a nested make prints `make[1]:` and the directories it enters."""
    return {k: v for k, v in (env or os.environ).items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def workspace_env(ws: Workspace, **overrides: str | None) -> dict:
    """This process's environment with the workspace's settings (OCTO_*); an override of None
    unsets that variable."""
    env = {
        **os.environ,
        "OCTO_READINGS_DIR": str(ws.readings),
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_LAKE_DIR": str(ws.lake),
        "OCTO_WAREHOUSE": str(ws.warehouse),
        **overrides,
    }
    return {k: v for k, v in env.items() if v is not None}


def quiet_dagster_home(folder: Path) -> Path:
    """A DAGSTER_HOME whose instance prints no telemetry banner (as config/dagster.yaml)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return folder


def run_main(ws: Workspace, tmp_path: Path, *args: str, **overrides: str | None) -> subprocess.CompletedProcess:
    """`python -m octo_assets.run ARGS` on the workspace, with a DAGSTER_HOME of the test's."""
    home = quiet_dagster_home(tmp_path / "dagster_home")
    env = workspace_env(ws, **{"DAGSTER_HOME": str(home), **overrides})
    return subprocess.run(
        [sys.executable, "-m", "octo_assets.run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )


def one_sentence(done: subprocess.CompletedProcess) -> str:
    """A command that stopped with one line on stderr and no traceback: that line."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line
