"""A backlog read all at once (a replay, a restart after an outage) is trended as the live stream
would have been: batching reorders messages by length, but none of them may become late."""

from __future__ import annotations

import asyncio
import json
import random
import time

from monitor.daemon import Daemon
from monitor.metrics import Metrics
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
    counted = sum(b.count + b.duplicates for b in daemon.trends.buckets["__all__"].values())
    assert counted == N
