"""A producer that stops answering must not hold a stage for ever: its sends are answered
NoAcknowledgement after the acknowledgement timeout, and retried on a renewed producer.

(Seen once on a real broker: after two refusals renewed the producer at once, a dead letter's
stand-in was never acknowledged, and the dead-letter stage waited until the process was stopped.)"""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.emit import Emitter
from monitor.metrics import Metrics
from monitor.settings import Settings


class Healthy:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any) -> asyncio.Future[str]:
        self.sent.append(value)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        done.set_result("acknowledged")
        return done


class Silent(Healthy):
    """Takes every record and never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.futures: list[asyncio.Future[str]] = []
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any) -> asyncio.Future[str]:
        self.futures.append(asyncio.get_running_loop().create_future())
        return self.futures[-1]


class Stuck(Silent):
    """Does not even take the record."""

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any) -> asyncio.Future[str]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def emitter(first: Healthy, then: Healthy) -> Emitter:
    e = Emitter(Settings().kafka, Metrics())
    e.producer = first  # type: ignore[assignment]
    e._new_producer = lambda: then  # type: ignore[method-assign,assignment,return-value]
    e.ack_timeout = 0.2
    return e


async def test_unanswered_sends_are_retried_on_a_renewed_producer() -> None:
    silent, healthy = Silent(), Healthy()
    e = emitter(silent, healthy)
    records = [("out", b"k", b"one", []), ("out", b"k", b"two", [])]
    assert await e.publish(records) == [], "unanswered is retriable, not refused"
    assert healthy.sent == [b"one", b"two"] and e.producer is healthy
    assert silent.stopped and all(f.cancelled() for f in silent.futures)


async def test_a_send_that_is_never_taken_is_retried_on_a_renewed_producer() -> None:
    stuck, healthy = Stuck(), Healthy()
    e = emitter(stuck, healthy)
    assert await e.publish([("dlq", b"k", b"stand-in", [])]) == []
    assert healthy.sent == [b"stand-in"] and e.producer is healthy and stuck.stopped
