"""Compacted Kafka topics the daemon keeps its own records in (the feedback topic, the topic
definitions): made if missing, read whole from the beginning without a consumer group."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (ClusterAuthorizationFailedError, KafkaError, TopicAlreadyExistsError,
                             TopicAuthorizationFailedError, for_code)

from monitor.kafka_config import KafkaAccessError, common_kwargs
from monitor.logs import get_logger
from monitor.settings import KafkaSettings

log = get_logger(__name__)
PARTITIONS = 3
# compaction keeps the latest record per key; a tombstone (a withdrawn correction) is kept a day
TOPIC_CONFIG = {"cleanup.policy": "compact", "delete.retention.ms": str(86_400_000), "min.compaction.lag.ms": "60000"}


async def ensure_topic(kafka: KafkaSettings, topic: str, partitions: int = PARTITIONS, setting: str = "") -> None:
    """Create a compacted topic (the feedback topic, the topic definitions) unless it exists (a
    broker's auto-created one would not be compacted). One created beforehand is used as it is, so a
    cluster that grants no right to create topics works once they are made; without that right and
    without the topic, ``KafkaAccessError`` says what to create and ``setting`` (which setting names
    the topic, and how to do without it); no retry can help."""
    admin = AIOKafkaAdminClient(**common_kwargs(kafka))
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return
        # the admin client returns the broker's answer per topic rather than raising it: a refusal has to
        # be read from the response, or it passes for a topic made
        response = await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=TOPIC_CONFIG)])
        raise_topic_errors(response.topic_errors)
        log.info("compacted topic created", topic=topic, config=TOPIC_CONFIG)
    except TopicAlreadyExistsError:
        pass
    except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError) as exc:
        raise KafkaAccessError(f"topic {topic} does not exist (or this client may not describe it) and this client "
                               f"may not create it: create it compacted (cleanup.policy=compact) and grant this "
                               f"client Describe, Read and Write on it, or name another: {exc!r}"
                               + (f" ({setting})" if setting else "")) from None
    finally:
        await admin.close()


def raise_topic_errors(topic_errors: list[tuple[Any, ...]]) -> None:
    """Raise the first error of a CreateTopics response's ``(topic, error_code[, message])`` entries."""
    for entry in topic_errors:
        code = entry[1]
        if code:
            message = entry[2] if len(entry) > 2 and entry[2] else ""
            raise for_code(code)(f"{entry[0]}: {message}".rstrip(": "))


async def reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer has read every partition up to ``ends`` (the offsets it started to read to)."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The topic's partitions, once its metadata has reached this client (a new topic's takes a moment)."""
    for attempt in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer._client.force_metadata_update()  # noqa: SLF001 - the public API has no refresh
        if attempt:
            await asyncio.sleep(0.1)
    raise KafkaError(f"no metadata for {topic}")


async def from_beginning(consumer: AIOKafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    """Assign every partition of ``topic`` to a started consumer without a group and seek to the
    beginning; returns the end offsets at this moment (what reading "to the end" means)."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(consumer, topic)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return await consumer.end_offsets(partitions)
