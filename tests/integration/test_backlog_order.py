"""A backlog read all at once (a replay, a restart after an outage) is trended as the live stream
would have been: batching reorders messages by length, but none of them may become late."""

from __future__ import annotations

import asyncio
import json
import random
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.offsets import OffsetTracker
from monitor.sources.kafka import KafkaSource
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce

N = 1500
WORDS = "rates bonds oil gold tariffs merger lawsuit earnings outlook guidance layoffs strike recall probe".split()


async def test_a_time_ordered_backlog_loses_nothing_to_lateness(broker, tiny_models):
    topic = unique("backlog")
    # default lateness (30 s) and buckets (60 s); the backlog spans 30 minutes of event time
    settings = daemon_settings(broker.bootstrap, tiny_models, topic)
    await create_topics(broker.bootstrap, topic)
    start = time.time() - 1800
    rng = random.Random(7)
    await produce(broker.bootstrap, topic, [
        json.dumps({"id": f"b{i}", "text": " ".join(rng.choices(WORDS, k=rng.choice([3, 6, 12, 40]))),
                    "timestamp": start + i * 1.2}).encode()
        for i in range(N)
    ])
    metrics = Metrics()
    daemon = Daemon(settings, metrics)
    run = asyncio.create_task(daemon.run())
    try:
        await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= N, timeout=180)
    finally:
        daemon.request_stop()
        assert await run == 0
    late = metrics.registry.get_sample_value("textmon_late_records_total")
    assert late == 0, f"{late:.0f} of {N} backlog records were refused as late"
    counted = sum(b.count + b.duplicates for b in daemon.judgement.trends.buckets["__all__"].values())
    assert counted == N


async def test_partitions_with_records_waiting_are_known_when_assigned_before_any_fetch(broker, tiny_models):
    """A fetch need not carry every partition; the trends hold the watermark for the ones reported
    here, so a partition read late does not find its buckets closed by the others."""
    topic = unique("assigned")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic)
    await create_topics(broker.bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        for partition in (0, 2):  # partition 1 stays empty
            for i in range(5):
                await producer.send_and_wait(topic, json.dumps({"text": f"story {i}"}).encode(), partition=partition)
    finally:
        await producer.stop()
    # the group has already processed partition 2 to its end
    committer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=settings.kafka.group_id,
                                 enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([TopicPartition(topic, 2)])
        await committer.commit({TopicPartition(topic, 2): 5})
    finally:
        await committer.stop()

    reported: list[tuple[str, int]] = []
    assigned = asyncio.Event()
    source = KafkaSource(settings.kafka, OffsetTracker(), Metrics(), 5.0,
                         on_backlog=lambda keys: (reported.extend(keys), assigned.set()))
    assert await source.start(asyncio.Event())
    try:
        await asyncio.wait_for(assigned.wait(), 60)  # the group assigns without a single fetch
    finally:
        await source.stop()
    assert reported == [(topic, 0)]
