"""How a run's steps start (octo_assets/executors.py), and what Kubernetes would be asked for.

No cluster runs here. What can be held: from deploy/values.yaml, mapped as the chart's templates
map it (the run launcher's instance config, the code location's env ConfigMap and the container
context includeConfigInLaunchedRuns gives its runs), dagster-k8s's own executor, built by
step_executor() exactly as the code location builds it, renders the Kubernetes Job of a step:
its container context merge, get_k8s_job_config and construct_dagster_k8s_job, all in
K8sStepHandler.launch_step, up to the API call, which is captured instead of sent. The one
departure from the cluster: the API server is named by a kubeconfig file, not found in-cluster.
"""

import base64
import importlib.util
import json
import zlib
from pathlib import Path

import dagster as dg
import kubernetes
import pytest
import yaml
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import create_context_free_log_manager
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.init import InitExecutorContext
from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster._core.test_utils import create_run_for_test
from dagster._grpc.types import ExecuteStepArgs
from kubernetes.utils import parse_quantity

from octo_assets import settings
from octo_assets.executors import PRELOAD_MODULES, step_executor
from octo_assets.settings import STEP_EXECUTOR, STEP_K8S_CONFIG, SettingError

REPO = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((REPO / "deploy" / "values.yaml").read_text())
[DEPLOYMENT] = VALUES["dagster-user-deployments"]["deployments"]
LAUNCHER = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
STEP_CONFIG = yaml.safe_load(DEPLOYMENT["env"][STEP_K8S_CONFIG])

# `helm upgrade --install octo dagster/dagster -n octo` (the values' header), and the names the
# chart's templates derive from the release (read from its source; helm does not run here):
NAMESPACE = "octo"
FULLNAME = "octo-dagster"  # templates/_helpers.tpl, dagster.fullname: <release>-<chart>
# the code location's env ConfigMap, which holds DEPLOYMENT["env"] (dagster-user-deployments
# subchart, configmap-env-user.yaml: <its fullname>-<deployment>-user-env)
USER_ENV = f"octo-dagster-user-deployments-{DEPLOYMENT['name']}-user-env"
SERVICE_ACCOUNT = FULLNAME  # a name the launcher requires; not what is tested
IMAGE = f"{DEPLOYMENT['image']['repository']}:the-installed-tag"  # --set ...image.tag=

# what a pod must never carry in plain text: set in this process, so that a value passed through
# from the environment (an env_vars entry without "=") would show
SENTINELS = {
    "AWS_ACCESS_KEY_ID": "sentinel-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "sentinel-secret-access-key",
    "DAGSTER_PG_PASSWORD": "sentinel-postgres-password",
}
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def names(refs: list[dict] | None) -> list[str]:
    return [ref["name"] for ref in refs or [] if "name" in ref]


