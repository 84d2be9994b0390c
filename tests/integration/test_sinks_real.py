"""Sinks against real receivers: Alertmanager, a Slack-style webhook, a Kafka topic, and a sink
from a separately installed package."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import replace
from importlib import invalidate_caches
from pathlib import Path

from monitor.records import Alert, AlertState, Exemplar
from monitor.settings import SinkSettings
from monitor.sinks import load_sink
from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.alertmanager import Alertmanager
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.receiver import Receiver
from tests.support.streams import consume_until, produce, wait_until

FIRING = Alert(
    rule="negative-share-surge", key="business", state=AlertState.FIRING, severity="critical", fingerprint="f00d",
    summary="negative share for 'business' is 70% of 80 stories in 10 min, usually 30%", observed=0.7, expected=0.3,
    score=5.1, window_seconds=600, starts_at=time.time() - 120,
    labels={"alertname": "negative-share-surge", "topic": "business", "severity": "critical"},
    annotations={"summary": "negative share surge", "runbook_url": "https://runbooks.example/neg"},
    exemplars=(Exemplar("m1", "Bank shares plunge after fraud probe", 0.98),), model_versions={"sentiment": "en-news@1"},
    terms=("fraud", "probe"),
)


async def send(sink_settings: SinkSettings, alerts: list[Alert]) -> None:
    sink = load_sink(sink_settings)
    await sink.start()
    try:
        await sink.send(alerts)
    finally:
        await sink.stop()


async def test_alertmanager_receives_firing_then_resolved(tmp_path: Path):
    am = Alertmanager(tmp_path)
    await am.start()
    try:
        settings = SinkSettings(name="am", type="alertmanager", options={"url": am.url})
        await send(settings, [FIRING])
        [active] = am.alerts()
        assert active["labels"]["alertname"] == "negative-share-surge" and active["labels"]["topic"] == "business"
        assert active["status"]["state"] == "active"
        assert active["annotations"]["exemplars"] == "Bank shares plunge after fraud probe"
        await send(settings, [replace(FIRING, state=AlertState.RESOLVED, ends_at=time.time() - 1)])

        async def resolved() -> bool:
            return am.alerts() == []
        await wait_until(resolved, timeout=30)
    finally:
        am.stop()


async def test_slack_sink_posts_formatted_blocks():
    receiver = Receiver()
    await receiver.start()
    try:
        await send(SinkSettings(name="slack", type="slack", options={"webhook_url": receiver.url}), [FIRING])
    finally:
        await receiver.stop()
    payload = receiver.received[0].json()
    assert payload["blocks"][0]["text"]["text"].startswith("FIRING: negative-share-surge")
    text = json.dumps(payload)
    assert "fraud, probe" in text and "Bank shares plunge" in text and "runbooks.example" in text


async def test_kafka_sink_publishes_alerts_keyed_by_fingerprint(broker):
    topic = unique("alerts")
    await send(SinkSettings(name="k", type="kafka", options={"bootstrap_servers": broker.bootstrap, "topic": topic}), [FIRING])
    [record] = await consume_until(broker.bootstrap, [topic], lambda rs: len(rs) >= 1)
    assert Alert.from_json(record.json()) == FIRING


async def test_a_sink_from_a_separately_installed_package_is_used_by_the_daemon(broker, tiny_models, tmp_path: Path, monkeypatch):
    package = tmp_path / "src"
    (package / "acme_sink").mkdir(parents=True)
    (package / "acme_sink" / "__init__.py").write_text(
        "from monitor.sinks import BaseSink\n"
        "class FileSink(BaseSink):\n"
        "    def __init__(self, name, path):\n"
        "        super().__init__(name)\n"
        "        self.path = path\n"
        "    async def send(self, alerts):\n"
        "        with open(self.path, 'a') as f:\n"
        "            for a in alerts:\n"
        "                f.write(a.rule + ' ' + a.key + '\\n')\n"
    )
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "acme-sink"\nversion = "1.0"\n'
        '[project.entry-points."monitor.sinks"]\nacme-file = "acme_sink:FileSink"\n'
    )
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(package)], check=True, timeout=300)
    monkeypatch.syspath_prepend(str(target))
    invalidate_caches()
    out = tmp_path / "alerts.txt"
    topic = unique("plugin")
    settings = daemon_settings(
        broker.bootstrap, {"topic": tiny_models["topic_business"], "sentiment": tiny_models["sentiment_negative"]}, topic,
        rules=[{"name": "neg", "detector": "negative_share", "threshold": 0.5, "min_volume": 5}],
        sinks=[{"name": "acme", "type": "acme-file", "options": {"path": str(out)}}],
    )
    await produce(broker.bootstrap, topic, [json.dumps({"text": f"bad news {i}"}).encode() for i in range(10)])
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())

    async def written() -> bool:
        return out.exists() and out.read_text() != ""
    try:
        await wait_until(written, timeout=60)
    finally:
        daemon.request_stop()
        assert await run == 0
    assert out.read_text() == "neg business\n"
