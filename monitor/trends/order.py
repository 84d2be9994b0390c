"""Event times reach the watermark in each partition's offset order.

Batching reorders messages (length-sorted batches, several workers finishing out of turn).
Counting a message into its bucket may happen in any order, but its event time may move the
watermark only once every earlier message of its partition has been trended: otherwise the
shortest messages of a backlog would carry the watermark to the backlog's end and close the
buckets the rest belong to. Pure bookkeeping, no I/O.
"""

from __future__ import annotations

from collections import deque

Key = tuple[str, int]


class ReleaseOrder:
    """Per partition: offsets fetched but not yet trended, and trended ones waiting for them."""

    def __init__(self) -> None:
        self._waiting: dict[Key, deque[int]] = {}  # fetched, in fetch order
        self._trended: dict[Key, dict[int, float]] = {}  # offset -> event time, not yet released

    def fetched(self, key: Key, offset: int) -> None:
        """A message that will be trended was fetched (dead letters never are, so never wait)."""
        waiting = self._waiting.setdefault(key, deque())
        if waiting and offset <= waiting[-1]:
            # the partition was re-read from an earlier offset (a rebalance, a restart): start over
            waiting.clear()
            self._trended.pop(key, None)
        waiting.append(offset)

    def trended(self, key: Key, offset: int, event_time: float) -> None:
        """A message was counted (or skipped as already counted)."""
        self._trended.setdefault(key, {})[offset] = event_time

    def release(self) -> list[tuple[Key, float]]:
        """Per partition, the newest event time whose earlier messages are all trended now."""
        out: list[tuple[Key, float]] = []
        for key, trended in self._trended.items():
            waiting = self._waiting.get(key)
            newest: float | None = None
            while waiting and waiting[0] in trended:
                t = trended.pop(waiting.popleft())
                newest = t if newest is None else max(newest, t)
            if newest is not None:
                out.append((key, newest))
        return out
