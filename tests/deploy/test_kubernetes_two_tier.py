"""The two-tier overlay renders and validates, and its tiers, topics and autoscaling fit together."""

from __future__ import annotations

import os

import pytest
import yaml
from kubernetes_validate import validate
from kubernetes_validate.utils import SchemaNotFoundError

from monitor.settings import Settings
from tests.deploy.conftest import kustomize_command, run_tool
from tests.deploy.test_kubernetes import CUSTOM_KINDS, KUBERNETES, VERSIONS

OVERLAY = KUBERNETES / "overlays" / "two-tier"
TIERS = {"classify": ("Deployment", "textmon-classify"), "judge": ("StatefulSet", "textmon-judge"),
         "deliver": ("Deployment", "textmon-deliver")}


def render() -> dict[tuple[str, str], dict]:
    out = run_tool(*kustomize_command(), str(OVERLAY)).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(objects) == len(docs), "two objects of the same kind and name"
    return objects


def named(objects: dict[tuple[str, str], dict], kind: str, prefix: str) -> dict:
    """The one object of a kind whose name is ``prefix`` or ``prefix`` plus a generator's hash."""
    (obj,) = [o for (k, n), o in objects.items() if k == kind and (n == prefix or n.startswith(prefix + "-"))]
    return obj


def mebibytes(quantity: str) -> float:
    """A memory quantity as Kubernetes writes them here (Mi, Gi)."""
    return float(quantity[:-2]) * {"Mi": 1, "Gi": 1024}[quantity[-2:]]


