"""The Kafka source: a consumer-group member that fetches, pauses under backpressure, and commits.

Offsets are committed only from the ``OffsetTracker``: never past a message whose effects
are not done. On revocation the pipeline is given time to finish the revoked partitions'
work, then their offsets are committed before the partitions move. On assignment the source
says which new partitions have records waiting, before the first of them is fetched.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from monitor.connect import start_with_backoff
from monitor.kafka_config import common_kwargs
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.offsets import OffsetTracker
from monitor.stall import PartitionProgress
from monitor.records import RawRecord, SourcePosition
from monitor.settings import KafkaSettings

log = get_logger(__name__)
BACKLOG_PROBE_SECONDS = 5.0  # how long the assignment waits for the offsets that tell which partitions have a backlog


class _Rebalance(ConsumerRebalanceListener):
    """Commits finished work for revoked partitions before they are handed to another member."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in revoked]
        await self.source.wait_partitions_idle(keys)
        await self.source.commit()
        self.source.tracker.forget(keys)
        if self.source.on_revoked is not None:
            await self.source.on_revoked(keys)
        log.info("partitions revoked", partitions=[f"{t}-{p}" for t, p in keys])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.source.metrics.rebalances.inc()
        log.info("partitions assigned", partitions=[f"{tp.topic}-{tp.partition}" for tp in assigned])
        if self.source.on_assigned is not None:  # before the first fetch from them
            await self.source.on_assigned([(tp.topic, tp.partition) for tp in assigned])
        await self.source.report_backlog(assigned)


