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
from tests.support.streams import committed_offsets, create_topics, produce


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
