"""Which offsets are safe to commit: the lowest offset still in flight, per partition.

Work completes out of order (a dead letter is done before the batch of messages fetched
with it), so a partition's committable offset is the smallest offset not yet done, or one
past the highest seen when nothing is in flight. Pure bookkeeping, no I/O.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(slots=True)
class _PartitionState:
    pending: list[int] = field(default_factory=list)  # min-heap of offsets in flight
    done: set[int] = field(default_factory=set)  # completed but still inside the heap
    next_offset: int | None = None  # one past the highest offset seen
    committed: int | None = None


class OffsetTracker:
    """Tracks in-flight offsets per (topic, partition) and says what can be committed."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], _PartitionState] = {}
        self._in_flight = 0
        self.completed = 0  # messages done since start-up (the in-flight limit measures the rate from it)

    @property
    def in_flight(self) -> int:
        """Messages started and not yet done, over all partitions."""
        return self._in_flight

    def started(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset`` was fetched and its work begins."""
        state = self._parts.setdefault((topic, partition), _PartitionState())
        heapq.heappush(state.pending, offset)
        state.next_offset = max(state.next_offset or 0, offset + 1)
        self._in_flight += 1

    def done(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset``'s effects are complete. Unknown partitions (revoked) are ignored."""
        state = self._parts.get((topic, partition))
        if state is None or offset in state.done:
            return
        state.done.add(offset)
        self._in_flight -= 1
        self.completed += 1
        while state.pending and state.pending[0] in state.done:
            state.done.discard(heapq.heappop(state.pending))

    def committed_for(self, topic: str, partition: int) -> int | None:
        """The offset last committed for a partition by this process (None: nothing yet)."""
        state = self._parts.get((topic, partition))
        return None if state is None else state.committed

    def in_flight_for(self, topic: str, partition: int) -> int:
        """Messages in flight for one partition."""
        state = self._parts.get((topic, partition))
        return 0 if state is None else len(state.pending) - len(state.done)

    def committable(self) -> dict[tuple[str, int], int]:
        """Offsets to commit now: only partitions whose committable offset moved since the last commit."""
        out: dict[tuple[str, int], int] = {}
        for key, state in self._parts.items():
            offset = state.pending[0] if state.pending else state.next_offset
            if offset is not None and offset != state.committed:
                out[key] = offset
        return out

    def mark_committed(self, offsets: dict[tuple[str, int], int]) -> None:
        """Remember what the broker accepted."""
        for key, offset in offsets.items():
            if key in self._parts:
                self._parts[key].committed = offset

    def forget(self, partitions: list[tuple[str, int]]) -> None:
        """Drop revoked partitions; their in-flight work will not be committed by us."""
        for key in partitions:
            state = self._parts.pop(key, None)
            if state is not None:
                self._in_flight -= len(state.pending) - len(state.done)
