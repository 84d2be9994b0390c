"""deploy/compose.yaml parses, every service is health-checked or gated, and its mounts and images are real."""

from __future__ import annotations

import json
import os
import re

import yaml
from compose_spec import ComposeSpecification, PyCompose

from monitor.settings import Settings

from tests.deploy.conftest import DEPLOY, REPO

COMPOSE = DEPLOY / "compose.yaml"


def services() -> dict:
    data = yaml.safe_load(COMPOSE.read_text())  # resolves the x- anchors and << merges
    assert isinstance(data.get("services"), dict) and data["services"]
    return data["services"]


def test_compose_file_follows_the_compose_specification():
    # Compose resolves the x- anchors and << merges before it validates; so does PyYAML here. Then two
    # independent checks: the compose_spec parser (Rust, strict about keys, durations and conditions)
    # and the pydantic models generated from the specification's JSON schema.
    data = yaml.safe_load(COMPOSE.read_text())
    parsed = PyCompose.from_json(json.dumps(data))
    assert set(parsed.service_names()) == set(data["services"])
    ComposeSpecification.model_validate(data)


def test_compose_has_the_whole_stack():
    assert {"kafka", "kafka-init", "textmon", "replay", "prometheus", "alertmanager", "grafana", "kafka-init-tiers",
            "textmon-classify", "textmon-judge", "textmon-deliver"} <= set(services())


def test_every_service_has_a_healthcheck_or_a_dependency_condition():
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services().items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use the long form with a condition"
        for dep, spec in deps.items():
            assert dep in services(), f"{name} depends on unknown {dep}"
            assert spec.get("condition") in conditions, f"{name} -> {dep} has no condition"
        healthy = "healthcheck" in svc and svc["healthcheck"].get("test")
        assert healthy or deps, f"{name} has neither a healthcheck nor a dependency condition"
        for dep, spec in deps.items():
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services()[dep], f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"


def test_images_are_pinned_and_the_daemon_builds_from_the_repo():
    for name, svc in services().items():
        image = svc.get("image", "")
        if "build" in svc:
            assert (COMPOSE.parent / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == REPO / "Dockerfile"
            assert svc["build"]["target"] in {"cpu", "cuda"}
            continue
        assert re.fullmatch(r"[\w./-]+:(v?\d+\.\d+\.\d+)(@sha256:[0-9a-f]{64})?", image), f"{name}: unpinned image {image!r}"
    assert services()["kafka"]["image"].startswith("apache/kafka:")
    assert services()["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_bind_mounts_exist_and_the_drain_fits_in_the_stop_grace_period():
    for name, svc in services().items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"
    textmon = services()["textmon"]
    grace = int(textmon["stop_grace_period"].rstrip("s"))
    assert grace > 30, "stop_grace_period must exceed the daemon's 30 s drain"
    assert "monitor replay --retime" in " ".join(services()["replay"]["command"])


def test_the_daemon_environment_is_a_valid_settings_tree(monkeypatch):
    for key in [k for k in os.environ if k.startswith("MONITOR_")]:
        monkeypatch.delenv(key)
    for key, value in services()["textmon"]["environment"].items():
        monkeypatch.setenv(key, str(value))
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.http.host == "0.0.0.0", "the default is loopback: the published port needs all interfaces"
    assert [s.type for s in settings.sinks] == ["log", "alertmanager"]
    assert settings.sinks[1].options["url"].startswith("http://alertmanager:9093")


TIER_SERVICES = {"textmon-classify": "classify", "textmon-judge": "judge", "textmon-deliver": "deliver"}


def tier_settings(name: str, monkeypatch) -> Settings:
    for key in [k for k in os.environ if k.startswith("MONITOR_")]:
        monkeypatch.delenv(key)
    for key, value in services()[name]["environment"].items():
        monkeypatch.setenv(key, str(value))
    return Settings()


def test_the_two_tier_profile_adds_the_tiers_and_leaves_the_default_stack_alone():
    profiled = {name for name, svc in services().items() if svc.get("profiles")}
    assert profiled == {"kafka-init-tiers", *TIER_SERVICES}
    assert all(services()[name]["profiles"] == ["two-tier"] for name in profiled)
    for name, role in TIER_SERVICES.items():
        svc = services()[name]
        assert svc["environment"]["MONITOR_ROLE"] == role
        assert "ports" not in svc, f"{name}: replicas cannot share a published port"
        assert int(svc["stop_grace_period"].rstrip("s")) > 30, f"{name}: must outlast the 30 s drain"
        assert svc["depends_on"]["kafka-init-tiers"]["condition"] == "service_completed_successfully"
        assert not any(":/var/lib/textmon" in v for v in svc.get("volumes", [])), "state lives in the changelog"
    init = services()["kafka-init-tiers"]["environment"]
    judges = services()["textmon-judge"]["deploy"]["replicas"]
    assert 1 <= judges <= int(init["TIER_PARTITIONS"]), "a judge beyond the enriched partitions owns nothing"
    assert services()["textmon-deliver"].get("deploy", {}).get("replicas", 1) == 1


def test_the_tiers_share_no_group_or_topic_with_the_single_process(monkeypatch):
    single = tier_settings("textmon", monkeypatch)
    single_topics = {single.kafka.output_topic, single.kafka.dead_letter_topic, "news.changelog", "news.aggregates",
                     "news.alerts"}
    init = services()["kafka-init-tiers"]["environment"]
    for name, role in TIER_SERVICES.items():
        settings = tier_settings(name, monkeypatch)
        env = services()[name]["environment"]
        assert getattr(settings, "role", role) == role  # validated once the settings know the role
        assert settings.http.host == "0.0.0.0", "Prometheus scrapes the container's address"
        assert settings.kafka.input_topics == single.kafka.input_topics, "both layouts judge the same stream"
        assert settings.kafka.group_id != single.kafka.group_id
        tier_topics = {settings.kafka.output_topic, settings.kafka.dead_letter_topic,
                       *(env[k] for k in env if k.startswith("MONITOR_TIERS__") and k.endswith("_TOPIC"))}
        assert len(tier_topics) == 5 and not tier_topics & single_topics, f"{name} shares topics with textmon"
        # kafka-init-tiers creates exactly the topics the tiers read (the same anchor).
        assert {k: v for k, v in env.items() if k.endswith("_TOPIC") or k.endswith("_TOPICS")} == \
            {k: v for k, v in init.items() if k.endswith("_TOPIC") or k.endswith("_TOPICS")}
    deliver = tier_settings("textmon-deliver", monkeypatch)
    assert [s.type for s in deliver.sinks] == ["log", "alertmanager"]


def test_prometheus_scrapes_every_tier_replica_as_job_textmon():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "textmon")
    (sd,) = job["dns_sd_configs"]
    assert set(sd["names"]) == set(TIER_SERVICES) and sd["type"] == "A" and sd["port"] == 9464
    assert any(r.get("target_label") == "namespace" and r.get("replacement") == "compose" for r in job["relabel_configs"])
