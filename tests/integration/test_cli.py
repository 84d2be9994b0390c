"""The replay and classify commands as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.config import daemon_settings, write_config
from tests.support.kafka import unique
from tests.support.streams import consume_until


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=300)


async def test_replay_sends_the_bundled_sample_with_event_times(broker, tiny_models, tmp_path: Path):
    topic = unique("replay")
    config = write_config(daemon_settings(broker.bootstrap, tiny_models, topic), tmp_path / "c.yaml")
    result = cli("--config", str(config), "replay", "--limit", "40", "--retime")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"] == 40
    records = await consume_until(broker.bootstrap, [topic], lambda rs: len(rs) >= 40)
    first = records[0].json()
    assert first["text"] and first["lang"] in ("en", "zh") and isinstance(first["timestamp"], float)


def test_classify_reads_lines_and_json_and_reports_bad_lines(tiny_models, tmp_path: Path):
    config = write_config(daemon_settings("127.0.0.1:1", tiny_models), tmp_path / "c.yaml")
    stdin = "Stocks rally as rate cut hopes grow\n" + json.dumps({"id": "z1", "text": "央行宣布降准"}) + "\n{broken\n\n"
    result = cli("--config", str(config), "classify", stdin=stdin)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    assert lines[0]["text"] == "Stocks rally as rate cut hopes grow"
    assert lines[0]["topic"]["label"] in ("business", "entertainment", "politics", "sport", "tech")
    assert set(lines[0]["sentiment"]["distribution"]) == {"negative", "neutral", "positive"}
    assert lines[1]["id"] == "z1"
    assert lines[2] == {"line": 3, "error": "invalid_json", "detail": lines[2]["detail"]}
