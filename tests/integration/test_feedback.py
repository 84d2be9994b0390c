"""Corrections on a real broker: posted through the API or produced straight to the compacted
feedback topic, kept by message id; an unauthorised POST gets 401 and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from monitor.daemon import Daemon
from monitor.feedback.corrections import CorrectionBook
from monitor.feedback.log import FeedbackLog
from monitor.metrics import Metrics
from monitor.settings import feedback_topic
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, http_get, metric_value, produce, wait_until

ADMIN = "admin-token-for-the-feedback-test"


async def post(port: int, body: Any, auth: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": auth} if auth else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/api/feedback", json=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def get_json(port: int, path: str) -> Any:
    status, body = await http_get(f"http://127.0.0.1:{port}{path}")
    assert status == 200, body
    return json.loads(body)


async def test_corrections_from_the_api_and_the_topic_are_kept_durably(broker, tiny_models):
    topic = unique("fb")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, http={"host": "127.0.0.1", "port": 0,
                                                                           "admin_token": ADMIN})
    fb_topic = feedback_topic(settings)
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    await produce(broker.bootstrap, topic, [json.dumps({"id": f"m{i}", "text": f"bank {i} misses its bond payment"}).encode()
                                            for i in range(20)])
    metrics = Metrics()
    daemon = Daemon(settings, metrics)
    run = asyncio.create_task(daemon.run())
    try:
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= 20)
        enriched = {r.json()["id"]: r.json() for r in out}
        assert daemon.desk.log is not None
        await asyncio.wait_for(daemon.desk.log.ready.wait(), 60)
        port = daemon.http_port
        assert port is not None
        wrong_label = "politics" if enriched["m1"]["topic"]["label"] != "politics" else "sport"
        correction = {"id": "m1", "topic": wrong_label, "who": "ana"}

        # unauthorised: refused before anything is written
        assert (await post(port, correction, None))[0] == 401
        assert (await post(port, correction, "Bearer not-the-admin-token-at-all"))[0] == 401
        basic = "Basic " + base64.b64encode(f"x:{ADMIN}".encode()).decode()
        assert (await post(port, correction, basic))[0] == 401, "Basic is not accepted for changes"
        assert (await get_json(port, "/api/feedback"))["count"] == 0

        # bad corrections: 400, nothing written
        for bad in ({"id": "m1", "who": "ana"}, {"id": "m1", "topic": "no-such-topic", "who": "ana"},
                    {"id": "m1", "topic": "sport"}, ["m1"]):
            status, body = await post(port, bad, f"Bearer {ADMIN}")
            assert status == 400, body

        # accepted: the text, model version and what the model said are filled in from the prediction
        status, body = await post(port, correction, f"Bearer {ADMIN}")
        assert status == 201, body
        taken = body["correction"]
        assert taken["topic"] == wrong_label and taken["sentiment"] is None and taken["who"] == "ana"
        assert taken["text"] == "bank 1 misses its bond payment"
        assert taken["model_versions"] == {"topic": enriched["m1"]["topic"]["model"]}
        assert taken["predicted"] == {"topic": enriched["m1"]["topic"]["label"]}
        assert taken["via"] == "api" and taken["at"] > 0

        # produced straight to the topic, by another tool; and a record that is no correction
        straight = {"id": "m2", "sentiment": "positive", "who": "desk-tool", "text": "bank 2 misses its bond payment",
                    "model_versions": {"sentiment": "x@1"}}
        await produce(broker.bootstrap, fb_topic, [json.dumps(straight).encode(), b"{not json"], keys=[b"m2", b"junk"])

        async def both_known() -> bool:
            return {c["id"] for c in (await get_json(port, "/api/feedback"))["corrections"]} == {"m1", "m2"}

        await wait_until(both_known)
        _, metrics_text = await http_get(f"http://127.0.0.1:{port}/metrics")
        # corrected messages leave the review queue
        assert not {"m1", "m2"} & {i["id"] for i in (await get_json(port, "/api/review"))["items"]}
    finally:
        daemon.request_stop()
        assert await run == 0

    assert metric_value(metrics_text, "textmon_feedback_corrections_total", via="api") == 1
    assert metric_value(metrics_text, "textmon_feedback_corrections_total", via="topic") == 1
    assert metric_value(metrics_text, "textmon_feedback_invalid_total") == 1
    assert metric_value(metrics_text, "textmon_feedback_refused_total", reason="unauthorised") == 3

    # the topic is the source of truth: compacted, keyed by message id, and read back whole by a new reader
    records = await consume_until(broker.bootstrap, [fb_topic], lambda rs: len(rs) >= 3)
    assert sorted(r.json()["id"] for r in records if r.value != b"{not json") == ["m1", "m2"]
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, fb_topic)])
    finally:
        await admin.close()
    config = {entry[0]: entry[1] for entry in described[0].resources[0][4]}
    assert config["cleanup.policy"] == "compact"
    book = CorrectionBook(100)
    async with FeedbackLog(settings.kafka, fb_topic, book, Metrics()) as reread:
        await asyncio.wait_for(reread.ready.wait(), 60)
    first, second = book.get("m1"), book.get("m2")
    assert first is not None and first.labels == {"topic": wrong_label} and first.via == "api"
    assert second is not None and second.labels == {"sentiment": "positive"} and second.via == "topic"


async def test_without_an_admin_token_changes_are_off(broker, tiny_models):
    topic = unique("fb-off")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic)
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())
    try:
        await wait_until(lambda_ready(daemon))
        port = daemon.http_port
        assert port is not None
        status, body = await post(port, {"id": "m1", "topic": "sport", "who": "ana", "text": "t"}, "Bearer anything-at-all-1234")
        assert status == 403 and "admin_token" in body["error"]
        assert (await get_json(port, "/api/feedback"))["count"] == 0
        assert (await get_json(port, "/api/review"))["items"] == []  # reading stays open
    finally:
        daemon.request_stop()
        assert await run == 0


def lambda_ready(daemon: Daemon):  # type: ignore[no-untyped-def]
    async def ready() -> bool:
        return daemon.http_port is not None and daemon.desk.log is not None and daemon.desk.log.ready.is_set()
    return ready
