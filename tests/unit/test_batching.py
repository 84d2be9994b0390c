"""Batching: nothing lost or repeated, limits respected, lengths grouped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from monitor.batching import BATCH_COST_TOKENS, POOL_BATCHES, Batcher
from monitor.settings import BatchSettings


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(st.tuples(st.sampled_from(["default", "zh"]), st.integers(1, 200), st.floats(0, 0.2)), max_size=300),
    max_size=st.integers(1, 40),
    max_tokens=st.integers(200, 4000),
)
def test_every_item_is_batched_once_within_limits(items, max_size, max_tokens) -> None:  # type: ignore[no-untyped-def]
    batcher: Batcher[int] = Batcher(BatchSettings(max_size=max_size, max_tokens=max_tokens, max_wait_ms=50))
    now = 0.0
    out = []
    for index, (route, tokens, step) in enumerate(items):
        now += step
        out += batcher.add(route, index, tokens, now)
        out += batcher.due(now)
    out += batcher.flush()
    seen = [i for b in out for i in b.items]
    assert sorted(seen) == list(range(len(items)))
    for batch in out:
        assert 1 <= len(batch.items) <= max_size
        assert len(batch.items) == 1 or batch.padded_tokens <= max_tokens
        assert {items[i][0] for i in batch.items} == {batch.route}
        assert batch.tokens == sorted(batch.tokens), "batches are length-sorted"


def test_a_lone_message_waits_at_most_max_wait() -> None:
    batcher: Batcher[str] = Batcher(BatchSettings(max_size=64, max_wait_ms=20))
    assert batcher.add("default", "a", 10, now=1.0) == []
    assert batcher.next_deadline() == 1.02
    assert batcher.due(1.01) == []
    [batch] = batcher.due(1.02)
    assert batch.items == ["a"]
    assert batcher.next_deadline() is None


def test_backlog_is_cut_into_similar_length_batches() -> None:
    batcher: Batcher[int] = Batcher(BatchSettings(max_size=4, max_tokens=100_000, max_wait_ms=1000))
    lengths = [100, 5] * (2 * POOL_BATCHES)  # a backlog of a whole sorting window, interleaved
    out = []
    for i, n in enumerate(lengths):
        out += batcher.add("default", i, n, 0.0)
    half = POOL_BATCHES // 2
    assert [sorted(lengths[i] for i in b.items) for b in out] == [[5] * 4] * half + [[100] * 4] * half


def test_cut_point_search_pads_about_as_little_as_a_full_search() -> None:
    lengths = sorted(((i * 37) % 250) + 6 for i in range(2000))
    batcher: Batcher[int] = Batcher(BatchSettings())

    def cost(ends: list[int]) -> int:
        return sum(BATCH_COST_TOKENS + lengths[e - 1] * (e - s) for s, e in zip([0] + ends, ends))

    sparse = cost(batcher._split(lengths))
    full = [0] + [float("inf")] * len(lengths)
    for end in range(1, len(lengths) + 1):
        fits = min(64, batcher.max_tokens // lengths[end - 1], end)
        full[end] = min(full[end - size] + BATCH_COST_TOKENS + size * lengths[end - 1] for size in range(1, fits + 1))
    assert full[-1] <= sparse <= 1.01 * full[-1]


def test_short_and_long_messages_go_in_separate_batches_when_padding_costs_more() -> None:
    batcher: Batcher[str] = Batcher(BatchSettings(max_size=64, max_wait_ms=10))
    for i in range(6):
        batcher.add("default", f"short{i}", 12, now=0.0)
    batcher.add("default", "long", 128, now=0.0)
    batches = batcher.due(1.0)
    assert [b.items for b in batches] == [[f"short{i}" for i in range(6)], ["long"]]
    # similar lengths stay together: splitting would cost more than it saves
    for i in range(6):
        batcher.add("default", f"m{i}", 20 + i, now=2.0)
    assert len(batcher.due(3.0)) == 1


def test_batches_put_back_come_out_unchanged_until_something_arrives() -> None:
    """Under a backlog each free worker takes one batch and the rest go back: they are not re-cut
    (a sort and a search over every pending length) unless new messages could change the cuts."""
    batcher: Batcher[int] = Batcher(BatchSettings(max_size=4, max_wait_ms=0))
    for i, tokens in enumerate([5, 40, 6, 41, 7, 42, 8, 43, 90]):
        batcher.add("default", i, tokens, now=1.0)
    first, *rest = batcher.due(1.0)
    for batch in rest:
        batcher.put_back(batch)
    again = batcher.due(1.0)
    assert [b.items for b in again] == [b.items for b in rest]
    assert [b.oldest for b in again] == [b.oldest for b in rest]
    for batch in again[1:]:
        batcher.put_back(batch)
    assert [b.items for b in again[1:]] == [[8]]  # the 90-token post
    batcher.add("default", 99, 44, now=1.5)  # a newcomer: the pending set is cut afresh, and both share a batch
    assert [sorted(b.items) for b in batcher.due(1.5)] == [[8, 99]]


def test_a_batch_put_back_keeps_its_age_and_rejoins_newcomers() -> None:
    batcher: Batcher[str] = Batcher(BatchSettings(max_size=64, max_wait_ms=20))
    batcher.add("default", "old", 10, now=1.0)
    batcher.add("default", "long", 120, now=1.01)
    short, long = batcher.due(1.05)
    assert short.oldest == 1.0 and long.oldest == 1.01
    batcher.put_back(long)  # no worker free for it
    batcher.add("default", "new", 118, now=1.2)
    assert batcher.next_deadline() == pytest.approx(1.03), "still due from when it first arrived"
    [batch] = batcher.due(1.2)
    assert sorted(batch.items) == ["long", "new"] and batch.oldest == 1.01
