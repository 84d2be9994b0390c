"""Shadow, then promote, on a real broker with the daemon as a real process.

A stream is consumed by live models (v1); a candidate (v2) is loaded in shadow through the CLI
and its comparison shows in /api/shadow and the metrics; it is promoted mid-stream and rolled back
through the CLI. Every message is classified once, by one version, the version changing at batch
boundaries only; the switches show in the records, the metrics and the log. Unauthorised requests
change nothing."""

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

import pytest

from monitor.settings import CandidateSettings
from tests.support.config import daemon_settings
from tests.support.http import api
from tests.support.kafka import unique
from tests.support.process import DaemonProcess
from tests.support.streams import consume_until, create_topics, http_get, metric_value, produce, wait_all_committed
from tests.support.tiny_models import SENTIMENTS, TOPICS, build_tiny_classifier

ADMIN = "admin-token-for-the-shadow-test"
READER = "reader-token-for-the-shadow-test"
LIVE = {"topic": "news-topic@1", "sentiment": "news-sentiment@1"}
CANDIDATE = {"topic": "news-topic@2", "sentiment": "news-sentiment@2"}
WORDS = ("bank", "bond", "rates", "oil", "match", "film", "vote", "chip", "tariff", "merger", "strike", "cup")


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Live v1 says business/neutral; candidate v2 says business/negative: they agree on topics only."""
    root = tmp_path_factory.mktemp("shadow-models")
    return {
        "topic": build_tiny_classifier(root / "v1" / "news-topic", TOPICS, pinned="business", version="1"),
        "sentiment": build_tiny_classifier(root / "v1" / "news-sentiment", SENTIMENTS, pinned="neutral", version="1"),
        "topic2": build_tiny_classifier(root / "v2" / "news-topic", TOPICS, pinned="business", version="2"),
        "sentiment2": build_tiny_classifier(root / "v2" / "news-sentiment", SENTIMENTS, pinned="negative", version="2"),
    }


def messages(prefix: str, n: int) -> list[bytes]:
    now = time.time()
    return [json.dumps({"id": f"{prefix}{i}", "timestamp": now,
                        "text": f"{WORDS[i % 12]} {WORDS[(i * 5 + 3) % 12]} story {prefix}{i} {'x' * (i % 7)}"}).encode()
            for i in range(n)]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``monitor --config FILE models ...`` as an operator runs it (the config names port and admin token)."""
    return subprocess.run([sys.executable, "-m", "monitor.cli", "--config", str(config), "models", *args],
                          capture_output=True, text=True, timeout=120)


