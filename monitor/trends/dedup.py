"""Near-duplicate detection inside a time window, so syndicated copies of a story count once.

SimHash fingerprints split into four 16-bit bands: two texts within 3 bits of each other
share at least one band exactly, so candidates are found by band lookup, not a scan.
The index forgets by event time and, whatever the event times, beyond ``max_entries`` (a
producer that stamps every message with one time would otherwise grow it without end).
"""

from __future__ import annotations

from collections import deque

from monitor.trends.text import simhash


class NearDuplicateIndex:
    """Remembers fingerprints seen in the last ``window_seconds`` of event time."""

    def __init__(self, window_seconds: float = 3600.0, max_distance: int = 3, max_entries: int = 200_000) -> None:
        self.window_seconds = window_seconds
        self.max_distance = max_distance
        self.max_entries = max_entries
        self._bands: list[dict[int, list[int]]] = [{} for _ in range(4)]
        self._order: deque[tuple[float, int]] = deque()

    def seen(self, text: str, event_time: float) -> bool:
        """True when a near-identical text was seen in the window; otherwise remember this one."""
        return self.seen_fingerprint(simhash(text), event_time)

    def seen_fingerprint(self, fp: int, event_time: float) -> bool:
        """``seen`` for a text's ``simhash`` fingerprint, computed beforehand (a batch at a time)."""
        order = self._order
        if order and order[0][0] < event_time - self.window_seconds:
            self._expire(event_time)
        keys = (fp & 0xFFFF, fp >> 16 & 0xFFFF, fp >> 32 & 0xFFFF, fp >> 48 & 0xFFFF)
        bands = self._bands
        limit = self.max_distance
        for table, key in zip(bands, keys):
            candidates = table.get(key)
            if candidates:
                for other in candidates:
                    if (fp ^ other).bit_count() <= limit:
                        return True
        for table, key in zip(bands, keys):
            bucket = table.get(key)
            if bucket is None:
                table[key] = [fp]
            else:
                bucket.append(fp)
        order.append((event_time, fp))
        if len(order) > self.max_entries:
            while len(order) > self.max_entries:
                self._forget()
        return False

    def remember(self, fp: int, event_time: float) -> None:
        """Add a fingerprint without looking it up (restoring what another process remembered)."""
        for band, table in enumerate(self._bands):
            table.setdefault(fp >> (16 * band) & 0xFFFF, []).append(fp)
        self._order.append((event_time, fp))
        while len(self._order) > self.max_entries:
            self._forget()

    def __len__(self) -> int:
        return len(self._order)

    def _expire(self, now: float) -> None:
        while self._order and self._order[0][0] < now - self.window_seconds:
            self._forget()

    def _forget(self) -> None:
        """Drop the oldest remembered fingerprint."""
        _, fp = self._order.popleft()
        for band, table in enumerate(self._bands):
            key = fp >> (16 * band) & 0xFFFF
            bucket = table.get(key)
            if bucket:
                bucket.remove(fp)
                if not bucket:
                    del table[key]
