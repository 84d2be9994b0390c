"""Slow inference pauses the partitions instead of getting the consumer evicted from its group."""

from __future__ import annotations

import asyncio
import json
import time

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.models.classifier import Classifier, EncodedBatch
from monitor.records import Prediction
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce


class SlowClassifier(Classifier):
    """Each forward pass takes at least ``delay`` seconds: a model far slower than the poll interval allows."""

    delay = 0.4

    def __init__(self, inner: Classifier) -> None:
        super().__init__(inner.routes, inner.precision, inner.precision_reason)

    def forward(self, batch: EncodedBatch) -> list[Prediction]:
        time.sleep(self.delay)  # simulated slow model, not synchronisation
        return super().forward(batch)


async def test_slow_inference_pauses_fetching_without_rebalancing(broker, tiny_models):
    topic = unique("slow")
    n = 240
    settings = daemon_settings(
        broker.bootstrap, tiny_models, topic,
        kafka={"max_poll_interval_ms": 3000, "max_poll_records": 16, "session_timeout_ms": 6000},
        batch={"max_size": 8, "max_in_flight": 16, "max_wait_ms": 5},
    )
    await create_topics(broker.bootstrap, topic)
    await produce(broker.bootstrap, topic, [json.dumps({"text": f"news item {i}"}).encode() for i in range(n)])
    metrics = Metrics()
    classifier = SlowClassifier(Classifier.load(settings.models))
    daemon = Daemon(settings, metrics, classifier)
    peak = 0

    async def watch_in_flight() -> None:
        nonlocal peak
        while True:
            peak = max(peak, daemon.tracker.in_flight)
            await asyncio.sleep(0)

    run = asyncio.create_task(daemon.run())
    watcher = asyncio.create_task(watch_in_flight())
    try:
        # 30 batches x 0.4 s = 12 s of inference: four times the 3 s poll interval
        await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= n, timeout=120)
    finally:
        watcher.cancel()
        daemon.request_stop()
        assert await run == 0
    value = metrics.registry.get_sample_value
    assert value("textmon_partition_assignments_total") == 1, "the consumer was never evicted and re-assigned"
    assert value("textmon_backpressure_pauses_total") >= 1
    assert peak <= settings.batch.max_in_flight + settings.kafka.max_poll_records
