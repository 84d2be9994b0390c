"""The delivery tier: alerts topic -> incidents -> sinks, committing only what was delivered.

Each sink reads the alerts topic in a consumer group of its own (``<group>-deliver-<sink>``), so
one receiver that is down holds back only its own notifications, and an undelivered alert
survives any pod: its offset is not committed until the sink took it. The alerts topic has one
partition and sees every label, so incidents that span topics are grouped here, as the
all-in-one daemon groups them.

What an open incident needs to go on (which alerts fire in it) lives in the alerts it was built
from; the committed offset never passes the first alert of an incident still open, so a process
that starts after a crash rebuilds the open incidents by reading them again. Their notifications
may then go out twice, with the same ``Idempotency-Key``, which receivers deduplicate on
(delivery to HTTP receivers is at least once).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from monitor.alerts.incidents import IncidentGrouper
from monitor.connect import start_with_backoff
from monitor.kafka_config import common_kwargs
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.records import Alert
from monitor.redact import register_settings
from monitor.server import HealthServer
from monitor.settings import Settings
from monitor.sinks import Sink, load_sink

log = get_logger(__name__)
RETRY_SECONDS = 5.0


class SinkLane:
    """One sink's consumer, incident grouper and commit position."""

    def __init__(self, sink: Sink, settings: Settings, metrics: Metrics, max_age_seconds: float) -> None:
        self.sink = sink
        self.settings = settings
        self.metrics = metrics
        self.max_age_seconds = max_age_seconds
        self.grouper = IncidentGrouper(settings.alerting)
        self.group_id = f"{settings.kafka.group_id}-deliver-{sink.name}"
        self.tp = TopicPartition(settings.tiers.alerts_topic, 0)
        self.consumer: AIOKafkaConsumer | None = None
        self.first_offset: dict[tuple[str, ...], int] = {}  # open incident -> offset of its first alert
        self.now = 0.0  # event time: the newest alert's
        self.now_wall = time.monotonic()

    async def start(self) -> None:
        k = self.settings.kafka
        consumer = AIOKafkaConsumer(
            group_id=self.group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level="read_committed", session_timeout_ms=k.session_timeout_ms,
            heartbeat_interval_ms=max(1000, k.session_timeout_ms // 3), **common_kwargs(k))
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()  # not kept: the next attempt starts a fresh one
            raise
        consumer.subscribe([self.settings.tiers.alerts_topic])
        self.consumer = consumer
        await self.sink.start()

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = self.consumer
        assert consumer is not None
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            arrived: list[tuple[int, Alert]] = []
            for records in batches.values():
                for record in records:
                    alert = _alert(record.value)
                    if alert is not None:
                        arrived.append((record.offset, alert))
            notes = self._group(arrived)
            for note in notes:
                await self._deliver(note, stopping)
            await self._commit(consumer)

    def _clock(self) -> float:
        """Event time now: the newest alert's, moved on by the wall time since it came (alerts are the
        only event time delivery sees, and a quiet stream must still let incidents come due)."""
        return self.now + (time.monotonic() - self.now_wall)

    def _group(self, arrived: list[tuple[int, Alert]]) -> list[Alert]:
        """Step the grouper alert by alert, in event time, as the all-in-one daemon steps it per evaluation:
        what came due before an alert's time goes out before the alert joins its incident."""
        by_name = self.grouper.settings.group_by
        notes: list[Alert] = []
        for offset, alert in arrived:
            key = tuple(alert.labels.get(name, "") for name in by_name)
            t = alert.ends_at if alert.ends_at is not None else alert.starts_at
            if t > self._clock():
                self.now, self.now_wall = t, time.monotonic()
            notes += self.grouper.step([], self._clock(), time.monotonic())
            if key not in self.grouper.groups:
                self.first_offset.setdefault(key, offset)
            notes += self.grouper.step([alert], self._clock(), time.monotonic())
        if not arrived:
            notes += self.grouper.step([], self._clock(), time.monotonic())
        for key in [k for k in self.first_offset if k not in self.grouper.groups]:
            del self.first_offset[key]  # closed: its alerts need not be read again
        return notes

    async def _deliver(self, note: Alert, stopping: asyncio.Event) -> None:
        """Send until the sink takes it, or it is older than the sink's outbox age limit (then counted as discarded)."""
        name = self.sink.name
        started = time.monotonic()
        while True:
            try:
                await self.sink.send([note])
                self.metrics.deliver_notifications.labels(name, "delivered").inc()
                log.info("notification delivered", sink=name, rule=note.rule, state=note.state.value,
                         idempotency_key=note.idempotency_key)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a plugin's failure must not end delivery
                self.metrics.deliver_notifications.labels(name, "failed").inc()
                if time.monotonic() - started >= self.max_age_seconds:
                    self.metrics.deliver_notifications.labels(name, "discarded").inc()
                    log.error("notification discarded past the sink's age limit", sink=name, error=repr(exc))
                    return
                log.warning("sink delivery failed; retrying", sink=name, error=repr(exc), retry_in_seconds=RETRY_SECONDS)
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RETRY_SECONDS)
                if stopping.is_set():
                    raise asyncio.CancelledError  # not delivered, not committed: the next process sends it

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        try:
            position = await consumer.position(self.tp)
        except (KafkaError, AssertionError, KeyError):
            return
        offset = min([position, *self.first_offset.values()])
        with suppress(KafkaError):
            await consumer.commit({self.tp: OffsetAndMetadata(offset, "")})

    async def stop(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()
        with suppress(Exception):
            await self.sink.stop()


def _alert(value: bytes | None) -> Alert | None:
    if value is None:
        return None
    try:
        return Alert.from_json(orjson.loads(value))
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        log.warning("alert record left out", error=repr(exc)[:300])
        return None


class Delivery:
    """Runs one lane per configured sink until ``request_stop``."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        register_settings(settings)
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.metrics.role.labels("deliver").set(1)
        self.lanes = [SinkLane(load_sink(s), settings, self.metrics, s.outbox_max_age_seconds) for s in settings.sinks]
        self.stopping = asyncio.Event()
        self.started = False
        self.failed = False
        token = settings.http.auth_token
        self.server = HealthServer(self.metrics, self.readiness, settings.http.host, settings.http.port, self.status,
                                   token.get_secret_value() if token is not None else None, lambda: [])
        self.http_port: int | None = None

    def readiness(self) -> dict[str, bool]:
        return {"consuming": self.started, "models_loaded": True, "broker_reachable": self.started,
                "commits_advancing": True}

    def status(self) -> dict[str, Any]:
        return {"role": "deliver", "sinks": [lane.sink.name for lane in self.lanes],
                "open_incidents": {lane.sink.name: len(lane.grouper.groups) for lane in self.lanes}}

    def request_stop(self) -> None:
        self.stopping.set()

    def _lane_ended(self, task: asyncio.Task[None]) -> None:
        """A lane that raises stops the process (exit 1), so its alerts are read again by the next one."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("delivery lane failed", lane=task.get_name(), error=repr(task.exception()))
        self.failed = True
        self.stopping.set()

    async def run(self) -> int:
        self.http_port = await self.server.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            async def start_lanes() -> bool:
                for lane in self.lanes:
                    if lane.consumer is None:
                        await lane.start()
                return True

            if not await start_with_backoff(start_lanes, self.settings.kafka, "delivery consumers", self.stopping):
                return 0
            self.started = True
            tasks = [asyncio.create_task(lane.run(self.stopping), name=f"deliver-{lane.sink.name}") for lane in self.lanes]
            for task in tasks:
                task.add_done_callback(self._lane_ended)
            await self.stopping.wait()
            done, _ = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds / 2)
            return 1 if self.failed else 0
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError, Exception):
                    await task
            for lane in self.lanes:
                await lane.stop()
            await self.server.stop()