class KafkaSource:
    """Wraps ``AIOKafkaConsumer`` with start-up retries, backpressure and tracked commits."""

    def __init__(
        self, settings: KafkaSettings, tracker: OffsetTracker, metrics: Metrics, drain_timeout: float,
        before_commit: Callable[[dict[tuple[str, int], int]], Awaitable[None]] | None = None,
        on_backlog: Callable[[list[tuple[str, int]]], None] | None = None,
        committer: Callable[[dict[tuple[str, int], int]], Awaitable[dict[tuple[str, int], int]]] | None = None,
        on_assigned: Callable[[list[tuple[str, int]]], Awaitable[None]] | None = None,
        on_revoked: Callable[[list[tuple[str, int]]], Awaitable[None]] | None = None,
    ) -> None:
        """``committer``, when given, commits instead of the consumer (the classify tier: in a transaction
        with the records staged below the offsets) and returns what it committed; ``on_assigned`` and
        ``on_revoked`` run inside the rebalance, before the first fetch and after the last commit."""
        self.settings = settings
        self.committer = committer
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked
        self.before_commit = before_commit
        self.on_backlog = on_backlog
        self.tracker = tracker
        self.metrics = metrics
        self.drain_timeout = drain_timeout
        self.consumer: AIOKafkaConsumer | None = None
        self.paused = False
        self._commit_lock = asyncio.Lock()
        self._progress = asyncio.Event()  # set by notify_progress; waited on by wait_progress
        self._next_offset: dict[TopicPartition, int] = {}

    async def start(self, stopping: asyncio.Event) -> bool:
        """Join the group, retrying with backoff while the broker is away. False if stopped first."""
        s = self.settings

        async def join() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                group_id=s.group_id,
                enable_auto_commit=False,
                auto_offset_reset=s.auto_offset_reset,
                max_poll_records=s.max_poll_records,
                fetch_min_bytes=s.fetch_min_bytes,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                max_poll_interval_ms=s.max_poll_interval_ms,
                session_timeout_ms=s.session_timeout_ms,
                heartbeat_interval_ms=max(1000, s.session_timeout_ms // 3),
                isolation_level="read_committed",
                **common_kwargs(s),
            )
            try:
                await consumer.start()
            except BaseException:
                self.metrics.broker_up.set(0)
                await consumer.stop()
                raise
            consumer.subscribe(list(s.input_topics), listener=_Rebalance(self))
            return consumer

        consumer = await start_with_backoff(join, s, "consumer", stopping)
        if consumer is None:
            return False
        self.consumer = consumer
        self.metrics.broker_up.set(1)
        log.info("consumer started", topics=list(s.input_topics), group=s.group_id)
        return True

    async def fetch(self, timeout_ms: int, max_records: int) -> list[RawRecord]:
        """One poll. Called even while paused, so the group sees a live member."""
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        out: list[RawRecord] = []
        for tp, records in batches.items():
            if records:
                self._next_offset[tp] = records[-1].offset + 1
            self.metrics.messages_consumed.labels(tp.topic, str(tp.partition)).inc(len(records))
            for rec in records:
                out.append(
                    RawRecord(
                        position=SourcePosition(tp.topic, tp.partition, rec.offset),
                        value=rec.value,
                        key=rec.key,
                        timestamp_ms=rec.timestamp,
                        headers=tuple((k, v) for k, v in (rec.headers or ())),
                    )
                )
        return out

    async def report_backlog(self, assigned: list[TopicPartition]) -> None:
        """Pass ``on_backlog`` the newly assigned partitions that have records past the group's committed
        offset (with none committed, past where ``auto_offset_reset`` starts reading).

        One fetch need not carry every partition (several brokers, size limits), and the trends'
        watermark must not run ahead on the partitions read first while another one's older
        records are still on the way. If the offsets cannot be had in time, nothing is reported:
        each partition then counts from its first fetched record, as before.
        """
        consumer = self.consumer
        if self.on_backlog is None or consumer is None or not assigned:
            return
        try:
            async with asyncio.timeout(BACKLOG_PROBE_SECONDS):
                ends = await consumer.end_offsets(assigned)
                starts = await consumer.beginning_offsets(assigned)
                committed_offsets = await asyncio.gather(*(consumer.committed(tp) for tp in assigned))  # a request each
                waiting = []
                for tp, committed in zip(assigned, committed_offsets):
                    if committed is None:
                        committed = starts[tp] if self.settings.auto_offset_reset == "earliest" else ends[tp]
                    if ends[tp] > max(committed, starts[tp]):
                        waiting.append((tp.topic, tp.partition))
        except (KafkaError, TimeoutError) as exc:
            log.warning("could not tell which assigned partitions have a backlog", error=repr(exc))
            return
        if waiting:
            self.on_backlog(sorted(waiting))

    def set_paused(self, paused: bool) -> None:
        """Pause or resume every assigned partition (backpressure)."""
        assert self.consumer is not None
        if paused == self.paused:
            return
        assigned = list(self.consumer.assignment())
        if paused:
            self.consumer.pause(*assigned)
            self.metrics.pauses.inc()
        else:
            self.consumer.resume(*self.consumer.paused())
        self.paused = paused
        self.metrics.paused.set(1 if paused else 0)
        log.info("backpressure", paused=paused, in_flight=self.tracker.in_flight)

    def update_lag(self) -> None:
        """Consumer lag per partition: the fetcher's high watermark minus the next offset we will read."""
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            position = self._next_offset.get(tp)
            if high is not None and position is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))

    def progress(self) -> dict[tuple[str, int], PartitionProgress]:
        """Each assigned partition's last commit and whether it has work: in flight, or not yet read."""
        if self.consumer is None:
            return {}
        out = {}
        for tp in self.consumer.assignment():
            high, position = self.consumer.highwater(tp), self._next_offset.get(tp)
            unread = high is not None and position is not None and high > position
            pending = unread or self.tracker.in_flight_for(tp.topic, tp.partition) > 0
            out[(tp.topic, tp.partition)] = PartitionProgress(self.tracker.committed_for(tp.topic, tp.partition), pending)
        return out

    def notify_progress(self) -> None:
        """Called by the pipeline after it marks work done: wakes whoever is in ``wait_progress``."""
        self._progress.set()

    async def wait_progress(self, seconds: float) -> None:
        """Until the pipeline next marks work done (``notify_progress``), or ``seconds`` pass."""
        self._progress.clear()
        try:
            await asyncio.wait_for(self._progress.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def wait_partitions_idle(self, keys: list[tuple[str, int]]) -> None:
        """Wait (bounded) until no work is in flight for ``keys``."""
        deadline = time.monotonic() + self.drain_timeout
        while any(self.tracker.in_flight_for(*k) for k in keys):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("revocation drain timed out; uncommitted work will be redelivered")
                return
            await self.wait_progress(min(remaining, 0.5))

    async def commit(self) -> None:
        """Commit every partition whose committable offset advanced, after ``before_commit`` (the state checkpoint)."""
        if self.consumer is None:
            return
        async with self._commit_lock:
            offsets = self.tracker.committable()
            if not offsets:
                return
            assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
            offsets = {k: v for k, v in offsets.items() if k in assigned}
            if not offsets:
                return
            if self.before_commit is not None:
                await self.before_commit(offsets)
            if self.committer is not None:
                offsets = await self.committer(offsets)
                self.tracker.mark_committed(offsets)
                if offsets:
                    self.metrics.commits.labels("ok").inc()
                return
            try:
                await self.consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in offsets.items()})
            except (CommitFailedError, KafkaConnectionError, KafkaError) as exc:
                self.metrics.commits.labels("failed").inc()
                log.warning("commit failed; will retry", error=repr(exc))
                return
            self.tracker.mark_committed(offsets)
            self.metrics.commits.labels("ok").inc()

    async def stop(self) -> None:
        """Leave the group; idempotent."""
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()

