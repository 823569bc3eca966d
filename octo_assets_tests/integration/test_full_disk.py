"""`make run` on a staging disk that fills up: a real full disk, no mock. The run's process gets a
mount namespace of its own (`unshare`) in which OCTO_STAGING_DIR is a 128 KB tmpfs: the sample's
staged readings do not fit, the write that finds the disk full fails with ENOSPC, and the run
stops with one sentence. The mount lives and dies with the process: nothing is mounted on the
machine. Where mount namespaces are not allowed (no root, no user namespaces), the test skips;
the sentence itself is tested without a disk in engine/test_staging_full.py."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from octo_assets_tests.support.commands import one_sentence, quiet_dagster_home, workspace_env

# mounts a tmpfs of $SIZE on $0 in this namespace, then runs the command
MOUNTED = 'mount -t tmpfs -o size="$SIZE" octo-full "$0" && exec "$@"'


def unshare(folder: Path) -> list[str] | None:
    """The command prefix that runs a command with a tmpfs on `folder` seen by it alone, or None
    where this machine allows no mount namespace."""
    folder.mkdir(parents=True, exist_ok=True)
    flags = "-m" if os.geteuid() == 0 else "-rm"  # not root: a user namespace, mapped to root in it
    prefix = ["unshare", flags, "sh", "-c", MOUNTED, str(folder)]
    try:
        probe = subprocess.run([*prefix, "true"], env={**os.environ, "SIZE": "64k"}, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 else None


def test_a_full_staging_disk_stops_the_run_with_one_sentence_naming_the_folder_and_the_fix(sample_workspace, tmp_path):
    staging = tmp_path / "staging"
    prefix = unshare(staging)
    if prefix is None:
        pytest.skip("no mount namespace here (unshare -m needs root, unshare -rm user namespaces)")
    env = workspace_env(
        sample_workspace,
        DAGSTER_HOME=str(quiet_dagster_home(tmp_path / "dagster_home")),
        OCTO_STAGING_DIR=str(staging),
        SIZE="8k",  # less than a day of the sample as its assembling step writes it (a Parquet file)
    )
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "octo_assets.run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    sentence = one_sentence(done)
    assert done.returncode == 1
    # the step that filled it stops the run: the run's id, then the sentence
    assert sentence.split(" failed: ", 1)[-1].startswith(f"OCTO_STAGING_DIR: the disk of {staging} is full (")
    assert " free of 8.0 KB): " in sentence
    assert "point OCTO_STAGING_DIR at a folder on a disk with more room" in sentence
    assert not (sample_workspace.lake / "readings").exists()  # nothing published