def job_env(objects: dict[tuple[str, str], dict]) -> dict[str, str]:
    (container,) = objects[("Job", "textmon-topics")]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def tier_settings(objects: dict[tuple[str, str], dict], role: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a tier's container starts with: the mounted file, then its literal environment."""
    for key in [k for k in os.environ if k.startswith("MONITOR_")]:
        monkeypatch.delenv(key)
    (container,) = objects[TIERS[role]]["spec"]["template"]["spec"]["containers"]
    for e in container["env"]:
        if "value" in e and e["name"] != "MONITOR_CONFIG":
            monkeypatch.setenv(e["name"], e["value"])
    config = named(objects, "ConfigMap", "textmon-config")["data"]["textmon.yaml"]
    return Settings(**yaml.safe_load(config))


def test_every_rendered_manifest_validates():
    objects = render()
    expected = {("Deployment", "textmon-classify"), ("StatefulSet", "textmon-judge"), ("Deployment", "textmon-deliver"),
                ("Service", "textmon-classify"), ("Service", "textmon-judge"), ("Service", "textmon-deliver"),
                ("ScaledObject", "textmon-classify"), ("Job", "textmon-topics"), ("ServiceMonitor", "textmon"),
                ("PrometheusRule", "textmon"), ("PodDisruptionBudget", "textmon-classify"),
                ("PodDisruptionBudget", "textmon-judge"), ("Secret", "textmon-secrets"), ("ServiceAccount", "textmon")}
    assert expected <= set(objects)
    assert ("Deployment", "textmon") not in objects, "the single-process workload must not run beside the tiers"
    for (kind, name), obj in objects.items():
        assert obj["metadata"]["namespace"] == "textmon", name
        if (obj["apiVersion"], kind) in CUSTOM_KINDS:
            with pytest.raises(SchemaNotFoundError):
                validate(obj, VERSIONS[-1], strict=True)
            continue
        for version in VERSIONS:
            validate(obj, version, strict=True)


@pytest.mark.parametrize("role", TIERS)
def test_each_tier_runs_its_role_with_probes_config_and_a_valid_settings_tree(role, monkeypatch):
    objects = render()
    workload = objects[TIERS[role]]
    pod = workload["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MONITOR_ROLE"] == role
    assert "command" not in container and "args" not in container, "the image's `monitor run` takes the role from MONITOR_ROLE"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http-metrics", "containerPort": 9464, "protocol": "TCP"}]
    assert pod["terminationGracePeriodSeconds"] > float(env["MONITOR_SHUTDOWN_GRACE_SECONDS"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "registry.example.com/textmon:0.1.0-cpu"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == named(objects, "ConfigMap", "textmon-config")["metadata"]["name"]
    # State lives in Kafka (the changelog); the state directory is a working copy, never a claim.
    assert "emptyDir" in volumes["state"]
    assert "volumeClaimTemplates" not in workload["spec"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"config": "/etc/textmon", "state": "/var/lib/textmon", "tmp": "/tmp"}
    assert container["envFrom"][0]["secretRef"]["name"] == "textmon-secrets"
    # Classify loads the models; the judge and delivery hold none and ask for less.
    if role == "classify":
        assert env["MONITOR_MODELS__DEVICE"] == "cpu"
    else:
        assert "MONITOR_MODELS__DEVICE" not in env
        (classify,) = objects[TIERS["classify"]]["spec"]["template"]["spec"]["containers"]
        for part in ("requests", "limits"):
            assert mebibytes(container["resources"][part]["memory"]) < mebibytes(classify["resources"][part]["memory"])

    settings = tier_settings(objects, role, monkeypatch)
    assert settings.http.host == "0.0.0.0" and settings.http.port == 9464
    # Once the settings know the role (monitor run --role), the variable must be one they accept.
    assert getattr(settings, "role", role) == role


def test_every_tier_has_a_service_the_servicemonitor_scrapes_as_job_textmon():
    objects = render()
    monitor = objects[("ServiceMonitor", "textmon")]["spec"]
    assert monitor["jobLabel"] == "app.kubernetes.io/name"
    for role, key in TIERS.items():
        pod_labels = objects[key]["spec"]["template"]["metadata"]["labels"]
        service = objects[("Service", f"textmon-{role}")]
        assert service["spec"]["selector"].items() <= pod_labels.items(), f"{role}: the Service misses its pods"
        for other, other_key in TIERS.items():
            if other != role:
                other_labels = objects[other_key]["spec"]["template"]["metadata"]["labels"]
                assert not service["spec"]["selector"].items() <= other_labels.items(), f"{role}'s Service selects {other}"
        assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert service["metadata"]["labels"][monitor["jobLabel"]] == "textmon"  # the rules' job="textmon"
        assert {e["port"] for e in monitor["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    for role in ("classify", "judge"):
        pdb = objects[("PodDisruptionBudget", f"textmon-{role}")]["spec"]
        pod_labels = objects[TIERS[role]]["spec"]["template"]["metadata"]["labels"]
        assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
        assert pdb["maxUnavailable"] == 1
    # The StatefulSet's stable pod names (and so its transactional ids) come from its headless Service.
    judge = objects[("StatefulSet", "textmon-judge")]["spec"]
    assert judge["serviceName"] == "textmon-judge"
    assert objects[("Service", "textmon-judge")]["spec"]["clusterIP"] == "None"


def test_partitions_bound_the_replicas_and_the_topics_job_creates_the_layout(monkeypatch):
    objects = render()
    env = job_env(objects)
    input_partitions, tier_partitions = int(env["INPUT_PARTITIONS"]), int(env["TIER_PARTITIONS"])
    settings = tier_settings(objects, "classify", monkeypatch)

    # Judges: one per enriched partition at most (a judge beyond owns nothing).
    judge = objects[("StatefulSet", "textmon-judge")]["spec"]
    assert 1 <= judge["replicas"] <= tier_partitions
    assert judge["podManagementPolicy"] == "Parallel"
    # Delivery: one replica does the work.
    assert objects[("Deployment", "textmon-deliver")]["spec"]["replicas"] == 1
    # Classify: KEDA owns the count, on the input's lag, never beyond its partitions.
    classify = objects[("Deployment", "textmon-classify")]
    assert "replicas" not in classify["spec"], "KEDA owns the replica count"
    scaled = objects[("ScaledObject", "textmon-classify")]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "textmon-classify"
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= input_partitions
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == settings.kafka.group_id
    assert trigger["metadata"]["topic"] in settings.kafka.input_topics
    assert trigger["metadata"]["bootstrapServers"] == settings.kafka.bootstrap_servers
    assert trigger["metadata"].get("allowIdleConsumers", "false") == "false"

    # The Job runs the script in this folder against the tiers' broker and input.
    job = objects[("Job", "textmon-topics")]["spec"]
    assert "selector" not in job, "a Job's selector is generated by Kubernetes"
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].startswith("apache/kafka:") and container["image"].split(":")[1][0].isdigit()
    assert env["MONITOR_KAFKA__BOOTSTRAP_SERVERS"] == settings.kafka.bootstrap_servers
    assert env["MONITOR_KAFKA__INPUT_TOPICS"].split(",") == list(settings.kafka.input_topics)
    for name in ("MONITOR_KAFKA__OUTPUT_TOPIC", "MONITOR_TIERS__CHANGELOG_TOPIC", "MONITOR_KAFKA__GROUP_ID"):
        assert name not in env, f"{name}: the script and the tiers share their defaults; set it in both or neither"
    assert settings.kafka.output_topic == "news.enriched"  # the script's default for the enriched topic
    script = named(objects, "ConfigMap", "textmon-topics")
    assert script["data"]["create-topics.sh"] == (OVERLAY / "create-topics.sh").read_text()
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["script"]["configMap"]["name"] == script["metadata"]["name"]
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "script")
    assert container["command"] == ["/bin/bash", f"{mount}/create-topics.sh"]
    assert pod["restartPolicy"] in {"OnFailure", "Never"}
