"""Publishing on a real broker: every record written once, where its key belongs, in order, even when
the records of one call fill several producer batches or one record alone is larger than a batch."""

from __future__ import annotations

import asyncio

from aiokafka.partitioner import murmur2

from monitor.emit import Emitter
from monitor.metrics import Metrics
from monitor.settings import KafkaSettings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics


async def test_a_publish_larger_than_a_batch_arrives_whole_keyed_and_in_order(broker):
    topic = unique("emit")
    await create_topics(broker.bootstrap, topic)
    emitter = Emitter(KafkaSettings(bootstrap_servers=broker.bootstrap, producer_batch_bytes=16_384), Metrics())
    assert await emitter.start(asyncio.Event())
    try:
        # 2 KiB records: a 16 KiB batch holds about seven, so each partition's share fills many batches
        records = [(topic, f"k{i % 40}".encode(), b"%06d" % i + b"x" * 2048, []) for i in range(300)]
        records.append((topic, b"big", b"y" * 100_000, [("h", b"v")]))  # alone more than a batch
        records.append((topic, None, b"no key", []))
        await emitter.publish(records)
        await emitter.publish([(topic, b"k0", b"after", [])])
    finally:
        await emitter.stop()

    out = await consume_until(broker.bootstrap, [topic], lambda rs: len(rs) >= 303)
    assert sorted(r.value for r in out) == sorted([value for _, _, value, _ in records] + [b"after"])
    by_partition: dict[int, list[bytes]] = {}
    for r in sorted(out, key=lambda r: (r.partition, r.offset)):
        by_partition.setdefault(r.partition, []).append(r.value)
    for i in range(300):
        assert (b"%06d" % i) + b"x" * 2048 in by_partition[(murmur2(f"k{i % 40}".encode()) & 0x7FFFFFFF) % 3]
    for values in by_partition.values():
        numbers = [v[:6] for v in values if v.endswith(b"x" * 2048)]
        assert numbers == sorted(numbers), "a partition's records keep the order they were published in"
    assert by_partition[(murmur2(b"k0") & 0x7FFFFFFF) % 3][-1] == b"after"
    assert [r.headers for r in out if r.value.startswith(b"y")] == [{"h": b"v"}]
