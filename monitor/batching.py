"""Dynamic batching: close a batch at a size, a padded-token budget, or a maximum wait.

Messages are grouped by model route (language). When a backlog builds up, pending
messages are sorted by length before cutting batches so similar lengths share a batch
and little compute is spent on padding. Pure logic; the daemon drives it with a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from monitor.settings import BatchSettings

T = TypeVar("T")


def estimate_tokens(text: str, limit: int = 512) -> int:
    """A cheap pre-tokenisation length estimate: CJK characters ~1 token, other text ~4 chars a token."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    return min(limit, 2 + cjk + (len(text) - cjk) // 4 + 1)


@dataclass(slots=True)
class Batch(Generic[T]):
    """Items for one route, sorted by estimated length."""

    route: str
    items: list[T]
    tokens: list[int]

    @property
    def padded_tokens(self) -> int:
        """The token cost of the batch once padded to its longest item."""
        return max(self.tokens) * len(self.tokens) if self.tokens else 0


@dataclass(slots=True)
class _Pending(Generic[T]):
    items: list[T] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    first_at: float = 0.0


class Batcher(Generic[T]):
    """Accumulates items per route and cuts batches by size, token budget and wait."""

    def __init__(self, settings: BatchSettings) -> None:
        self.max_size = settings.max_size
        self.max_tokens = settings.max_tokens
        self.max_wait = settings.max_wait_ms / 1000.0
        # under a backlog, sort this many batches' worth of messages by length before cutting:
        # similar lengths share a batch and little compute goes to padding
        self.pool_batches = 8
        self._pending: dict[str, _Pending[T]] = {}

    def __len__(self) -> int:
        return sum(len(p.items) for p in self._pending.values())

    def add(self, route: str, item: T, tokens: int, now: float) -> list[Batch[T]]:
        """Add one item; return the batches that are full now."""
        pending = self._pending.setdefault(route, _Pending())
        if not pending.items:
            pending.first_at = now
        pending.items.append(item)
        pending.tokens.append(tokens)
        if len(pending.items) >= self.max_size * self.pool_batches or self._over_budget(pending):
            return self._cut(route, keep_partial=True)
        return []

    def due(self, now: float) -> list[Batch[T]]:
        """Batches whose oldest item has waited ``max_wait``."""
        out: list[Batch[T]] = []
        for route, pending in list(self._pending.items()):
            if pending.items and now - pending.first_at >= self.max_wait:
                out.extend(self._cut(route, keep_partial=False))
        return out

    def next_deadline(self) -> float | None:
        """When the oldest pending item's wait expires, or None when nothing is pending."""
        starts = [p.first_at for p in self._pending.values() if p.items]
        return min(starts) + self.max_wait if starts else None

    def flush(self) -> list[Batch[T]]:
        """Every pending item, in batches (used when draining)."""
        out: list[Batch[T]] = []
        for route in list(self._pending):
            out.extend(self._cut(route, keep_partial=False))
        return out

    def _over_budget(self, pending: _Pending[T]) -> bool:
        return max(pending.tokens) * len(pending.tokens) >= self.max_tokens * self.pool_batches

    def _cut(self, route: str, keep_partial: bool) -> list[Batch[T]]:
        pending = self._pending.pop(route)
        order = sorted(range(len(pending.items)), key=pending.tokens.__getitem__)
        batches: list[Batch[T]] = []
        current: list[int] = []
        for index in order:
            longest = pending.tokens[index]  # sorted ascending: the newcomer is the longest
            if current and (len(current) >= self.max_size or longest * (len(current) + 1) > self.max_tokens):
                batches.append(self._batch(route, pending, current))
                current = []
            current.append(index)
        if current:
            if keep_partial and batches and len(current) < self.max_size:
                rest = _Pending[T]([pending.items[i] for i in current], [pending.tokens[i] for i in current], pending.first_at)
                self._pending[route] = rest
            else:
                batches.append(self._batch(route, pending, current))
        return batches

    @staticmethod
    def _batch(route: str, pending: _Pending[T], indices: list[int]) -> Batch[T]:
        return Batch(route, [pending.items[i] for i in indices], [pending.tokens[i] for i in indices])