async def test_shadow_promote_and_rollback_mid_stream(broker, versions, tmp_path):  # type: ignore[no-untyped-def]
    topic = unique("shadow")
    settings = daemon_settings(
        broker.bootstrap, {"topic": versions["topic"], "sentiment": versions["sentiment"]}, topic,
        http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN},
        trends={"warmup_buckets": 0, "dedup_window_seconds": 0},
        # live v1 calls nothing negative, so any negative share is the candidate's: the alert fires on the
        # first batch it classifies and holds while the window does, however long the promotion took
        rules=[{"name": "negative-share", "detector": "negative_share", "threshold": 0.01, "min_volume": 5}],
        batch={"max_size": 16},
    )
    out_topic = settings.kafka.output_topic
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

    async def metrics() -> str:
        return (await http_get(f"http://127.0.0.1:{port}/metrics"))[1]

    try:
        await proc.wait_ready()
        await feed("a", 40)  # live alone
        await out_count(40)

        # a candidate whose folder is not there: refused, naming the field; the daemon goes on
        bad = cli(proc.config, "candidate", "--topic", str(tmp_path / "no-such-model"), "--sentiment",
                  str(versions["sentiment2"]))
        assert bad.returncode == 1 and "topic:" in bad.stderr and "does not exist" in bad.stderr, bad.stderr
        assert (await api(port, "POST", "/api/models/candidate", {"bundle": "bundled:none"}, ADMIN))[1]["field"] == "bundle"
        assert (await api(port, "POST", "/api/models/candidate", {"topic": "x", "sample_rate": 2}, ADMIN))[1]["field"] \
            == "sample_rate"
        loaded = cli(proc.config, "candidate", "--topic", str(versions["topic2"]), "--sentiment", str(versions["sentiment2"]))
        assert loaded.returncode == 0, loaded.stderr
        assert json.loads(loaded.stdout)["candidate"]["models"] == CANDIDATE

        await feed("b", 60)  # live, with the candidate in shadow
        await out_count(100)
        status, shadow = await api(port, "GET", "/api/shadow")
        assert status == 200
        comparison = shadow["comparison"]
        assert comparison["messages"] == 60 and comparison["errors"] == 0
        assert comparison["tasks"]["topic"]["agreement"] == 1.0
        assert comparison["tasks"]["sentiment"]["agreement"] == 0.0
        assert comparison["tasks"]["sentiment"]["shifts"]["negative"] == {"live": 0, "candidate": 60, "change": 60}
        # the candidate's labels would have raised the alert that the live ones did not
        assert shadow["alerts"]["candidate"]["raised"]["negative-share"]["firing"] >= 1
        assert shadow["alerts"]["live"]["raised"] == {}
        assert shadow["cost"]["shadow_seconds"] > 0
        text = await metrics()
        assert metric_value(text, "textmon_shadow_agreement_ratio", task="topic") == 1.0
        assert metric_value(text, "textmon_shadow_agreement_ratio", task="sentiment") == 0.0
        assert metric_value(text, "textmon_shadow_predictions_total", task="sentiment", live="neutral",
                            candidate="negative") == 60
        assert metric_value(text, "textmon_shadow_alerts_total", model="candidate", rule="negative-share",
                            state="firing") >= 1
        assert metric_value(text, "textmon_shadow_alerts_total", model="live") == 0
        assert metric_value(text, "textmon_shadow_messages_total") == 60

        # refused: no token, a wrong one, an unknown version; nothing changes
        assert (await api(port, "POST", "/api/models/promote", {"version": CANDIDATE["sentiment"]}))[0] == 401
        assert (await api(port, "POST", "/api/models/promote", {"version": CANDIDATE["sentiment"]},
                          "not-the-admin-token-at-all"))[0] == 401
        assert (await api(port, "POST", "/api/models/rollback", {}, "not-the-admin-token-at-all"))[0] == 401
        unknown = cli(proc.config, "promote", "news-sentiment@9")
        assert unknown.returncode == 1 and "version:" in unknown.stderr and "news-sentiment@2" in unknown.stderr
        _, models = await api(port, "GET", "/api/models")
        assert models["live"]["default"] == LIVE and models["candidate"]["models"] == CANDIDATE
        assert models["switches"] == []

        # promoted while a stream is produced and consumed: chunks go on until three more are out after it
        promotion: asyncio.Task[subprocess.CompletedProcess[str]] | None = None

        async def stream() -> None:
            chunk = after = 0
            while after < 3:
                await feed(f"c{chunk}-", 20)
                chunk += 1
                after += promotion is not None and promotion.done()

        streaming = asyncio.create_task(stream())
        await out_count(120)  # the stream flows: its first chunk is out
        promotion = asyncio.create_task(asyncio.to_thread(cli, proc.config, "promote", CANDIDATE["sentiment"]))
        promoted = await promotion
        await streaming
        assert promoted.returncode == 0, promoted.stderr
        switch = json.loads(promoted.stdout)["switch"]
        assert switch["action"] == "promote" and switch["from"] == LIVE and switch["to"] == CANDIDATE
        await feed("d", 40)  # after the switch: the candidate alone
        await out_count(len(sent))
        rolled = await asyncio.to_thread(cli, proc.config, "rollback")
        assert rolled.returncode == 0, rolled.stderr
        assert json.loads(rolled.stdout)["switch"]["to"] == LIVE
        assert cli(proc.config, "rollback").returncode == 1, "a second rollback has nowhere to go"
        await feed("e", 40)
        records = await out_count(len(sent))
        await wait_all_committed(broker.bootstrap, settings.kafka.group_id, topic)
        text = await metrics()
        _, status = await api(port, "GET", "/api/status")
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 60) == 0
        proc.kill()

    # every message once: nothing lost, nothing doubled
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == len(sent) and set(ids) == set(sent)
    # each record by one version for both tasks, and its labels are that version's
    for r in records:
        assert r["models"] in (LIVE, CANDIDATE), r["models"]
        assert r["sentiment"]["label"] == ("neutral" if r["models"] == LIVE else "negative")
        assert r["sentiment"]["model"] == r["models"]["sentiment"]
    by_id = {r["id"]: r["models"] for r in records}
    assert all(by_id[i] == LIVE for i in sent if i[0] in "abe")
    assert all(by_id[i] == CANDIDATE for i in sent if i[0] == "d")
    assert {json.dumps(by_id[i], sort_keys=True) for i in sent if i[0] == "c"} == \
        {json.dumps(LIVE, sort_keys=True), json.dumps(CANDIDATE, sort_keys=True)}, "the switch fell mid-stream"
    # in the order batches were classified: v1, then v2 from one batch on, then v1 again; a batch is one version
    ordered = sorted(records, key=lambda r: r["classified_at"])
    runs = [k for k, _ in groupby(json.dumps(r["models"], sort_keys=True) for r in ordered)]
    assert [json.loads(k) for k in runs] == [LIVE, CANDIDATE, LIVE]
    for _, batch in groupby(ordered, key=lambda r: r["classified_at"]):
        assert len({json.dumps(r["models"], sort_keys=True) for r in batch}) == 1
    # the switches in the metrics and the log
    assert metric_value(text, "textmon_model_switches_total", action="promote") == 1
    assert metric_value(text, "textmon_model_switches_total", action="rollback") == 1
    assert metric_value(text, "textmon_build_info", default_sentiment=LIVE["sentiment"]) == 1
    logged = [json.loads(line) for line in proc.log_path.read_text().splitlines() if '"models switched"' in line]
    assert [(e["action"], e["live"]["sentiment"]) for e in logged] == [("promote", CANDIDATE["sentiment"]),
                                                                       ("rollback", LIVE["sentiment"])]
    assert logged[0]["after_batch"] == switch["after_batch"] > 0
    # the live labels turned negative at the promotion: the alert that raised names both versions whose
    # messages its window holds, the one before the switch and the one after
    named = [a["model_versions"]["sentiment"] for a in status["alerts"] if a["rule"] == "negative-share"]
    assert named and all(set(n.split(" + ")) >= {LIVE["sentiment"], CANDIDATE["sentiment"]} for n in named), named


