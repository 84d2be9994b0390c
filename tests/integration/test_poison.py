"""Poison between good messages on a real broker: the daemon stays up, commits every partition to its
end, and accounts for every input, including records the broker refuses for good."""

from __future__ import annotations

import asyncio
import hashlib
import json

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, http_get, metric_value, wait_all_committed

HUGE = b'{"text": "' + b"z" * 2_000_000 + b'"}'  # allowed on the input topic; its dead letter is not on the DLQ
LONG_TEXT = "shares fell sharply " * 150  # a valid message whose enriched record the output topic refuses
POISON = [
    b'{"text": "a", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"text": "a", "x": ' + b"9" * 5_000 + b"}",
    b'{"text": "a", "timestamp": -1}',
    b'{"text": "a", "timestamp": -1e300}',
    json.dumps({"id": "i" * 5_000, "text": "a", "source": "s" * 100_000}).encode(),
    HUGE,
    json.dumps({"id": "long", "text": LONG_TEXT}).encode(),
]


async def test_poison_pills_neither_stop_nor_stall_the_daemon(broker, tiny_models):
    topic = unique("poison")
    settings = daemon_settings(
        broker.bootstrap, {"topic": tiny_models["topic_business"], "sentiment": tiny_models["sentiment_negative"]}, topic,
        input={"max_text_chars": 100_000}, rules=[], kafka={"producer_batch_bytes": 1024},
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([
            NewTopic(topic, 3, 1, topic_configs={"max.message.bytes": "5000000"}),
            NewTopic(settings.kafka.output_topic, 3, 1, topic_configs={"max.message.bytes": "2000"}),
        ])
    finally:
        await admin.close()
    await create_topics(broker.bootstrap, settings.kafka.dead_letter_topic)
    good = [json.dumps({"id": f"g{i}", "text": f"shares fell at company {i}"}).encode() for i in range(60)]
    values = good[:20] + POISON[:4] + good[20:40] + POISON[4:] + good[40:]
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", max_request_size=5_000_000)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value=v, key=str(i).encode()) for i, v in enumerate(values)])
    finally:
        await producer.stop()

    metrics = Metrics()
    daemon = Daemon(settings, metrics)
    run = asyncio.create_task(daemon.run())
    try:
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic, settings.kafka.dead_letter_topic],
                                  lambda rs: len(rs) >= len(values))
        await wait_all_committed(broker.bootstrap, settings.kafka.group_id, topic)
        assert not run.done(), "the daemon is still running"
        _, body = await http_get(f"http://127.0.0.1:{daemon.http_port}/metrics")
    finally:
        daemon.request_stop()
        assert await run == 0

    enriched = [r.json() for r in out if r.topic == settings.kafka.output_topic]
    dead = [r for r in out if r.topic == settings.kafka.dead_letter_topic]
    assert len(enriched) + len(dead) == len(values), "every input is accounted for exactly once"
    assert {e["id"] for e in enriched} == {f"g{i}" for i in range(60)}
    reasons = sorted(r.headers["textmon.reason"].decode() for r in dead)
    assert reasons == sorted(["too_deep", "invalid_json", "past_time", "past_time", "field_too_long",
                              "unpublishable", "unpublishable"])
    stand_ins = {r.json()["meant_for"]: r.json() for r in dead if r.headers["textmon.reason"] == b"unpublishable"}
    huge = stand_ins[settings.kafka.dead_letter_topic]  # the oversized input's dead letter itself was refused
    assert huge["size_bytes"] == len(HUGE) and huge["sha256"] == hashlib.sha256(HUGE).hexdigest()
    assert huge["head"] == HUGE[:1024].decode() and huge["source"]["topic"] == topic
    assert "MessageSizeTooLarge" in huge["detail"]
    long = stand_ins[settings.kafka.output_topic]  # a valid message whose enriched record was too large
    assert long["head"].startswith("{") and long["size_bytes"] > 2000 and long["source"]["topic"] == topic
    assert all(len(r.value) < 4096 for r in dead if r.headers["textmon.reason"] == b"unpublishable")
    assert metric_value(body, "textmon_dead_letters_total", reason="unpublishable") == 1  # the enriched one
    assert metric_value(body, "textmon_dead_letters_total", reason="oversized") == 1
    assert metric_value(body, "textmon_records_dropped_total") == 0
