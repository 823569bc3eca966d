"""The Helm values (deploy/values.yaml) cannot be installed here; what can be held is that they
say what the tested production instance says, and that they keep the secure defaults."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((REPO / "deploy" / "values.yaml").read_text())
PRODUCTION = yaml.safe_load((REPO / "config" / "dagster.production.yaml").read_text())


def test_the_chart_gets_the_limits_of_the_tested_production_instance():
    pools, runs = VALUES["concurrency"]["pools"], VALUES["concurrency"]["runs"]
    tested = PRODUCTION["concurrency"]
    assert pools["defaultLimit"] == tested["pools"]["default_limit"]
    assert pools["granularity"] == tested["pools"]["granularity"]
    assert runs["maxConcurrentRuns"] == tested["runs"]["max_concurrent_runs"]
    as_chart = [
        {"key": limit["key"], **({"value": limit["value"]} if "value" in limit else {}), "limit": limit["limit"]}
        for limit in tested["runs"]["tag_concurrency_limits"]
    ]
    assert runs["tagConcurrencyLimits"] == as_chart
    assert VALUES["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"


def test_no_secret_is_written_in_the_values_and_the_webserver_stays_inside_the_cluster():
    text = (REPO / "deploy" / "values.yaml").read_text()
    # a key naming a password, a secret key or a token, given a value other than a boolean
    assigned = re.findall(r"(?im)^\s*([\w.-]*(?:password|secret_access_key|secretkey|token)[\w.-]*)\s*:\s*(\S+)", text)
    assert [(key, value) for key, value in assigned if value not in ("true", "false")] == []
    assert "AWS_SECRET_ACCESS_KEY=" not in text and "postgresqlPassword" not in text
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert VALUES["ingress"]["enabled"] is False
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert [s["name"] for s in launcher["envSecrets"]] == ["octo-assets-s3-writer"]


def test_each_run_stages_on_its_own_ephemeral_volume():
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    staging = dict(v.split("=", 1) for v in launcher["envVars"])["OCTO_STAGING_DIR"]
    [mount] = [m for m in launcher["volumeMounts"] if m["mountPath"] == staging]
    [volume] = [v for v in launcher["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume
