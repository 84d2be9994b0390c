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
    pending: list[int] = field(default_factory=list)  # min-heap of offsets started (done ones popped lazily)
    open: set[int] = field(default_factory=set)  # offsets started and not yet done
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
        state.next_offset = max(state.next_offset or 0, offset + 1)
        if offset in state.open:
            return  # fetched again while its first copy is in flight: one completion will count
        heapq.heappush(state.pending, offset)
        state.open.add(offset)
        self._in_flight += 1

    def done(self, topic: str, partition: int, offset: int) -> bool:
        """Record that ``offset``'s effects are complete; False (and nothing changes) unless it is in
        flight here now. A message fetched before its partition was revoked may finish after the
        partition came back to this process, re-read from the last commit: its completion must not
        count for the re-read copy, or the commit would pass that copy while it is still in flight."""
        state = self._parts.get((topic, partition))
        if state is None or offset not in state.open:
            return False
        state.open.discard(offset)
        self._in_flight -= 1
        self.completed += 1
        while state.pending and state.pending[0] not in state.open:
            heapq.heappop(state.pending)
        return True

    def committed_for(self, topic: str, partition: int) -> int | None:
        """The offset last committed for a partition by this process (None: nothing yet)."""
        state = self._parts.get((topic, partition))
        return None if state is None else state.committed

    def in_flight_for(self, topic: str, partition: int) -> int:
        """Messages in flight for one partition."""
        state = self._parts.get((topic, partition))
        return 0 if state is None else len(state.open)

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
                self._in_flight -= len(state.open)