def chart_run_launcher(kubeconfig: Path) -> dict:
    """The instance's run launcher as the chart renders it from the values
    (templates/helpers/instance/_run-launcher.tpl, dagsterYaml.runLauncher.k8s)."""
    config = {
        "load_incluster_config": False,  # in the cluster: True; here: the kubeconfig below
        "kubeconfig_file": str(kubeconfig),
        "job_namespace": LAUNCHER.get("jobNamespace", NAMESPACE),
        "service_account_name": SERVICE_ACCOUNT,
        "dagster_home": VALUES["global"]["dagsterHome"],
        "instance_config_map": f"{FULLNAME}-instance",
        "postgres_password_secret": VALUES["global"]["postgresqlSecretName"],
        "env_config_maps": names(LAUNCHER.get("envConfigMaps")),
        "env_secrets": names(LAUNCHER.get("envSecrets")),
    }
    for key, chart_key in [
        ("env_vars", "envVars"),
        ("volume_mounts", "volumeMounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
    ]:
        if LAUNCHER.get(chart_key):
            config[key] = LAUNCHER[chart_key]
    run_k8s = LAUNCHER.get("runK8sConfig") or {}
    snake = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config"}
    snake |= {"podTemplateSpecMetadata": "pod_template_spec_metadata", "jobSpecConfig": "job_spec_config"}
    snake |= {"jobMetadata": "job_metadata"}
    if run_k8s:
        config["run_k8s_config"] = {snake[key]: value for key, value in run_k8s.items()}
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def chart_container_context() -> dict | None:
    """What the code location gives its runs with includeConfigInLaunchedRuns (dagster-user-deployments
    subchart, helpers/_helpers.tpl, dagsterUserDeployments.k8sContainerContext); without it, nothing."""
    if not DEPLOYMENT.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]:
        return None
    k8s = {
        "image_pull_policy": DEPLOYMENT["image"]["pullPolicy"],
        "env_config_maps": [USER_ENV, *names(DEPLOYMENT.get("envConfigMaps"))],
        "namespace": NAMESPACE,
        "service_account_name": SERVICE_ACCOUNT,
    }
    if DEPLOYMENT.get("envSecrets"):
        k8s["env_secrets"] = names(DEPLOYMENT["envSecrets"])
    for key, chart_key in [
        ("volume_mounts", "volumeMounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
    ]:
        if DEPLOYMENT.get(chart_key):
            k8s[key] = DEPLOYMENT[chart_key]
    if isinstance(DEPLOYMENT.get("env"), list):
        k8s["env"] = DEPLOYMENT["env"]
    return {"k8s": k8s}


@dg.op(out=dg.DynamicOut(str))
def readings_plan():
    yield dg.DynamicOutput("files 0-999", mapping_key="r0")


@dg.op
def readings_parse(files: str) -> str:
    return files


@dg.op(out=dg.DynamicOut(str))
def readings_split(parsed: list):
    yield dg.DynamicOutput("meterpoints 000-7ff", mapping_key="m0")


@dg.op
def readings_assemble(meterpoints: str) -> str:
    return meterpoints


@dg.op
def readings_publish(files: list) -> None:
    pass


def readings_day() -> dg.JobDefinition:
    """A day's steps as the readings graph names them (the names per_step_k8s_config is keyed by),
    with the executor the code location builds from its environment."""

    @dg.graph
    def day():
        parsed = readings_plan().map(readings_parse).collect()
        readings_publish(readings_split(parsed).map(readings_assemble).collect())

    return day.to_job(name="readings_day", executor_def=step_executor())


# every step resolved: one range of files, one range of meterpoints
KNOWN = KnownExecutionState(
    dynamic_mappings={"readings_plan": {"result": ["r0"]}, "readings_split": {"result": ["m0"]}}
)


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """The process a run starts in on the cluster: the code location's env (from its ConfigMap),
    an instance whose run launcher is the chart's, and the Kubernetes API call captured."""
    for name, value in {**DEPLOYMENT["env"], **SENTINELS}.items():
        monkeypatch.setenv(name, value)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    created = []

    def create_namespaced_job(self, namespace, body, **_):
        created.append((namespace, kubernetes.client.ApiClient().sanitize_for_serialization(body)))

    monkeypatch.setattr(kubernetes.client.BatchV1Api, "create_namespaced_job", create_namespaced_job)
    with dg.instance_for_test(overrides={"run_launcher": chart_run_launcher(kubeconfig)}) as instance:
        yield instance, created


def launch(instance, created, step_key: str):
    """The step's Job and namespace, as the run's executor would create them."""
    job = dg.reconstructable(readings_day)
    job_def = job.get_definition()
    executor_config = ResolvedRunConfig.build(job_def, {}).execution.execution_engine_config
    executor = job_def.executor_def.executor_creation_fn(
        InitExecutorContext(
            job=job, executor_def=job_def.executor_def, executor_config=executor_config, instance=instance
        )
    )
    origin = job.get_python_origin()
    # the code server's DAGSTER_CURRENT_IMAGE and container context (the chart's deployment-user.yaml)
    repository = origin.repository_origin._replace(container_image=IMAGE, container_context=chart_container_context())
    origin = origin._replace(repository_origin=repository)
    run = create_run_for_test(instance, job_name=job_def.name, job_code_origin=origin)
    plan = create_execution_plan(job, known_state=KNOWN)
    plan_context = PlanOrchestrationContext(
        plan_data=PlanData(
            job=job,
            dagster_run=run,
            instance=instance,
            execution_plan=plan,
            raise_on_error=True,
            retry_mode=RetryMode.DISABLED,
        ),
        log_manager=create_context_free_log_manager(instance, run),
        executor=executor,
        output_capture=None,
    )
    step = plan.get_step_by_key(step_key)
    context = StepHandlerContext(
        instance=instance,
        plan_context=plan_context,
        steps=[step],
        execute_step_args=ExecuteStepArgs(origin, run.run_id, [step_key], known_state=KNOWN),
        dagster_run=run,
    )
    created.clear()
    list(executor._step_handler.launch_step(context))  # noqa: SLF001 (the handler is the executor's own)
    [(namespace, body)] = created
    return namespace, body, run


def container(job: dict) -> dict:
    [main] = job["spec"]["template"]["spec"]["containers"]
    return main


def env_of(job: dict) -> dict:
    env = container(job).get("env", [])
    assert len({e["name"] for e in env}) == len(env), "a variable set twice"
    return {e["name"]: e for e in env}


def test_a_day_s_steps_run_as_kubernetes_jobs_of_their_own_size(deployed):
    instance, created = deployed
    assert DEPLOYMENT["env"][STEP_EXECUTOR] == "k8s"
    job_def = readings_day()  # as the code location, each run pod and each step pod build it
    assert job_def.executor_def.name == "k8s"
    engine = ResolvedRunConfig.build(job_def, {}).execution.execution_engine_config
    assert engine["max_concurrent"] == STEP_CONFIG["max_concurrent"] > 1
    _, parse, _ = launch(instance, created, "readings_parse[r0]")
    _, assemble, _ = launch(instance, created, "readings_assemble[m0]")
    namespace, publish, run = launch(instance, created, "readings_publish")
    assert namespace == NAMESPACE
    assert env_of(parse)["DAGSTER_RUN_STEP_KEY"]["value"] == "readings_parse[r0]"
    assert container(parse)["image"] == container(publish)["image"] == IMAGE  # the code location's

    per_step = STEP_CONFIG["per_step_k8s_config"]
    light = STEP_CONFIG["step_k8s_config"]["container_config"]["resources"]
    assert container(parse)["resources"] == per_step["readings_parse"]["container_config"]["resources"]
    assert container(assemble)["resources"] == per_step["readings_assemble"]["container_config"]["resources"]
    assert container(publish)["resources"] == light
    for heavy in (parse, assemble):
        for kind in ("requests", "limits"):
            for unit, size in container(heavy)["resources"][kind].items():
                assert parse_quantity(size) > parse_quantity(light[kind][unit]), (kind, unit)

    # a heavy step's Polars threads are its CPU request, not the node's cores it would see
    for heavy in (parse, assemble):
        cpu = parse_quantity(container(heavy)["resources"]["requests"]["cpu"])
        assert int(env_of(heavy)["POLARS_MAX_THREADS"]["value"]) == cpu
    assert "POLARS_MAX_THREADS" not in env_of(publish)

    # the run's own pod only orchestrates: the code location's resources (see runLauncher's comment)
    run_context = instance.run_launcher.get_container_context_for_run(run)
    assert run_context.run_k8s_config.container_config["resources"] == DEPLOYMENT["resources"]
    env_from = run_context.run_k8s_config.container_config["env_from"]
    assert {"config_map_ref": {"name": USER_ENV}} in env_from  # where its OCTO_STEP_EXECUTOR comes from


def test_every_step_stages_on_its_own_empty_dir_and_reads_the_settings_by_reference(deployed):
    instance, created = deployed
    for step_key in ("readings_parse[r0]", "readings_publish"):
        _, job, _ = launch(instance, created, step_key)
        pod, main = job["spec"]["template"]["spec"], container(job)

        staging = env_of(job)["OCTO_STAGING_DIR"]["value"]
        [mount] = [m for m in main["volumeMounts"] if m["mountPath"] == staging]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert len(volumes) == len(pod["volumes"]), "two volumes of one name: Kubernetes refuses the pod"
        assert "emptyDir" in volumes[mount["name"]] and volumes[mount["name"]]["emptyDir"]["sizeLimit"]

        config_maps = [ref["configMapRef"]["name"] for ref in main["envFrom"] if "configMapRef" in ref]
        secrets = [ref["secretRef"]["name"] for ref in main["envFrom"] if "secretRef" in ref]
        assert sorted(config_maps) == sorted({*names(LAUNCHER["envConfigMaps"]), USER_ENV})
        assert secrets == names(LAUNCHER["envSecrets"]) == names(DEPLOYMENT["envSecrets"])
        assert names(LAUNCHER["envConfigMaps"]) == names(DEPLOYMENT["envConfigMaps"])


def test_no_credential_is_in_a_step_s_job(deployed):
    instance, created = deployed
    for step_key in ("readings_parse[r0]", "readings_publish"):
        _, job, _ = launch(instance, created, step_key)
        step_args = env_of(job)["DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"]["value"]  # the instance's config, too
        text = json.dumps(job) + zlib.decompress(base64.b64decode(step_args)).decode()
        assert not [name for name, value in SENTINELS.items() if value in text]
        secretive = ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY")
        plain = [n for n, e in env_of(job).items() if any(w in n for w in secretive) and "value" in e]
        assert plain == []  # by reference only (valueFrom, secretRef)
        pg_password = env_of(job)["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert pg_password["name"] == VALUES["global"]["postgresqlSecretName"]


@pytest.mark.parametrize("value", [None, "", " multiprocess ", "Multiprocess"])
def test_unset_the_steps_are_processes_forked_from_a_preloaded_forkserver(monkeypatch, value):
    monkeypatch.delenv("OCTO_WORKERS", raising=False)
    if value is None:
        monkeypatch.delenv(STEP_EXECUTOR, raising=False)
    else:
        monkeypatch.setenv(STEP_EXECUTOR, value)
    chosen = step_executor()
    assert chosen.name == "multiprocess"
    config = chosen.apply_config_mapping({}).value["config"]
    assert config["max_concurrent"] == settings.cores()
    assert config["start_method"] == {"forkserver": {"preload_modules": PRELOAD_MODULES}}
    monkeypatch.setenv("OCTO_WORKERS", "3")  # steps at once on this machine
    assert step_executor().apply_config_mapping({}).value["config"]["max_concurrent"] == 3
    # a module the forkserver cannot import fails every step of every run
    assert [m for m in PRELOAD_MODULES if importlib.util.find_spec(m) is None] == []


@pytest.mark.parametrize(
    "executor, k8s_config, says",
    [
        (
            "celery",
            None,
            "OCTO_STEP_EXECUTOR: 'celery' is not an executor; set it to multiprocess or k8s, "
            "or unset it for multiprocess.",
        ),
        (
            "k8s",
            None,
            "OCTO_STEP_K8S_CONFIG is unset while OCTO_STEP_EXECUTOR is k8s; set it to the "
            "k8s_job_executor's config (deploy/values.yaml holds it), or unset OCTO_STEP_EXECUTOR.",
        ),
        ("k8s", "[8]", "OCTO_STEP_K8S_CONFIG: '[8]' is not a YAML mapping; set it to"),
        ("k8s", "max_concurrent: many", "OCTO_STEP_K8S_CONFIG is not a config the k8s_job_executor takes ("),
    ],
)
def test_a_wrong_step_setting_is_refused_in_one_sentence(monkeypatch, executor, k8s_config, says):
    monkeypatch.setenv(STEP_EXECUTOR, executor)
    if k8s_config is None:
        monkeypatch.delenv(STEP_K8S_CONFIG, raising=False)
    else:
        monkeypatch.setenv(STEP_K8S_CONFIG, k8s_config)
    with pytest.raises(SettingError) as refused:
        step_executor()
    sentence = str(refused.value)
    assert sentence.startswith(says) and sentence.endswith(".") and "\n" not in sentence
