"""Settings for tests: unique topics and group, tiny models, an ephemeral HTTP port."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from monitor.settings import ModelSettings, Settings
from tests.support.kafka import unique


def daemon_settings(bootstrap: str, models: dict[str, Path], topic: str | None = None, **overrides: Any) -> Settings:
    """A Settings tree for one test; ``overrides`` are merged at the top level (dicts merge one level down)."""
    topic = topic or unique("in")
    base: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "input_topics": [topic],
            "output_topic": f"{topic}.enriched",
            "dead_letter_topic": f"{topic}.dlq",
            "group_id": f"{topic}-group",
            "session_timeout_ms": 6000,
            "commit_interval_seconds": 0.5,
        },
        "models": {
            "default": {"topic": str(models["topic"]), "sentiment": str(models["sentiment"])},
            "by_language": {},
            "device": "cpu",
            "precision": "fp32",
        },
        "http": {"host": "127.0.0.1", "port": 0},
        "log": {"format": "json"},
        "state": {"dir": tempfile.mkdtemp(prefix="textmon-state-")},
        "shutdown_grace_seconds": 20,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return Settings(**base)


def write_config(settings: Settings, path: Path) -> Path:
    """Write a YAML file the ``monitor`` CLI reads with --config."""
    from pydantic import SecretStr

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    data = plain(settings.model_dump(mode="python"))
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def two_labels(business: Path, tech: Path, sentiment: Path) -> ModelSettings:
    """Routes that give English messages (the default) the label 'business' and German ones 'tech':
    two topic labels, so two owners in the judge tier."""
    return ModelSettings.model_validate({
        "default": {"topic": str(business), "sentiment": str(sentiment)},
        "by_language": {"de": {"topic": str(tech), "sentiment": str(sentiment)}},
        "device": "cpu", "precision": "fp32"})
