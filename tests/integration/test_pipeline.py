"""End to end on a real broker: every message is enriched or dead-lettered, alerts reach a webhook,
metrics count what happened, and offsets are committed for exactly what was processed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

from aiokafka.partitioner import murmur2

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.receiver import Receiver
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import (
    consume_until, create_topics, http_get, metric_value, produce, wait_all_committed,
)

GOOD = 240
MALFORMED = {
    b"{not json": "invalid_json",
    b"[1, 2, 3]": "not_an_object",
    b'{"text": 42}': "wrong_type",
    b'{"headline": "no text field"}': "missing_text",
    b'{"text": "   "}': "empty_text",
    b'{"text": "caf\xe9 au lait"}': "not_utf8",
    json.dumps({"text": "x" * 5000}).encode(): "oversized",
    json.dumps({"text": "ok", "timestamp": "yesterday"}).encode(): "wrong_type",
    b'{"text": "ok", "timestamp": NaN}': "wrong_type",  # trends cannot place it in a bucket
    json.dumps({"text": "ok", "timestamp": 4_102_444_800}).encode(): "future_time",  # 2100: would close every bucket
    # poison that once stopped the daemon (and, never committed, stopped it again after every restart)
    b'{"text": "ok", "x": ' + b"[" * 1_900 + b"]" * 1_900 + b"}": "too_deep",  # RecursionError in the parser
    b'{"text": "ok", "x": ' + b"[" * 100 + b"]" * 100 + b"}": "too_deep",
    b'{"text": "ok", "x": ' + b"9" * 2_000 + b"}": "invalid_json",  # an integer of 2,000 digits
    b'{"text": "ok", "timestamp": -1}': "past_time",  # 30 million empty buckets to close
    b'{"text": "ok", "timestamp": -1e300}': "past_time",  # OverflowError, once written into the checkpoint
    json.dumps({"text": "ok", "id": "i" * 300}).encode(): "field_too_long",
}


async def test_every_message_is_enriched_or_dead_lettered_and_alerts_reach_the_webhook(broker, tiny_models):
    topic = unique("pipe")
    receiver = Receiver()
    await receiver.start()
    settings = daemon_settings(
        broker.bootstrap,
        {"topic": tiny_models["topic_business"], "sentiment": tiny_models["sentiment_negative"]},
        topic,
        input={"max_message_bytes": 4096},
        rules=[{"name": "neg-share", "threshold": 0.5, "min_volume": 20, "window_seconds": 600}],
        sinks=[
            {"name": "log", "type": "log"},
            {"name": "hook", "type": "webhook", "options": {"url": receiver.url, "secret": "s3cret"}},
        ],
    )
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    long_text = "markets " * 400  # far beyond the tiny model's 128 tokens, under the byte limit
    good = [json.dumps({"id": f"m{i}", "text": f"shares fell sharply at company {i}", "source": "wire"}).encode() for i in range(GOOD)]
    good.append(json.dumps({"id": "long", "text": long_text}).encode())
    # a chat producer that truncated UTF-16 text cut an emoji in half: valid JSON, no valid UTF-8
    good.append(b'{"id": "half-emoji", "text": "shares fell sharply at company 0 \\ud83d"}')
    values = good[:120] + list(MALFORMED) + good[120:]  # poison between good messages
    await produce(broker.bootstrap, topic, values)

    metrics = Metrics()
    daemon = Daemon(settings, metrics)
    run = asyncio.create_task(daemon.run())
    try:
        out = await consume_until(
            broker.bootstrap, [settings.kafka.output_topic, settings.kafka.dead_letter_topic],
            lambda rs: len(rs) >= len(values),
        )
        await receiver.wait_for(lambda rs: len(rs) >= 1)
        # a record can be read from the output before its producer has the acknowledgement, and the
        # daemon counts it after that; offsets are committed only for records it has finished with
        await wait_all_committed(broker.bootstrap, settings.kafka.group_id, topic)  # for everything processed
        status, body = await http_get(f"http://127.0.0.1:{daemon.http_port}/metrics")
        ready_status, _ = await http_get(f"http://127.0.0.1:{daemon.http_port}/readyz")
    finally:
        daemon.request_stop()
        assert await run == 0
        await receiver.stop()

    enriched = [r.json() for r in out if r.topic == settings.kafka.output_topic]
    dead = [r for r in out if r.topic == settings.kafka.dead_letter_topic]
    assert len(enriched) + len(dead) == len(values)
    assert {e["id"] for e in enriched} == {f"m{i}" for i in range(GOOD)} | {"long", "half-emoji"}
    # keyed by message id and placed as Kafka's own clients place a key (murmur2), so a consumer of
    # the output finds a message's record where any other producer would have put it
    placed = {r.json()["id"]: r.partition for r in out if r.topic == settings.kafka.output_topic}
    assert placed == {i: (murmur2(i.encode()) & 0x7FFFFFFF) % 3 for i in placed}
    assert len(set(placed.values())) == 3
    assert [e["text"] for e in enriched if e["id"] == "half-emoji"] == ["shares fell sharply at company 0 \ufffd"]
    assert sorted(r.headers["textmon.reason"].decode() for r in dead) == sorted(MALFORMED.values())
    assert {r.value for r in dead} == set(MALFORMED), "dead letters keep the original bytes"
    first = enriched[0]
    assert first["topic"]["label"] == "business" and first["sentiment"]["label"] == "negative"
    assert set(first["sentiment"]["distribution"]) == {"negative", "neutral", "positive"}
    published = [first["topic"]["score"], *first["topic"]["distribution"].values(), *first["sentiment"]["distribution"].values()]
    assert all(round(p, 6) == p for p in published), "probabilities are published to six decimals"
    assert first["models"]["topic"] and first["models"]["sentiment"]
    assert [e["truncated"] for e in enriched if e["id"] == "long"] == [True]

    # the alert reached the real HTTP receiver, signed
    hit = receiver.received[0]
    payload = hit.json()["alerts"][0]
    assert payload["state"] == "firing" and payload["key"] == "business" and payload["observed"] == 1.0
    mac = hmac.new(b"s3cret", hit.headers["X-Textmon-Timestamp"].encode() + b"." + hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["X-Textmon-Signature"] == f"sha256={mac}"

    # /metrics over HTTP shows the counts
    assert status == 200 and ready_status == 200
    assert metric_value(body, "textmon_messages_consumed_total") == len(values)
    assert metric_value(body, "textmon_dead_letters_total") == len(MALFORMED)
    assert metric_value(body, "textmon_dead_letters_total", reason="wrong_type") == 3
    assert metric_value(body, "textmon_dead_letters_total", reason="future_time") == 1
    assert metric_value(body, "textmon_messages_processed_total") == GOOD + 2
    assert metric_value(body, "textmon_classified_total", topic="business", sentiment="negative") == GOOD + 2
    assert metric_value(body, "textmon_alerts_total", rule="neg-share", state="firing") == 1
    assert metric_value(body, "textmon_sink_deliveries_total", sink="hook", outcome="delivered") == 1
    assert metric_value(body, "textmon_messages_truncated_total") == 1
    assert metric_value(body, "textmon_inference_seconds_count") >= 1
