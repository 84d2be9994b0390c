"""The near-duplicate index decides as its definition says: a fingerprint is seen when one remembered
in the window shares a 16-bit band with it and lies within ``max_distance`` bits; only unseen ones
are remembered; the oldest are forgotten past the window (in arrival order) and past ``max_entries``."""

from __future__ import annotations

import random
from collections import deque

from hypothesis import given, settings, strategies as st

from monitor.trends.dedup import NearDuplicateIndex


class Reference:
    """The definition, one remembered fingerprint at a time."""

    def __init__(self, window: float, distance: int, entries: int) -> None:
        self.window, self.distance, self.entries = window, distance, entries
        self.order: deque[tuple[float, int]] = deque()

    def seen(self, fp: int, t: float) -> bool:
        while self.order and self.order[0][0] < t - self.window:
            self.order.popleft()
        bands = [fp >> (16 * b) & 0xFFFF for b in range(4)]
        for _, other in self.order:
            if any(other >> (16 * b) & 0xFFFF == bands[b] for b in range(4)) and (fp ^ other).bit_count() <= self.distance:
                return True
        self.order.append((t, fp))
        while len(self.order) > self.entries:
            self.order.popleft()
        return False


def _near(rng: random.Random, fp: int, bits: int) -> int:
    for bit in rng.sample(range(64), bits):
        fp ^= 1 << bit
    return fp


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0, 1, 3, 5]), st.sampled_from([5, 50, 10_000]))
def test_the_index_decides_as_its_definition_on_streams_of_copies(seed: int, distance: int, entries: int) -> None:
    rng = random.Random(seed)
    index, reference = NearDuplicateIndex(30.0, distance, entries), Reference(30.0, distance, entries)
    stories = [rng.getrandbits(64) for _ in range(8)]
    t = 0.0
    for _ in range(400):
        t += rng.choice((0.0, 0.5, 2.0, -1.0))  # event times a little out of order too
        fp = _near(rng, rng.choice(stories), rng.choice((0, 1, 2, 3, 4, 6, 20)))
        assert index.seen_fingerprint(fp, t) == reference.seen(fp, t)
        assert len(index) == len(reference.order)
    assert index.band_entries() == 4 * len(index)


def test_a_restored_index_decides_as_the_one_it_was_restored_from() -> None:
    rng = random.Random(3)
    stories = [rng.getrandbits(64) for _ in range(5)]
    first = NearDuplicateIndex(60.0)
    remembered = [(float(i), fp) for i, fp in enumerate(_near(rng, rng.choice(stories), 5) for _ in range(50))
                  if not first.seen_fingerprint(fp, float(i))]
    second = NearDuplicateIndex(60.0)
    for t, fp in remembered:
        second.remember(fp, t)
    probes = [(_near(rng, rng.choice(stories), rng.choice((1, 3, 5, 9))), 50.0 + i) for i in range(100)]
    assert [first.seen_fingerprint(fp, t) for fp, t in probes] == [second.seen_fingerprint(fp, t) for fp, t in probes]
