"""Producing test input and reading the daemon's output topics from a real broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def create_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    """Create topics up front so partition counts are known."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    """Write values (spread over partitions by key, or round-robin) and wait for acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = []
        for i, value in enumerate(values):
            key = keys[i] if keys else str(i).encode()
            futures.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class OutRecord:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: dict[str, bytes]

    def json(self) -> Any:
        return json.loads(self.value)


async def consume_until(
    bootstrap: str, topics: list[str], done: Callable[[list[OutRecord]], bool], timeout: float = 120.0
) -> list[OutRecord]:
    """Read topics from the beginning until ``done(records)`` holds; fail after ``timeout`` seconds."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[OutRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(out):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out with {len(out)} records from {topics}")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    out.append(OutRecord(tp.topic, tp.partition, r.offset, r.value or b"", dict(r.headers or ())))
    finally:
        await consumer.stop()
    return out


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def end_offsets(bootstrap: str, topic: str) -> dict[tuple[str, int], int]:
    """Each partition's end offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): o for tp, o in ends.items()}


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 60.0, interval: float = 0.2) -> None:
    """Poll an external condition (another process's state) until it holds, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def wait_all_committed(bootstrap: str, group: str, topic: str) -> None:
    """Until ``group``'s committed offsets reach the end of every partition of ``topic``: the daemon
    commits a record only once it is published and counted, so every record is then done."""
    ends = await end_offsets(bootstrap, topic)

    async def all_committed() -> bool:
        return await committed_offsets(bootstrap, group) == ends

    await wait_until(all_committed)


async def http_get(url: str) -> tuple[int, str]:
    """GET a URL, returning status and body; connection errors count as status 0."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(url) as resp:
                return resp.status, await resp.text()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return 0, ""


def metric_value(text: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def read_committed(bootstrap: str, topic: str) -> list[Any]:
    """Every committed record of ``topic`` (read_committed), up to its end now."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=2000)  # joins: the assignment is known after the first fetch
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(list(consumer.assignment()))
        out = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        while await behind():
            batch = await consumer.getmany(timeout_ms=500)
            out += [r for rs in batch.values() for r in rs]
        return out
    finally:
        await consumer.stop()
