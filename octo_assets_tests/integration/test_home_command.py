"""`make run` on a Dagster home made for another lake, as a user meets it: one sentence naming
both lakes and the fix, exit 1, nothing read or written (octo_assets.home)."""

from pathlib import Path

import dagster as dg

from octo_assets.home import refusal
from octo_assets.resources import LakeStorage
from octo_assets_tests.support.commands import one_sentence, quiet_dagster_home, run_main


def test_make_run_on_a_home_made_for_another_lake_stops_with_one_sentence(sample_workspace, tmp_path):
    ws = sample_workspace
    home = quiet_dagster_home(tmp_path / "dagster_home")  # the home run_main gives the command
    other = tmp_path / "other" / "lake"
    other.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert refusal(instance, LakeStorage(root=str(other))) is None  # made for the other lake
    done = run_main(ws, tmp_path)
    said = one_sentence(done)
    assert done.returncode == 1
    assert said.startswith(
        f"The Dagster home {home} holds the runs of the lake {other}, not of OCTO_LAKE_DIR {ws.lake}: "
    )
    assert said.endswith(f"or set OCTO_LAKE_DIR back to {other}.")
    assert not ws.lake.exists() and not Path(ws.warehouse).exists()
