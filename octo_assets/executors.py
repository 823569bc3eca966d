"""How a run's steps are started: each a process on this machine, or each a Kubernetes Job.

OCTO_STEP_EXECUTOR chooses (settings.STEP_EXECUTOR):
- unset or `multiprocess`: Dagster's multiprocess executor, as many steps at once as OCTO_WORKERS
  (unset: as this process has cores), each step a process forked from a forkserver that imported
  Dagster once (only Dagster: PRELOAD_MODULES says why);
- `k8s`: dagster-k8s's k8s_job_executor, configured by OCTO_STEP_K8S_CONFIG (YAML).

Why the Kubernetes config is a setting rather than code: deploy/values.yaml holds it, as the
value of OCTO_STEP_K8S_CONFIG in the code location's `env`. The chart writes that into the code
location's env ConfigMap, which the code server reads and, with includeConfigInLaunchedRuns, every
run pod and step pod reads too: every process that loads the definitions builds the same executor
from the one text in the one file `helm install -f` takes, and the test renders a step's Job from
that same text (octo_assets_tests/engine/test_step_executor.py). What a step pod also gets from
the run launcher (the settings ConfigMap, the S3 secret, the staging emptyDir) stays in the run
launcher's values: dagster-k8s merges it into every step's Job, so it is written once.
Kubernetes itself is not run here: no cluster on the machines this is built on.
"""

import os

import dagster as dg
import yaml

from octo_assets import settings
from octo_assets.settings import STEP_EXECUTOR, STEP_K8S_CONFIG, SettingError, shown

MULTIPROCESS, K8S = "multiprocess", "k8s"
# imported once by the forkserver, before any step is forked from it. Only what starts no thread:
# importing polars, pyarrow or deltalake starts native threads (their pools), and a process forked
# from one that holds them can hang on a lock a thread that is not copied held (it did: every step)
PRELOAD_MODULES = ["dagster"]


def step_executor() -> dg.ExecutorDefinition:
    """The executor OCTO_STEP_EXECUTOR names (a wrong value: SettingError, one sentence)."""
    raw = os.environ.get(STEP_EXECUTOR, "").strip()
    choice = raw.lower() or MULTIPROCESS
    if choice == MULTIPROCESS:
        return dg.multiprocess_executor.configured(
            {
                # OCTO_WORKERS: how many of a run's steps work at once on this machine (unset: a core each)
                "max_concurrent": settings.whole_number(
                    settings.WORKERS, settings.cores(), 1, "processes", "or unset it for one per core"
                ),
                "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}},
            }
        )
    if choice == K8S:
        return k8s_step_executor()
    raise SettingError(
        f"{STEP_EXECUTOR}: {shown(raw)} is not an executor; set it to {MULTIPROCESS} or {K8S}, "
        f"or unset it for {MULTIPROCESS}."
    )


def k8s_step_executor() -> dg.ExecutorDefinition:
    """The k8s_job_executor configured by OCTO_STEP_K8S_CONFIG, checked now rather than when a run
    starts: a code location with a wrong config fails to load, with one sentence."""
    from dagster_k8s import k8s_job_executor  # imported when chosen: dagster-k8s and kubernetes take 0.5 s

    raw = os.environ.get(STEP_K8S_CONFIG, "").strip()
    fix = f"set it to the k8s_job_executor's config (deploy/values.yaml holds it), or unset {STEP_EXECUTOR}"
    if not raw:
        raise SettingError(f"{STEP_K8S_CONFIG} is unset while {STEP_EXECUTOR} is {K8S}; {fix}.")
    try:
        config = yaml.safe_load(raw)
    except yaml.YAMLError:
        config = None
    if not isinstance(config, dict):
        raise SettingError(f"{STEP_K8S_CONFIG}: {shown(raw)} is not a YAML mapping; {fix}.")
    executor = k8s_job_executor.configured(config)
    checked = executor.apply_config_mapping({})
    if not checked.success:
        problem = " ".join(checked.errors[0].message.split()) if checked.errors else "refused"
        raise SettingError(f"{STEP_K8S_CONFIG} is not a config the k8s_job_executor takes ({problem}); {fix}.")
    return executor
