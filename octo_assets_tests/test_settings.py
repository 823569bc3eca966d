"""A wrong setting stops `make run` with one sentence naming the setting and the fix."""

import os
import subprocess
import sys

import pytest


def run_main(ws, tmp_path, **overrides) -> subprocess.CompletedProcess:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").touch()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OCTO_READINGS_DIR": str(ws.readings),
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_LAKE_DIR": str(ws.lake),
        "OCTO_WAREHOUSE": str(ws.warehouse),
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "-m", "octo_assets.run"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("OCTO_READINGS_DIR", "{tmp}/nowhere", "is not a folder; point OCTO_READINGS_DIR at the folder"),
        ("OCTO_SOURCE_DB", "{tmp}/missing.db", "does not exist; point OCTO_SOURCE_DB at the SQLite database file"),
        ("OCTO_SOURCE_DB", "{readings}/0432df65f7.json", "is not a SQLite database"),
        ("OCTO_LAKE_DIR", "{readings}/0432df65f7.json/lake", "cannot write to"),
        ("OCTO_WAREHOUSE", "{tmp}", "is a folder; set OCTO_WAREHOUSE to a file path"),
    ],
)
def test_a_wrong_setting_is_one_clear_sentence(sample_workspace, tmp_path, setting, value, says):
    value = value.format(tmp=tmp_path, readings=sample_workspace.readings)
    done = run_main(sample_workspace, tmp_path, **{setting: value})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"{setting}: {value}") or line.startswith(f"{setting}: cannot write to")
    assert says in line
