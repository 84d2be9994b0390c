"""Starting a Kafka client while the broker may be away.

Every client the project starts (the consumer, the producers, the judge's and the delivery
tier's consumers, the feedback log) goes through ``start_with_backoff``: retried with exponential
backoff (``kafka.connect_backoff_initial_seconds`` doubling to ``..._max_seconds``) until it
connects or the process is told to stop. A broker that refuses our identity (a wrong password,
an untrusted certificate) is not away: ``check_access`` raises ``KafkaAccessError`` and start-up
fails with a message naming the settings, since no retry can fix it.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Awaitable, Callable, TypeVar

from aiokafka.errors import KafkaError

from monitor.kafka_config import check_access
from monitor.logs import get_logger
from monitor.settings import KafkaSettings

log = get_logger(__name__)
T = TypeVar("T")


async def start_with_backoff(start: Callable[[], Awaitable[T]], kafka: KafkaSettings, what: str,
                             stopping: asyncio.Event | None = None) -> T | None:
    """``await start()`` until it returns (its result), or ``stopping`` is set first (None).

    ``start`` must clean up what it opened before raising. ``KafkaError`` and ``OSError`` are taken
    for a broker that is away; ``KafkaAccessError`` from the access check is raised to the caller."""
    delay = kafka.connect_backoff_initial_seconds
    while stopping is None or not stopping.is_set():
        try:
            return await start()
        except (KafkaError, OSError) as exc:
            await check_access(kafka)
            log.warning("broker unavailable, retrying", client=what, error=repr(exc), retry_in_seconds=round(delay, 2))
            if stopping is None:
                await asyncio.sleep(delay)
            else:
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
            delay = min(delay * 2, kafka.connect_backoff_max_seconds)
    return None
