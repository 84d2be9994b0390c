"""A partition's transactional writer on a real broker: a newer owner fences the older one, whose
every later step says so (never a retry that cannot succeed, never a crash), and read_committed
readers see only committed steps."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from monitor.settings import KafkaSettings
from monitor.tiers.writer import Fenced, PartitionWriter, Pending
from tests.support.kafka import unique
from tests.support.streams import committed_offsets, create_topics, read_committed


def _records(topic: str, *values: bytes) -> list[Pending]:
    return [Pending((topic, b"k", v, [])) for v in values]


async def test_a_fenced_writer_reports_fenced_on_every_later_step(broker):
    out, source = unique("writer-out"), unique("writer-in")
    await create_topics(broker.bootstrap, out, source, partitions=1)
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
    group, txn = unique("writer-group"), unique("writer-txn")
    offsets = {TopicPartition(source, 0): 5}

    old = PartitionWriter(kafka, txn, 15_000, "dead")
    await old.start()
    await old.commit(_records(out, b"a1", b"a2"), offsets, group)
    new = PartitionWriter(kafka, txn, 15_000, "dead")
    await new.start()  # a new owner of the partition: the old producer is fenced
    try:
        for _ in range(2):  # the first refusal, and a step after it on the now unusable producer
            with pytest.raises(Fenced):
                await old.commit(_records(out, b"stale"), {TopicPartition(source, 0): 9}, group)
        await new.commit(_records(out, b"b1"), {TopicPartition(source, 0): 7}, group)
    finally:
        await old.stop()
        await new.stop()

    assert [r.value for r in await read_committed(broker.bootstrap, out)] == [b"a1", b"a2", b"b1"]
    assert (await committed_offsets(broker.bootstrap, group))[(source, 0)] == 7
