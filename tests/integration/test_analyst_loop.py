"""The analyst's loop end to end, on a real broker, with the shipped model live in a real daemon process.

Corrections come in through the API and straight onto the feedback topic; ``monitor train --init
bundled:en-news --feedback kafka:TOPIC`` retrains the shipped sentiment head on them (a tiny run: it
checks the loop, not the model); the new bundle is loaded in shadow, compared on live traffic and
promoted mid-stream through ``monitor models``. Every message is classified once, by one live version;
the records, metrics and log show the switch; the promoted bundle names the corrections it learned from.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from itertools import groupby
from pathlib import Path
from typing import Any

from monitor.settings import ModelSet, ModelSettings, feedback_topic
from tests.support.config import daemon_settings
from tests.support.http import api
from tests.support.kafka import unique
from tests.support.process import DaemonProcess
from tests.support.streams import consume_until, create_topics, http_get, metric_value, produce, wait_all_committed, \
    wait_until
from tests.support.tiny_models import tiny_sentiment_file

ADMIN = "admin-token-for-the-analyst-loop"
SHIPPED = "en-news@2026.12.1"
RETRAINED = "en-news@2026.12.1+feedback"
LIVE = {"topic": SHIPPED, "sentiment": SHIPPED}
CANDIDATE = {"topic": SHIPPED, "sentiment": RETRAINED}
HEADLINES = ("Lender misses a coupon on its dollar bond", "Chipmaker beats forecasts and raises guidance",
             "Regulator opens a probe into the broker", "Airline posts a record quarterly profit",
             "Retailer shuts forty stores as sales slide", "Central bank holds rates at four per cent")


def messages(prefix: str, n: int) -> list[bytes]:
    now = time.time()
    return [json.dumps({"id": f"{prefix}{i}", "timestamp": now,
                        "text": f"{HEADLINES[i % len(HEADLINES)]} ({prefix}{i})"}).encode() for i in range(n)]


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``monitor`` command as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, timeout=300)


async def test_corrections_retrain_shadow_and_promote_mid_stream(broker, tmp_path: Path) -> None:
    topic = unique("loop")
    settings = daemon_settings(broker.bootstrap, {"topic": Path("-"), "sentiment": Path("-")}, topic,
                               http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN}, batch={"max_size": 16})
    shipped = ModelSettings(default=ModelSet(bundle="bundled:en-news"), by_language={}, device="cpu", precision="fp32")
    settings = settings.model_copy(update={"models": shipped})
    out_topic, fb_topic = settings.kafka.output_topic, feedback_topic(settings)
    await create_topics(broker.bootstrap, topic, out_topic)
    proc = DaemonProcess(settings, tmp_path)
    proc.start()
    port = proc.port
    sent: list[str] = []

    async def feed(prefix: str, n: int) -> None:
        sent.extend(f"{prefix}{i}" for i in range(n))
        await produce(broker.bootstrap, topic, messages(prefix, n))

    async def out_count(n: int) -> list[Any]:
        return [r.json() for r in await consume_until(broker.bootstrap, [out_topic], lambda rs: len(rs) >= n)]

    try:
        await proc.wait_ready()
        await feed("a", 30)
        first = {r["id"]: r for r in await out_count(30)}
        assert {json.dumps(r["models"], sort_keys=True) for r in first.values()} == {json.dumps(LIVE, sort_keys=True)}

        async def feedback_ready() -> bool:
            return bool((await api(port, "GET", "/api/feedback"))[1]["ready"])

        await wait_until(feedback_ready)
        # three corrections through the API (text, version and prediction filled in by the daemon) ...
        assert (await api(port, "POST", "/api/feedback", {"id": "a0", "sentiment": "negative", "who": "ana"}))[0] == 401
        corrected: dict[str, str] = {}
        for message_id in ("a0", "a1", "a4"):
            said = first[message_id]["sentiment"]["label"]
            wanted = next(label for label in ("negative", "positive", "neutral") if label != said)
            status, body = await api(port, "POST", "/api/feedback", {"id": message_id, "sentiment": wanted, "who": "ana"},
                                     ADMIN)
            assert status == 201, body
            assert body["correction"]["model_versions"] == {"sentiment": SHIPPED}
            corrected[message_id] = wanted
        # ... and two from another tool, produced straight onto the topic
        straight = [{"id": f"a{i}", "sentiment": "positive", "who": "desk-tool", "text": first[f"a{i}"]["text"],
                     "model_versions": {"sentiment": SHIPPED}} for i in (2, 3)]
        await produce(broker.bootstrap, fb_topic, [json.dumps(c).encode() for c in straight], keys=[b"a2", b"a3"])

        corrected.update({c["id"]: c["sentiment"] for c in straight})

        async def all_five_kept() -> bool:
            _, body = await api(port, "GET", "/api/feedback")
            return {c["id"]: c["sentiment"] for c in body["corrections"]} == corrected

        await wait_until(all_five_kept)

        # retrain the shipped bundle's sentiment head on them, reading the topic with the daemon's settings
        bundle = tmp_path / "retrained"
        trained = await asyncio.to_thread(
            monitor, "train", "--init", "bundled:en-news", "--name", "en-news",
            "--task", f"sentiment={tiny_sentiment_file(tmp_path / 'sentiment.jsonl')}",
            "--feedback", f"kafka:{fb_topic}", "--config", str(proc.config), "--out", str(bundle),
            "--epochs", "1", "--train-layers", "1", "--max-length", "32", "--batch-size", "8", "--threads", "1")
        assert trained.returncode == 0, trained.stderr[-3000:]
        manifest = json.loads((bundle / "monitor-model.json").read_text())
        assert manifest["version"] == "2026.12.1+feedback"
        assert manifest["feedback"]["used"] == 5 and manifest["feedback"]["who"] == {"ana": 3, "desk-tool": 2}
        assert manifest["feedback"]["source"] == f"kafka:{fb_topic}" and manifest["feedback"]["dropped"] == {}
        assert "**5 used**" in (bundle / "MODEL_CARD.md").read_text()

        # the retrained sentiment in shadow beside the shipped one (the topic head stays the shipped one's)
        loaded = await asyncio.to_thread(monitor, "--config", str(proc.config), "models", "candidate",
                                         "--topic", "bundled:en-news", "--sentiment", str(bundle))
        assert loaded.returncode == 0, loaded.stderr
        assert json.loads(loaded.stdout)["candidate"]["models"] == CANDIDATE
        await feed("b", 30)
        await out_count(60)
        _, shadow = await api(port, "GET", "/api/shadow")
        comparison = shadow["comparison"]
        assert comparison["messages"] == 30 and comparison["errors"] == 0
        assert comparison["tasks"]["topic"]["agreement"] == 1.0, "same topic head on both sides"
        assert 0.0 <= comparison["tasks"]["sentiment"]["agreement"] <= 1.0

        # promoted while a stream is produced and consumed: chunks go on until three more are out after it
        promotion: asyncio.Task[subprocess.CompletedProcess[str]] | None = None

        async def stream() -> None:
            chunk = after = 0
            while after < 3:
                await feed(f"c{chunk}-", 16)
                chunk += 1
                after += promotion is not None and promotion.done()

        streaming = asyncio.create_task(stream())
        await out_count(76)
        promotion = asyncio.create_task(asyncio.to_thread(monitor, "--config", str(proc.config), "models", "promote",
                                                          RETRAINED))
        promoted = await promotion
        await streaming
        assert promoted.returncode == 0, promoted.stderr
        assert json.loads(promoted.stdout)["switch"]["to"] == CANDIDATE
        await feed("d", 30)
        records = await out_count(len(sent))
        await wait_all_committed(broker.bootstrap, settings.kafka.group_id, topic)
        _, metrics = await http_get(f"http://127.0.0.1:{port}/metrics")
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.signal(signal.SIGTERM)
            assert await proc.stopped(60) == 0
        proc.kill()

    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == len(sent) and set(ids) == set(sent), "each message once, none lost"
    by_id = {r["id"]: r["models"] for r in records}
    assert all(by_id[i] == LIVE for i in sent if i[0] in "ab")
    assert all(by_id[i] == CANDIDATE for i in sent if i[0] == "d")
    for r in records:
        assert r["sentiment"]["model"] == r["models"]["sentiment"]
    ordered = sorted(records, key=lambda r: r["classified_at"])
    runs = [json.loads(k) for k, _ in groupby(json.dumps(r["models"], sort_keys=True) for r in ordered)]
    assert runs == [LIVE, CANDIDATE], "one switch, between batches"
    assert metric_value(metrics, "textmon_model_switches_total", action="promote") == 1
    assert metric_value(metrics, "textmon_feedback_corrections_total", via="api") == 3
    assert metric_value(metrics, "textmon_feedback_corrections_total", via="topic") == 2
    logged = [json.loads(line) for line in proc.log_path.read_text().splitlines() if '"models switched"' in line]
    assert [(e["action"], e["live"]["sentiment"]) for e in logged] == [("promote", RETRAINED)]