async def test_without_an_admin_token_switches_are_off(broker, versions, tmp_path):  # type: ignore[no-untyped-def]
    topic = unique("shadow-off")
    settings = daemon_settings(broker.bootstrap, {"topic": versions["topic"], "sentiment": versions["sentiment"]}, topic,
                               http={"host": "127.0.0.1", "port": 0, "auth_token": READER})
    candidate = CandidateSettings(topic=str(versions["topic2"]), sentiment=str(versions["sentiment2"]), sample_rate=0.5)
    settings = settings.model_copy(update={"models": settings.models.model_copy(update={"candidate": candidate})})
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    proc = DaemonProcess(settings, tmp_path)
    proc.start()
    try:
        await proc.wait_ready()
        for path, body in (("/api/models/promote", {"version": CANDIDATE["sentiment"]}), ("/api/models/rollback", {}),
                           ("/api/models/candidate", {"topic": str(versions["topic2"])})):
            status, answer = await api(proc.port, "POST", path, body, "anything-at-all-1234")
            assert status == 403 and "admin_token" in answer["error"]
        refused = cli(proc.config, "promote", CANDIDATE["sentiment"])
        assert refused.returncode == 1 and "403" in refused.stderr
        # reading needs only the reader's token (http.auth_token); the candidate came from the settings
        assert (await api(proc.port, "GET", "/api/models"))[0] == 401
        _, models = await api(proc.port, "GET", "/api/models", token=READER)
        assert models["live"]["default"] == LIVE and models["candidate"]["models"] == CANDIDATE
        assert models["candidate"]["sample_rate"] == 0.5 and models["switches"] == []
        status = cli(proc.config, "status")
        assert status.returncode == 0 and json.loads(status.stdout)["candidate"]["models"] == CANDIDATE
    finally:
        proc.signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
