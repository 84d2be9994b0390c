"""Where alerts go: the Sink protocol, plugin discovery, and per-sink delivery queues.

Sinks are plugins: entry points in the group ``monitor.sinks`` (first-party ones live in
``plugins/`` and register the same way) or a ``module:Class`` path in settings. Each is
validated when loaded, with an error naming the sink. Every sink gets its own bounded
queue and worker task, so one slow sink does not hold up another.
"""

from __future__ import annotations

import asyncio
import importlib
from contextlib import suppress
from importlib.metadata import entry_points
from typing import Any, Protocol, Sequence, runtime_checkable

from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.records import Alert
from monitor.settings import SinkSettings

ENTRY_POINT_GROUP = "monitor.sinks"
log = get_logger(__name__)


@runtime_checkable
class Sink(Protocol):
    """An alert destination. ``send`` raises to report a failed delivery."""

    name: str

    async def start(self) -> None:
        """Open connections; called once before the first ``send``."""
        ...

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver alerts (firing and resolved); retry inside if the transport allows."""
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


class SinkDispatcher:
    """Fans alerts out to every sink through its own bounded queue and worker."""

    def __init__(self, sinks: list[Sink], metrics: Metrics, queue_size: int = 1000) -> None:
        self.sinks = sinks
        self.metrics = metrics
        self._queues = {s.name: asyncio.Queue[list[Alert]](maxsize=queue_size) for s in sinks}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every sink and its worker."""
        assert not self._tasks, "SinkDispatcher.start() called twice"
        for sink in self.sinks:
            await sink.start()
            self._tasks.append(asyncio.create_task(self._worker(sink), name=f"sink-{sink.name}"))

    async def dispatch(self, alerts: list[Alert]) -> None:
        """Hand alerts to every sink's queue (waits only if a queue is full)."""
        if not alerts:
            return
        for sink in self.sinks:
            queue = self._queues[sink.name]
            await queue.put(alerts)
            self.metrics.sink_queue.labels(sink.name).set(queue.qsize())

    async def _worker(self, sink: Sink) -> None:
        queue = self._queues[sink.name]
        while True:
            alerts = await queue.get()
            try:
                await sink.send(alerts)
                outcome = "delivered"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a plugin's failure must not kill the daemon
                outcome = "failed"
                self.metrics.sink_failures.labels(sink.name).inc()
                log.error("sink delivery failed", sink=sink.name, alerts=len(alerts), error=repr(exc))
            for alert in alerts:
                self.metrics.sink_deliveries.labels(sink.name, alert.rule, outcome).inc()
            queue.task_done()
            self.metrics.sink_queue.labels(sink.name).set(queue.qsize())

    async def drain(self, timeout: float) -> None:
        """Wait until queued alerts are handled, up to ``timeout`` seconds."""
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues.values())), timeout)

    async def stop(self) -> None:
        """Cancel workers and stop sinks; idempotent."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for sink in self.sinks:
            try:
                await sink.stop()
            except Exception as exc:
                log.warning("sink stop failed", sink=sink.name, error=repr(exc))
