"""Topics defined by example at run time are trended and alerted on like the model's own, on a real
broker with the real base encoder: no restart, each message counted once in the market-wide series."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.config import daemon_settings
from tests.support.http import api
from tests.support.example_texts import BANKING, BANKS, CLUBS, SPORT, texts
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce, wait_until

ADMIN = "admin-token-for-the-example-topics-test"


async def test_a_topic_defined_at_run_time_is_trended_and_alerted_on(broker, tiny_models) -> None:
    topic = unique("by-example")
    pinned = {"topic": tiny_models["topic_business"], "sentiment": tiny_models["sentiment_negative"]}
    settings = daemon_settings(
        broker.bootstrap, pinned, topic, http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN},
        feedback={"enabled": False}, trends={"warmup_buckets": 0, "dedup_window_seconds": 0},
        rules=[{"name": "negative-share", "detector": "negative_share", "threshold": 0.5, "min_volume": 5}])
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())
    try:
        async def serving() -> bool:  # consuming: the stored topic definitions are read, so changes can be stored
            return daemon.http_port is not None and daemon.consuming

        await wait_until(serving)
        port = daemon.http_port
        assert port is not None
        banking, sport = texts(BANKING, BANKS), texts(SPORT, CLUBS)
        # fifteen examples a topic (the first, alone, needs counter-examples); the rest is new traffic
        status, body = await api(port, "POST", "/api/topics",
                                 {"name": "banking", "examples": banking[:15], "counter_examples": sport[:15]}, ADMIN)
        assert status == 201, body
        status, body = await api(port, "POST", "/api/topics", {"name": "football", "examples": sport[:15]}, ADMIN)
        assert status == 201, body
        assert {t["name"] for t in (await api(port, "GET", "/api/topics"))[1]["topics"]} == {"banking", "football"}

        now = time.time()
        traffic = [(f"b{i}", x) for i, x in enumerate(banking[15:])] + [(f"s{i}", x) for i, x in enumerate(sport[15:])]
        await produce(broker.bootstrap, topic, [json.dumps({"id": i, "text": x, "timestamp": now}).encode()
                                                for i, x in traffic])
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= len(traffic))
        records = {r.json()["id"]: r.json() for r in out}
        first = {i: (r.get("example_topics") or [{"label": None}])[0]["label"] for i, r in records.items()}
        assert all(first[i] == "banking" for i, _ in traffic if i[0] == "b"), first
        assert all(first[i] == "football" for i, _ in traffic if i[0] == "s"), first
        assert all(0.0 <= t["score"] <= 1.0 for r in records.values() for t in r["example_topics"])

        async def trended_and_firing() -> bool:
            status = daemon.status()
            counts = {t["topic"]: t["window"]["count"] for t in status["topics"]}
            firing = {a["key"] for a in status["alerts"]}
            return counts.get("banking") == 15 and counts.get("football") == 15 and {"banking", "football"} <= firing

        await wait_until(trended_and_firing)
        counts = {t["topic"]: t["window"]["count"] for t in daemon.status()["topics"]}
        # the model's own topic and the market-wide series count every message once
        assert counts["business"] == counts["__all__"] == len(traffic)
    finally:
        daemon.request_stop()
        assert await run == 0


async def test_a_failing_labeller_costs_the_records_only_their_topics_by_example(broker, tiny_models) -> None:
    topic = unique("by-example-fails")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, feedback={"enabled": False},
                               example_topics={"topics": [{"name": "banking", "examples": texts(BANKING, BANKS)[:15]},
                                                          {"name": "football", "examples": texts(SPORT, CLUBS)[:15]}]})
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    metrics = Metrics()
    daemon = Daemon(settings, metrics)

    def broken(_: Any) -> Any:
        raise RuntimeError("encoder out of memory")

    run = asyncio.create_task(daemon.run())
    try:
        async def fitted() -> bool:
            return daemon.desk.example_topics.fitted is not None

        await wait_until(fitted)
        daemon.desk.example_topics.classify = broken  # type: ignore[method-assign]
        await produce(broker.bootstrap, topic, [json.dumps({"id": f"m{i}", "text": x}).encode()
                                                for i, x in enumerate(texts(BANKING, BANKS)[15:])])
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= 15)
    finally:
        daemon.request_stop()
        assert await run == 0, "the daemon keeps running and stops cleanly"
    records = [r.json() for r in out]
    assert {r["id"] for r in records} == {f"m{i}" for i in range(15)}
    assert all("example_topics" not in r and r["topic"]["label"] for r in records)
    assert metrics.example_topic_errors._value.get() >= 1
