"""A second member joining the group: revoked partitions are drained and committed before they move."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce, wait_until

N = 3000


async def test_rebalance_commits_revoked_work_so_nothing_is_processed_twice(broker, tiny_models):
    topic = unique("rebal")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, batch={"max_size": 16, "max_in_flight": 64},
                               kafka={"commit_interval_seconds": 60})  # only revocation and shutdown commit
    await create_topics(broker.bootstrap, topic, partitions=4)
    stories = [json.dumps({"id": f"r{i}", "text": f"story {i}"}).encode() for i in range(N)]
    await produce(broker.bootstrap, topic, stories[: N // 2])
    out = settings.kafka.output_topic
    first_metrics, second_metrics = Metrics(), Metrics()
    first = Daemon(settings, first_metrics)
    second = Daemon(settings, second_metrics)
    runs = [asyncio.create_task(first.run())]
    try:
        await consume_until(broker.bootstrap, [out], lambda rs: len(rs) >= N // 6)
        runs.append(asyncio.create_task(second.run()))

        async def second_has_partitions() -> bool:
            return second_metrics.registry.get_sample_value("textmon_partition_assignments_total") > 0

        # the rest once the group has split the partitions: the first member may have finished the first
        # half already, and the second must have work of its own on the partitions it took over
        await wait_until(second_has_partitions)
        await produce(broker.bootstrap, topic, stories[N // 2:])
        records = await consume_until(broker.bootstrap, [out], lambda rs: len({r.json()["id"] for r in rs}) >= N, timeout=180)
    finally:
        first.request_stop()
        second.request_stop()
        assert await asyncio.gather(*runs) == [0, 0]
    ids = Counter(r.json()["id"] for r in records)
    assert set(ids) == {f"r{i}" for i in range(N)}
    assert (second_metrics.registry.get_sample_value("textmon_messages_processed_total", {"route": "default"}) or 0) > 0, \
        "the second member took over partitions"
    assert sum(c - 1 for c in ids.values()) == 0, "revoked partitions were committed before moving"
