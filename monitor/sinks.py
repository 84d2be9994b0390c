"""Where alerts go: the Sink protocol, plugin discovery, and per-sink delivery through an outbox.

Sinks are plugins: entry points in the group ``monitor.sinks`` (first-party ones live in
``plugins/`` and register the same way) or a ``module:Class`` path in settings. Each is
validated when loaded, with an error naming the sink. Every sink has its own durable
outbox and worker: handing alerts to a sink writes them to its outbox, so a slow or failing
sink never blocks the pipeline or the other sinks, and nothing is lost across restarts.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from contextlib import suppress
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.outbox import Outbox
from monitor.records import Alert
from monitor.settings import SinkSettings

ENTRY_POINT_GROUP = "monitor.sinks"
log = get_logger(__name__)


@runtime_checkable
class Sink(Protocol):
    """An alert destination. ``send`` raises to report a failed delivery (it will be retried)."""

    name: str

    async def start(self) -> None:
        """Open connections; called once before the first ``send``."""
        ...

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver alerts (firing and resolved); may retry inside; raise when delivery failed."""
        ...

    async def stop(self) -> None:
        """Release resources; must be safe to call more than once."""
        ...


class BaseSink:
    """Optional base with no-op lifecycle methods; subclasses implement ``send``."""

    def __init__(self, name: str, **options: Any) -> None:
        if options:
            raise SinkConfigError(f"sink '{name}': unknown options {sorted(options)}")
        self.name = name

    async def start(self) -> None:
        """Nothing to open by default."""

    async def send(self, alerts: Sequence[Alert]) -> None:  # pragma: no cover - interface
        """Deliver alerts."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Nothing to close by default."""


class SinkConfigError(Exception):
    """A sink could not be found or rejected its options; the message names the sink."""


def load_sink(settings: SinkSettings) -> Sink:
    """Instantiate a sink from an entry-point name or a ``module:Class`` path, validating it now."""
    factory = _find_factory(settings)
    try:
        sink = factory(name=settings.name, **settings.plain_options())
    except SinkConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise SinkConfigError(f"sink '{settings.name}' (type {settings.type}): bad options: {exc}") from exc
    if not isinstance(sink, Sink):
        raise SinkConfigError(f"sink '{settings.name}': {settings.type} does not implement start/send/stop")
    return sink


def _find_factory(settings: SinkSettings) -> Any:
    if ":" in settings.type:
        module_name, _, attr = settings.type.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise SinkConfigError(f"sink '{settings.name}': cannot import {settings.type}: {exc}") from exc
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == settings.type]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        raise SinkConfigError(f"sink '{settings.name}': no sink type {settings.type!r}; installed: {known}")
    try:
        return found[0].load()
    except ImportError as exc:
        raise SinkConfigError(f"sink '{settings.name}': plugin {settings.type!r} failed to import: {exc}") from exc


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    """How many entries, and how old, a sink's outbox keeps before it discards the oldest."""

    max_entries: int = 1000
    max_age_seconds: float = 86400.0


class _Lane:
    """One sink's outbox, wake-up queue and worker."""

    def __init__(self, sink: Sink, outbox: Outbox, size: int, limits: OutboxLimits) -> None:
        self.sink = sink
        self.outbox = outbox
        self.limits = limits
        self.wake: asyncio.Queue[None] = asyncio.Queue(maxsize=size)
        self.idle = asyncio.Event()
        self.idle.set()
        self.backing_off = False


class SinkDispatcher:
    """Fans alerts out to every sink through its own outbox and worker."""

    def __init__(self, sinks: list[Sink], metrics: Metrics, outbox_dir: Path, retry_seconds: float = 15.0,
                 limits: list[OutboxLimits] | None = None) -> None:
        self.sinks = sinks
        self.metrics = metrics
        self.retry_seconds = retry_seconds
        limits = limits or [OutboxLimits() for _ in sinks]
        self._lanes = [_Lane(s, Outbox(outbox_dir / s.name), 16, lim) for s, lim in zip(sinks, limits, strict=True)]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every sink and its worker; entries left from a previous run are retried first."""
        assert not self._tasks, "SinkDispatcher.start() called twice"
        for lane in self._lanes:
            await lane.sink.start()
            self._tasks.append(asyncio.create_task(self._worker(lane), name=f"sink-{lane.sink.name}"))
            self._wake(lane)

    async def dispatch(self, alerts: list[Alert]) -> None:
        """Hand alerts to every sink: durable once this returns; never waits on a sink."""
        if not alerts:
            return
        for lane in self._lanes:
            lane.outbox.put(alerts)
            self._discard_overdue(lane)
            if not lane.backing_off:  # a sink in backoff picks new entries up on its next retry
                lane.idle.clear()
                self._wake(lane)
            self.metrics.sink_queue.labels(lane.sink.name).set(len(lane.outbox.pending()))

    @staticmethod
    def _wake(lane: _Lane) -> None:
        with suppress(asyncio.QueueFull):
            lane.wake.put_nowait(None)

    async def _worker(self, lane: _Lane) -> None:
        while True:
            delivered_all = await self._deliver_pending(lane)
            while not lane.wake.empty():
                lane.wake.get_nowait()
            lane.backing_off = not delivered_all
            lane.idle.set()
            if delivered_all:
                await lane.wake.get()
            else:
                await asyncio.sleep(self.retry_seconds)  # the receiver is down: retry later, not per alert
                lane.backing_off = False

    def _discard_overdue(self, lane: _Lane) -> None:
        """Drop what is past the outbox's limits: counted per rule and logged, never silently."""
        name = lane.sink.name
        for reason, paths in lane.outbox.overdue(lane.limits.max_entries, lane.limits.max_age_seconds).items():
            for path in paths:
                try:
                    alerts = lane.outbox.read(path)
                except (OSError, ValueError, KeyError, TypeError):
                    alerts = []  # unreadable: still removed, so it cannot block the outbox
                lane.outbox.done(path)
                for alert in alerts:
                    self.metrics.sink_discarded.labels(name, reason).inc()
                log.warning("sink outbox entry discarded", sink=name, reason=reason, alerts=len(alerts),
                            rules=sorted({a.rule for a in alerts}), max_entries=lane.limits.max_entries,
                            max_age_seconds=lane.limits.max_age_seconds)

    async def _deliver_pending(self, lane: _Lane) -> bool:
        name = lane.sink.name
        self._discard_overdue(lane)
        for path in lane.outbox.pending():
            alerts = lane.outbox.read(path)
            try:
                await lane.sink.send(alerts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a plugin's failure must not kill the daemon
                self.metrics.sink_failures.labels(name).inc()
                for alert in alerts:
                    self.metrics.sink_deliveries.labels(name, alert.rule, "failed").inc()
                log.error("sink delivery failed; kept in outbox", sink=name, alerts=len(alerts), error=repr(exc),
                          retry_in_seconds=self.retry_seconds)
                return False
            lane.outbox.done(path)
            for alert in alerts:
                self.metrics.sink_deliveries.labels(name, alert.rule, "delivered").inc()
            self.metrics.sink_queue.labels(name).set(len(lane.outbox.pending()))
        return True

    async def drain(self, timeout: float) -> None:
        """Wait until every sink has delivered what it holds (or is backing off), up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for lane in self._lanes:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(lane.idle.wait(), max(0.0, deadline - time.monotonic()))

    async def stop(self) -> None:
        """Cancel workers and stop sinks; idempotent. Undelivered alerts stay in the outboxes."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for lane in self._lanes:
            try:
                await lane.sink.stop()
            except Exception as exc:
                log.warning("sink stop failed", sink=lane.sink.name, error=repr(exc))
