"""Near-duplicate detection inside a time window, so syndicated copies of a story count once.

SimHash fingerprints split into four 16-bit bands: two texts within 3 bits of each other
share at least one band exactly, so candidates are found by band lookup, not a scan.
The index forgets by event time and, whatever the event times, beyond ``max_entries`` (a
producer that stamps every message with one time would otherwise grow it without end).

The judge tier looks up every enriched record here, and with a window of many thousand fingerprints
the lookup's cost is memory it touches, not arithmetic: each band is a flat table of 65,536 slots
indexed by the band's bits (no hashing, no key objects to compare), and the lookup is written out
band by band, each band's list fetched once for both the scan and the insert.
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
        # slot k of band b: the fingerprints whose bits 16b..16b+15 are k, oldest first (None, never empty)
        self._bands: list[list[list[int] | None]] = [[None] * 65536 for _ in range(4)]
        self._order: deque[tuple[float, int]] = deque()

    def seen(self, text: str, event_time: float) -> bool:
        """True when a near-identical text was seen in the window; otherwise remember this one."""
        return self.seen_fingerprint(simhash(text), event_time)

    def seen_fingerprint(self, fp: int, event_time: float) -> bool:
        """``seen`` for a text's ``simhash`` fingerprint, computed beforehand (a batch at a time)."""
        order = self._order
        if order and order[0][0] < event_time - self.window_seconds:
            self._expire(event_time)
        b0, b1, b2, b3 = self._bands
        k0, k1, k2, k3 = fp & 0xFFFF, fp >> 16 & 0xFFFF, fp >> 32 & 0xFFFF, fp >> 48 & 0xFFFF
        c0, c1, c2, c3 = b0[k0], b1[k1], b2[k2], b3[k3]
        limit = self.max_distance
        for candidates in (c0, c1, c2, c3):
            if candidates is not None:
                for other in candidates:
                    if (fp ^ other).bit_count() <= limit:
                        return True
        if c0 is None:
            b0[k0] = [fp]
        else:
            c0.append(fp)
        if c1 is None:
            b1[k1] = [fp]
        else:
            c1.append(fp)
        if c2 is None:
            b2[k2] = [fp]
        else:
            c2.append(fp)
        if c3 is None:
            b3[k3] = [fp]
        else:
            c3.append(fp)
        order.append((event_time, fp))
        if len(order) > self.max_entries:
            while len(order) > self.max_entries:
                self._forget()
        return False

    def remember(self, fp: int, event_time: float) -> None:
        """Add a fingerprint without looking it up (restoring what another process remembered)."""
        for band, table in enumerate(self._bands):
            key = fp >> (16 * band) & 0xFFFF
            bucket = table[key]
            if bucket is None:
                table[key] = [fp]
            else:
                bucket.append(fp)
        self._order.append((event_time, fp))
        while len(self._order) > self.max_entries:
            self._forget()

    def __len__(self) -> int:
        return len(self._order)

    def band_entries(self) -> int:
        """Fingerprints held in the band tables: four for each one remembered, or the index leaks."""
        return sum(len(bucket) for table in self._bands for bucket in table if bucket is not None)

    def _expire(self, now: float) -> None:
        order, horizon, forget = self._order, now - self.window_seconds, self._forget
        while order and order[0][0] < horizon:
            forget()

    def _forget(self) -> None:
        """Drop the oldest remembered fingerprint (the first of each of its band lists, as a rule)."""
        _, fp = self._order.popleft()
        for table, key in zip(self._bands, (fp & 0xFFFF, fp >> 16 & 0xFFFF, fp >> 32 & 0xFFFF, fp >> 48 & 0xFFFF)):
            bucket = table[key]
            if bucket:
                if bucket[0] == fp:
                    del bucket[0]
                else:
                    bucket.remove(fp)
                if not bucket:
                    table[key] = None
