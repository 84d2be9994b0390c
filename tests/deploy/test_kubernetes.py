"""Kustomize overlays render, every manifest validates against the Kubernetes schemas, and the pieces fit."""

from __future__ import annotations

import os
import sys

import pytest
import yaml
from kubernetes_validate import validate
from kubernetes_validate.utils import SchemaNotFoundError

from monitor.settings import Settings
from tests.deploy.conftest import DEPLOY, kustomize_command, run_tool

KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("cpu", "gpu")
# Oldest still commonly run, and the newest the validator knows.
VERSIONS = ("1.29.0", "1.37.0")
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
                ("keda.sh/v1alpha1", "ScaledObject")}
PARTITIONS = 6  # of the input topic; stated in scaledobject.yaml and created so by deploy/compose.yaml


def render(overlay: str) -> dict[str, dict]:
    out = run_tool(*kustomize_command(), str(KUBERNETES / "overlays" / overlay)).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind expected"
    return by_kind


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_validates(overlay):
    objects = render(overlay)
    assert {"Deployment", "Service", "ServiceMonitor", "PrometheusRule", "ScaledObject", "PodDisruptionBudget",
            "ConfigMap", "Secret", "ServiceAccount"} <= set(objects)
    for kind, obj in objects.items():
        assert obj["metadata"]["namespace"] == "textmon"
        if (obj["apiVersion"], kind) in CUSTOM_KINDS:
            # The validator ships only the built-in schemas; custom resources are checked by the tests below.
            with pytest.raises(SchemaNotFoundError):
                validate(obj, VERSIONS[-1], strict=True)
            continue
        for version in VERSIONS:
            validate(obj, version, strict=True)  # strict: unknown fields are errors too


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ports_grace_period_and_resources(overlay):
    objects = render(overlay)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0] == {"name": "http-metrics", "containerPort": 9464, "protocol": "TCP"}
    assert pod["terminationGracePeriodSeconds"] > float(env["MONITOR_SHUTDOWN_GRACE_SECONDS"])
    resources = container["resources"]
    assert set(resources) == {"requests", "limits"} and {"cpu", "memory"} <= set(resources["requests"])
    assert env["MONITOR_MODELS__DEVICE"] == {"cpu": "cpu", "gpu": "cuda"}[overlay]
    if overlay == "gpu":
        assert resources["limits"]["nvidia.com/gpu"] == "1"
        assert container["image"].endswith("-cuda")
    else:
        assert not any("nvidia" in k for part in resources.values() for k in part)
        assert container["image"].endswith("-cpu")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/textmon", "/var/lib/textmon", "/tmp"} <= mounts  # config, state dir, scratch


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_config_secret_and_autoscaling_fit_together(overlay, monkeypatch):
    objects = render(overlay)
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = objects[kind]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= pod_labels.items(), f"{kind} does not select the pods"
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert pod["containers"][0]["envFrom"][0]["secretRef"]["name"] == objects["Secret"]["metadata"]["name"]

    # The ServiceMonitor scrapes the Service's named port.
    monitor = objects["ServiceMonitor"]["spec"]
    service = objects["Service"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    assert monitor["endpoints"][0]["path"] == "/metrics"

    # The settings file is a valid settings tree, and KEDA watches the group and topic it consumes.
    for key in [k for k in os.environ if k.startswith("MONITOR_")]:
        monkeypatch.delenv(key)
    settings = Settings(**yaml.safe_load(objects["ConfigMap"]["data"]["textmon.yaml"]))
    assert settings.http.host == "0.0.0.0", "the default is loopback: probes and Prometheus need the pod's IP"
    scaled = objects["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= PARTITIONS
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == settings.kafka.group_id == "textmon"
    assert trigger["metadata"]["topic"] in settings.kafka.input_topics
    assert trigger["metadata"]["bootstrapServers"] == settings.kafka.bootstrap_servers
    assert trigger["metadata"].get("allowIdleConsumers", "false") == "false"


def test_compose_creates_the_partitions_the_autoscaler_assumes():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    script = compose["services"]["kafka-init"]["command"][0]
    assert f"--partitions {PARTITIONS}" in script


def test_prometheusrule_carries_the_checked_rule_files(tmp_path):
    run_tool(sys.executable, str(DEPLOY / "prometheus" / "prometheusrule.py"), "--check")
    groups = render("cpu")["PrometheusRule"]["spec"]["groups"]
    files = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
    assert groups == [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]
    rendered = tmp_path / "rules.yml"
    rendered.write_text(yaml.safe_dump({"groups": groups}))
    run_tool("promtool", "check", "rules", str(rendered))
