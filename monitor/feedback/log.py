"""The feedback topic: corrections written to and read back from a compacted Kafka topic.

The topic is the source of truth (compacted, keyed by message id, so it keeps every message's
latest correction for ever). Every daemon reads it whole from the beginning, without a consumer
group, into its ``CorrectionBook``; corrections posted to the API are written to it and applied
once the broker has acknowledged them, and records produced to it by anyone else are applied when
they are read. Knows nothing of HTTP or models.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from monitor.compacted import ensure_topic, from_beginning, reached
from monitor.feedback.corrections import Correction, CorrectionBook, InvalidCorrection, decode_record, encode_record
from monitor.kafka_config import common_kwargs
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.settings import KafkaSettings

log = get_logger(__name__)
SETTING = "feedback.topic; feedback.enabled: false turns corrections off"  # what a missing topic's error names


class FeedbackUnavailable(Exception):
    """The feedback topic cannot be written now (broker away, or the log not started); retry later."""


class FeedbackLog:
    """Writes corrections to the feedback topic and keeps ``book`` up to date with everything in it."""

    def __init__(self, kafka: KafkaSettings, topic: str, book: CorrectionBook, metrics: Metrics,
                 labels: Callable[[], Mapping[str, frozenset[str]]] | None = None) -> None:
        self.kafka = kafka
        self.topic = topic
        self.book = book
        self.metrics = metrics
        self.labels = labels  # known labels: a record naming another is counted invalid and skipped
        self.ready = asyncio.Event()  # set once the topic exists and what it held at start has been read
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the background reader (it creates the topic if needed, retrying while the broker is away)."""
        assert self._task is None, "FeedbackLog.start() called twice"
        self._task = asyncio.create_task(self._run(), name="feedback-log")
        self._task.add_done_callback(_ended)

    async def stop(self) -> None:
        """Stop reading and writing; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> FeedbackLog:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def submit(self, correction: Correction, timeout: float = 10.0) -> int:
        """Write a correction, wait for the broker's acknowledgement, apply it; returns its offset."""
        producer = self._producer
        if producer is None or not self.ready.is_set():
            raise FeedbackUnavailable("the feedback topic is not ready yet")
        key, value = encode_record(correction)
        try:
            sent = await asyncio.wait_for(await producer.send(self.topic, value=value, key=key), timeout)
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise FeedbackUnavailable(f"the broker did not take the correction: {exc!r}") from None
        # applied now, so a reader of the API sees its own write; reading it back later is a no-op
        self.book.apply(correction.message_id, sent.offset, correction)
        self.metrics.feedback_corrections.labels("api").inc()
        return int(sent.offset)

    async def _run(self) -> None:
        delay = self.kafka.connect_backoff_initial_seconds
        while True:
            try:
                await ensure_topic(self.kafka, self.topic, setting=SETTING)
                producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **common_kwargs(self.kafka))
                await producer.start()
                self._producer = producer
                await self._read()
            except (KafkaError, OSError) as exc:
                self.ready.clear()
                producer, self._producer = self._producer, None
                if producer is not None:
                    await producer.stop()
                log.warning("feedback topic unavailable, retrying", topic=self.topic, error=repr(exc),
                            retry_in_seconds=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.kafka.connect_backoff_max_seconds)

    async def _read(self) -> None:
        """Read the whole topic, then follow it; ``ready`` is set once the start-up end is reached."""
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    **common_kwargs(self.kafka))
        await consumer.start()
        try:
            ends = await from_beginning(consumer, self.topic)
            while True:
                if not self.ready.is_set() and await reached(consumer, ends):
                    self.ready.set()
                    log.info("feedback topic read", topic=self.topic, corrections=len(self.book))
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for tp, records in batches.items():
                    for record in records:
                        self._apply(record.key, record.value, record.offset, record.timestamp)
        finally:
            await consumer.stop()

    def _apply(self, key: bytes | None, value: bytes | None, offset: int, timestamp_ms: int | None) -> None:
        at = (timestamp_ms / 1000.0) if timestamp_ms else time.time()
        try:
            correction = decode_record(key, value, at=at, labels=self.labels() if self.labels else None)
        except InvalidCorrection as exc:
            self.metrics.feedback_invalid.inc()
            log.warning("invalid correction on the feedback topic skipped", offset=offset, error=str(exc))
            return
        if correction is None:
            if key is not None:
                self.book.apply(key.decode("utf-8", errors="replace"), offset, None)
            return
        # the API counted its own on the broker's acknowledgement
        if self.book.apply(correction.message_id, offset, correction) and correction.via != "api":
            self.metrics.feedback_corrections.labels(correction.via).inc()


async def publish(kafka: KafkaSettings, topic: str, corrections: Sequence[Correction], timeout: float = 60.0) -> int:
    """Write corrections from another tool (an import) to the feedback topic, in order, and wait for the
    broker's acknowledgement of every one; every daemon following the topic applies them. Returns how many."""
    await ensure_topic(kafka, topic, setting=SETTING)
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **common_kwargs(kafka))
    await producer.start()
    try:
        sent = [await producer.send(topic, value=value, key=key) for key, value in map(encode_record, corrections)]
        await asyncio.wait_for(asyncio.gather(*sent), timeout)
    finally:
        await producer.stop()
    return len(sent)


def _ended(task: asyncio.Task[None]) -> None:
    """The reader only ends by being stopped; anything else is a bug to see, not to hide."""
    if not task.cancelled() and task.exception() is not None:
        log.error("feedback topic reader failed; corrections are no longer followed", error=repr(task.exception()))
