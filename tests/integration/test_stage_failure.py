"""A stage that raises stops the daemon with exit status 1 (so its supervisor restarts it) instead of
leaving it consuming with a dead pipeline; nothing the failed stage held is committed."""

from __future__ import annotations

import asyncio
import json

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.models.classifier import Classifier
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import committed_offsets, consume_until, create_topics, produce


class _Broken(Classifier):
    """The tiny models, but inference fails (a driver error, a corrupt weight file...)."""

    def forward(self, batch):  # type: ignore[no-untyped-def]
        raise RuntimeError("inference failed")


async def test_failing_inference_exits_1_and_commits_nothing(broker, tiny_models):
    topic = unique("broken")
    settings = daemon_settings(broker.bootstrap, {"topic": tiny_models["topic"], "sentiment": tiny_models["sentiment"]}, topic)
    await create_topics(broker.bootstrap, topic)
    await produce(broker.bootstrap, topic, [json.dumps({"text": f"story {i}"}).encode() for i in range(20)])
    classifier = _Broken(Classifier.load(settings.models).routes)

    metrics = Metrics()
    code = await asyncio.wait_for(Daemon(settings, metrics, classifier).run(), timeout=120)

    assert code == 1
    consumed = sum(s.value for m in metrics.messages_consumed.collect() for s in m.samples if s.name.endswith("_total"))
    assert consumed == 20, "it failed on the stream, not before it"
    committed = await committed_offsets(broker.bootstrap, settings.kafka.group_id)
    assert sum(committed.values()) == 0, committed


class _Poisoned(Classifier):
    """The tiny models, but the tokeniser raises on one kind of text (a poison message), or on all."""

    def __init__(self, routes, poison: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(routes)
        self.poison = poison

    def tokenize(self, route, texts):  # type: ignore[no-untyped-def]
        if any(self.poison in t for t in texts):
            raise ValueError("cannot tokenise this")
        return super().tokenize(route, texts)


async def test_a_message_the_tokeniser_refuses_is_dead_lettered_and_the_rest_go_on(broker, tiny_models):
    topic = unique("poison")
    settings = daemon_settings(broker.bootstrap, {"topic": tiny_models["topic"], "sentiment": tiny_models["sentiment"]}, topic)
    await create_topics(broker.bootstrap, topic)
    values = [json.dumps({"id": f"m{i}", "text": f"story {i}"}).encode() for i in range(30)]
    poison = json.dumps({"id": "bad", "text": "story POISON"}).encode()
    await produce(broker.bootstrap, topic, values[:15] + [poison] + values[15:])
    classifier = _Poisoned(Classifier.load(settings.models).routes, "POISON")

    metrics = Metrics()
    daemon = Daemon(settings, metrics, classifier)
    run = asyncio.create_task(daemon.run())
    try:
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic, settings.kafka.dead_letter_topic],
                                  lambda rs: len(rs) >= 31)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(run, timeout=60) == 0, "one bad message does not stop the daemon"

    enriched = {r.json()["id"] for r in out if r.topic == settings.kafka.output_topic}
    dead = [r for r in out if r.topic == settings.kafka.dead_letter_topic]
    assert enriched == {f"m{i}" for i in range(30)}
    assert [(r.value, r.headers["textmon.reason"]) for r in dead] == [(poison, b"unprocessable")]
    assert b"cannot tokenise this" in dead[0].headers["textmon.detail"]
    committed = await committed_offsets(broker.bootstrap, settings.kafka.group_id)
    assert sum(committed.values()) == 31, committed


async def test_a_tokeniser_that_refuses_everything_stops_the_daemon(broker, tiny_models):
    topic = unique("tokfail")
    settings = daemon_settings(broker.bootstrap, {"topic": tiny_models["topic"], "sentiment": tiny_models["sentiment"]}, topic)
    await create_topics(broker.bootstrap, topic)
    await produce(broker.bootstrap, topic, [json.dumps({"text": f"story {i}"}).encode() for i in range(20)])
    classifier = _Poisoned(Classifier.load(settings.models).routes, "story")

    code = await asyncio.wait_for(Daemon(settings, Metrics(), classifier).run(), timeout=120)

    assert code == 1
    committed = await committed_offsets(broker.bootstrap, settings.kafka.group_id)
    assert sum(committed.values()) == 0, committed
