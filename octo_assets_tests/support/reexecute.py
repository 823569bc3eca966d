"""Re-execute a failed build run from its failure, as an operator does from the UI, in a process
of its own (the steps run under the deployment's executor, which needs a `__main__` guard):

    python -m octo_assets_tests.support.reexecute RUN_ID

The settings (OCTO_*, DAGSTER_HOME) come from the environment. Prints the new run's id; exits 1
if it failed. The new run carries its parent's tags: its day (Dagster does not copy those)."""

import sys

import dagster as dg

from octo_assets.run.pipeline import deployed_job


def main(parent_id: str) -> int:
    with dg.DagsterInstance.get() as instance:
        parent = instance.get_run_by_id(parent_id)
        job = dg.build_reconstructable_job(
            deployed_job.__module__, deployed_job.__name__, reconstructable_args=(parent.job_name,)
        )
        if parent.asset_selection is not None:  # make run's runs are subsets of the build job
            job = job.get_subset(
                asset_selection=parent.asset_selection, asset_check_selection=parent.asset_check_selection
            )
        result = dg.execute_job(
            job,
            instance=instance,
            tags=dict(parent.tags),
            run_config=parent.run_config,
            reexecution_options=dg.ReexecutionOptions.from_failure(parent_id, instance),
        )
        print(result.run_id)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
