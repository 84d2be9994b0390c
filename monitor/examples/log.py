"""Topics defined or removed through the API, kept in a compacted Kafka topic that every daemon follows.

Keyed by topic name. A value is the definition (``ExampleTopicSettings`` as JSON, with ``at``) or a
removal marker (``{"name": ..., "removed": true}``): a marker rather than a tombstone, so that
compaction keeps it and a topic the settings define stays removed after a restart. A daemon reads
the topic whole at start-up, before its first fetch, and then follows it, so a topic defined on one
replica labels the messages of every replica and outlives restarts. Knows nothing of HTTP or fitting.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from monitor.compacted import ensure_topic, from_beginning, reached
from monitor.kafka_config import common_kwargs
from monitor.logs import get_logger
from monitor.settings import ExampleTopicSettings, KafkaSettings

log = get_logger(__name__)
Stored = dict[str, ExampleTopicSettings | None]  # name -> latest definition (None: removed)
OnChange = Callable[[str, ExampleTopicSettings | None], Awaitable[None]]


class DefinitionsUnavailable(Exception):
    """The definitions topic cannot be written now; the change was not made."""


def encode(name: str, topic: ExampleTopicSettings | None) -> tuple[bytes, bytes]:
    """The record for a definition, or for its removal."""
    body = {"name": name, "removed": True} if topic is None else topic.model_dump(mode="json")
    return name.encode(), json.dumps({**body, "at": time.time()}, ensure_ascii=False).encode()


def decode(key: bytes | None, value: bytes | None) -> tuple[str, ExampleTopicSettings | None]:
    """(name, definition or None for a removal); ``ValueError`` for a record that is neither."""
    if key is None or value is None:
        raise ValueError("a definition record needs a key (the topic's name) and a value")
    body = json.loads(value)
    if not isinstance(body, dict):
        raise ValueError("a definition record is a JSON object")
    name = key.decode()
    if body.get("name") != name:
        raise ValueError(f"the record's key {name!r} is not its name {body.get('name')!r}")
    if body.get("removed") is True:
        return name, None
    body.pop("at", None)
    return name, ExampleTopicSettings.model_validate(body)


class DefinitionsLog:
    """Reads the definitions topic (``load``, then ``follow``) and writes to it (``write``)."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    @property
    def opened(self) -> bool:
        """Whether ``load`` has read the topic (and ``follow`` and ``write`` may be used)."""
        return self._consumer is not None

    async def load(self) -> Stored:
        """Create the topic if needed and read it to its current end (raises ``KafkaError`` while the broker is away)."""
        await ensure_topic(self.kafka, self.topic, partitions=1, setting="example_topics.topic; example_topics.store: "
                           "false keeps API topics in the process instead")
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    isolation_level="read_committed", **common_kwargs(self.kafka))
        producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **common_kwargs(self.kafka))
        try:
            await consumer.start()
            await producer.start()
            ends = await from_beginning(consumer, self.topic)
            stored: Stored = {}
            while not await reached(consumer, ends):
                for records in (await consumer.getmany(timeout_ms=500, max_records=1000)).values():
                    for record in records:
                        self._read(record.key, record.value, record.offset, stored)
        except BaseException:
            await consumer.stop()
            await producer.stop()
            raise
        self._consumer, self._producer = consumer, producer
        log.info("topic definitions read", topic=self.topic, topics=sorted(k for k, v in stored.items() if v),
                 removed=sorted(k for k, v in stored.items() if v is None))
        return stored

    async def follow(self, on_change: OnChange) -> None:
        """Pass every record written after ``load`` to ``on_change``, until cancelled."""
        consumer = self._consumer
        assert consumer is not None, "DefinitionsLog.follow() before load()"
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=100)
            except KafkaError as exc:  # the client reconnects on its own; say so and poll again
                log.warning("topic definitions unavailable, retrying", topic=self.topic, error=repr(exc))
                await asyncio.sleep(self.kafka.connect_backoff_initial_seconds)
                continue
            for records in batches.values():
                for record in records:
                    changed: Stored = {}
                    self._read(record.key, record.value, record.offset, changed)
                    for name, topic in changed.items():
                        await on_change(name, topic)

    async def write(self, name: str, topic: ExampleTopicSettings | None, timeout: float = 10.0) -> None:
        """Store a definition (or a removal) and wait for the broker's acknowledgement."""
        producer = self._producer
        if producer is None:
            raise DefinitionsUnavailable("the stored definitions are not read yet (the daemon is starting); try again")
        key, value = encode(name, topic)
        try:
            await asyncio.wait_for(await producer.send(self.topic, value=value, key=key), timeout)
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise DefinitionsUnavailable(f"the broker did not take it: {exc!r}") from None

    async def stop(self) -> None:
        """Close the clients; idempotent."""
        consumer, producer, self._consumer, self._producer = self._consumer, self._producer, None, None
        for client in (consumer, producer):
            if client is not None:
                await client.stop()

    def _read(self, key: bytes | None, value: bytes | None, offset: int, into: Stored) -> None:
        try:
            name, topic = decode(key, value)
        except (ValueError, UnicodeDecodeError, ValidationError) as exc:  # pydantic's is a ValueError too
            log.warning("invalid topic definition skipped", topic=self.topic, offset=offset, error=str(exc)[:300])
            return
        into[name] = topic
