"""Settings: environment with prefix and nesting, YAML and TOML files, clear failures, masked secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.settings import load_settings, masked


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, env=full_env, timeout=120)


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("MONITOR_KAFKA__INPUT_TOPICS", "news,chat")
    monkeypatch.setenv("MONITOR_BATCH__MAX_SIZE", "32")
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    s = load_settings()
    assert s.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert s.kafka.input_topics == ("news", "chat")
    assert s.batch.max_size == 32


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_config_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    path = tmp_path / f"textmon{suffix}"
    if suffix == ".yaml":
        path.write_text("kafka:\n  group_id: from-file\n  output_topic: out\nrules:\n  - name: r1\n    threshold: 0.7\n")
    else:
        path.write_text('[kafka]\ngroup_id = "from-file"\noutput_topic = "out"\n[[rules]]\nname = "r1"\nthreshold = 0.7\n')
    monkeypatch.setenv("MONITOR_KAFKA__OUTPUT_TOPIC", "from-env")
    s = load_settings(path)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    assert (s.kafka.group_id, s.kafka.output_topic) == ("from-file", "from-env")
    assert [(r.name, r.threshold) for r in s.rules] == [("r1", 0.7)]


def test_secrets_are_masked_everywhere_they_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    s = load_settings(
        kafka={"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "hunter2"},
        sinks=[{"name": "h", "type": "webhook", "options": {"url": "http://x", "secret": "s3cret", "headers": {"Authorization": "Bearer t0k"}}}],
    )
    text = json.dumps(masked(s)) + repr(s) + str(s)
    for secret in ("hunter2", "s3cret", "t0k"):
        assert secret not in text
    assert s.kafka.sasl_password is not None and s.kafka.sasl_password.get_secret_value() == "hunter2"


def test_monitor_config_prints_masked_settings() -> None:
    result = run_cli("config", env={"MONITOR_KAFKA__SASL_PASSWORD": "hunter2"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kafka"]["sasl_password"] == "**********"
    assert "hunter2" not in result.stdout


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MONITOR_BATCH__MAX_SIZE": "lots"}, "batch.max_size"),
        ({"MONITOR_BATCH__MAX_IN_FLIGHT": "0"}, "batch.max_in_flight"),
        ({"MONITOR_BATCH__MAX_IN_FLIGHT": "many"}, "batch.max_in_flight"),
        ({"MONITOR_KAFKA__AUTO_OFFSET_RESET": "sometimes"}, "kafka.auto_offset_reset"),
        ({"MONITOR_KAFKA__PRODUCER_BATCH_BYTES": "4194304"}, "kafka.producer_batch_bytes"),  # over the broker's limit
        ({"MONITOR_RULES": '[{"name": "r", "threshold": 2}]'}, "rules.0.threshold"),
        ({"MONITOR_KAFKA__SECURITY_PROTOCOL": "SASL_SSL"}, "kafka"),
        ({"MONITOR_HTTP__PROT": "1"}, "http.prot"),
        ({"MONITOR_CONFIG": "/nonexistent/textmon.yaml"}, "/nonexistent/textmon.yaml"),
        # a topic by example that could make no head: said before the encoder loads, not after
        ({"MONITOR_EXAMPLE_TOPICS__TOPICS": json.dumps([{"name": "banking", "examples": [f"bank {i}" for i in range(12)]}])},
         "example_topics"),
        ({"MONITOR_EXAMPLE_TOPICS__TOPICS": json.dumps([{"name": "banking", "examples": ["bank"] * 12},
                                                         {"name": "crypto", "examples": [f"coin {i}" for i in range(12)]}])},
         "topics[0] ('banking') has 1 distinct examples"),
    ],
)
def test_invalid_configuration_fails_at_start_with_exit_2_naming_the_field(env: dict[str, str], field: str) -> None:
    result = run_cli("run", env=env)
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr and field in result.stderr


def test_unknown_sink_type_fails_at_start_with_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sinks:\n  - name: pager\n    type: pagerduty\nmodels:\n  default:\n    topic: /nonexistent\n  by_language: {}\n")
    result = run_cli("--config", str(cfg), "run")
    assert result.returncode == 2
    assert "sink 'pager'" in result.stderr


def test_sensitivity_picks_the_default_rules_thresholds_and_rules_replace_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)

    def z(sensitivity: str) -> dict[str, float]:
        rules = load_settings(sensitivity=sensitivity).rules
        return {r.name: r.params.get("z", r.params.get("h")) for r in rules}

    low, medium, high = z("low"), z("medium"), z("high")
    assert set(medium) == {"negative-share-surge", "volume-surge", "sentiment-drift"}
    assert all(low[name] > medium[name] > high[name] for name in medium), "low needs more evidence than high"
    assert load_settings().sensitivity == "medium" and z("medium") == {
        r.name: r.params.get("z", r.params.get("h")) for r in load_settings().rules}
    monkeypatch.setenv("MONITOR_SENSITIVITY", "high")
    assert load_settings().rules[0].params["h"] == high["negative-share-surge"]
    own = load_settings(rules=[{"name": "mine", "detector": "volume_surge"}])
    assert [r.name for r in own.rules] == ["mine"], "rules of one's own replace the preset"
    result = run_cli("config", env={"MONITOR_SENSITIVITY": "extreme"})
    assert result.returncode == 2 and "sensitivity" in result.stderr
