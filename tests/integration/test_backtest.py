"""``monitor backtest`` prints the alerts a stream would have raised, from enriched or raw records."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.config import daemon_settings, write_config

T0 = 1_767_225_600.0


WORDS = ("shares bonds yields crude copper wheat lender insurer retailer airline carmaker miner utility brewer "
         "chipmaker regulator auditor exporter importer shipper").split()


def enriched_line(i: int, t: float, topic: str, sentiment: str) -> str:
    dist = {s: (0.8 if s == sentiment else 0.1) for s in ("negative", "neutral", "positive")}
    distinct = " ".join(random.Random(i).sample(WORDS, 6))  # distinct stories, not near-duplicates
    return json.dumps({
        "id": f"e{i}", "text": f"{distinct} {'losses fraud probe' if sentiment == 'negative' else 'quarterly update'}",
        "event_time": t, "source": "wire", "language": "en",
        "topic": {"label": topic, "score": 0.9, "distribution": {topic: 0.9}, "model": "m@1"},
        "sentiment": {"label": sentiment, "score": 0.8, "distribution": dist, "model": "m@1"},
    })


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def config(tmp_path: Path, tiny_models: dict[str, Path], **extra: object) -> Path:
    path = write_config(daemon_settings("127.0.0.1:1", tiny_models), tmp_path / "c.yaml")
    data = yaml.safe_load(path.read_text())
    data.update({
        "trends": {"bucket_seconds": 60, "warmup_buckets": 30, "allowed_lateness_seconds": 0},
        "rules": [{"name": "neg-surge", "detector": "negative_share_shift", "window_seconds": 300, "min_volume": 20,
                   "resolve_after_seconds": 300}],
        **extra,
    })
    path.write_text(yaml.safe_dump(data))
    return path


def test_backtest_reports_firing_and_resolved_with_terms(tmp_path: Path, tiny_models):
    lines, i = [], 0
    for minute in range(180):
        surge = 120 <= minute < 140
        for k in range(10):
            negative = (k < 8) if surge else (k < 2)
            lines.append(enriched_line(i, T0 + minute * 60 + k * 6, "business", "negative" if negative else "neutral"))
            i += 1
    stream = tmp_path / "stream.jsonl.gz"
    with gzip.open(stream, "wt") as handle:
        handle.write("\n".join(lines) + "\n{not json\n")
    result = cli("--config", str(config(tmp_path, tiny_models)), "backtest", str(stream), "--json")
    assert result.returncode == 0, result.stderr
    notes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(n["state"], n["key"]) for n in notes] == [("firing", "business"), ("resolved", "business")]
    firing, resolved = notes
    assert T0 + 120 * 60 <= firing["at"] <= T0 + 123 * 60
    assert {"losses", "fraud", "probe"} & set(firing["terms"])
    assert T0 + 140 * 60 < resolved["at"]
    table = cli("--config", str(config(tmp_path, tiny_models)), "backtest", str(stream))
    assert "firing" in table.stdout and "neg-surge" in table.stdout and "1 skipped" in table.stdout


def test_backtest_classifies_raw_messages_first(tmp_path: Path, tiny_models):
    pinned = {"topic": tiny_models["topic_business"], "sentiment": tiny_models["sentiment_negative"]}
    path = write_config(daemon_settings("127.0.0.1:1", pinned), tmp_path / "raw.yaml")
    data = yaml.safe_load(path.read_text())
    data["rules"] = [{"name": "neg", "detector": "negative_share", "threshold": 0.5, "min_volume": 10}]
    path.write_text(yaml.safe_dump(data))
    stream = tmp_path / "raw.jsonl"
    lines = [json.dumps({"text": f"headline {i}", "timestamp": T0 + i}) for i in range(30)]
    poison = ['{"text": "deep", "x": ' + "[" * 10_000 + "]" * 10_000 + "}", '{"text": "big", "x": ' + "9" * 5_000 + "}",
              "[" * 10_000 + "]" * 10_000, '{"text": "far", "timestamp": -1e300}', '{"topic": {}, "event_time": 1e999}']
    stream.write_text("\n".join(lines[:10] + poison + lines[10:]) + "\n")
    result = cli("--config", str(path), "backtest", str(stream), "--json")
    assert result.returncode == 0, result.stderr
    [note] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (note["rule"], note["key"], note["state"]) == ("neg", "business", "firing")


def test_backtest_scores_the_notifications_against_known_events(tmp_path: Path, tiny_models):
    lines = [enriched_line(i, T0 + (i // 10) * 60 + (i % 10) * 6, "business",
                           "negative" if (i % 10 < 8 if 1200 <= i < 1400 else i % 10 < 2) else "neutral")
             for i in range(1800)]
    stream = tmp_path / "stream.jsonl"
    stream.write_text("\n".join(lines) + "\n")
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps({"kind": "fraud-story", "topic": "business", "start": T0 + 120 * 60, "end": T0 + 140 * 60}) + "\n"
        + json.dumps({"kind": "copies", "topic": "business", "start": "2026-01-01T00:30:00Z",
                      "end": "2026-01-01T00:40:00Z", "alert": False}) + "\n")
    result = cli("--config", str(config(tmp_path, tiny_models)), "backtest", str(stream), "--events", str(events), "--json")
    assert result.returncode == 0, result.stderr
    score = json.loads(result.stdout.splitlines()[-1])["score"]
    assert score["notifications"] == 1 and score["false"] == 0
    assert score["by_kind"]["fraud-story"]["detected"] == 1 and score["by_kind"]["copies"]["raised"] == 0
    assert 0 <= score["by_kind"]["fraud-story"]["median_delay_buckets"] <= 3
    table = cli("--config", str(config(tmp_path, tiny_models)), "backtest", str(stream), "--events", str(events))
    assert "fraud-story" in table.stdout and "0 false" in table.stdout
    events.write_text('{"kind": "x", "topic": "business"}\n')
    bad = cli("--config", str(config(tmp_path, tiny_models)), "backtest", str(stream), "--events", str(events))
    assert bad.returncode == 2 and "events.jsonl:1" in bad.stderr
