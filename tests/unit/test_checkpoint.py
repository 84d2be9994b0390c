"""The trend checkpoint: a faithful round trip, and which redelivered offsets it says to skip."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from monitor.checkpoint import AppliedOffsets, CheckpointError, CheckpointFile
from monitor.records import Enriched
from monitor.trends import TrendConfig, TrendStore
from tests.unit.test_alerts import enriched


def test_applied_offsets_cover_the_committed_floor_and_the_work_beyond_it() -> None:
    applied = AppliedOffsets()
    for offset in (10, 11, 12, 15):
        applied.add("news", 0, offset)
    applied.advance({("news", 0): 12})
    assert [o for o in range(9, 17) if applied.contains("news", 0, o)] == [9, 10, 11, 12, 15]
    restored = AppliedOffsets.from_state(applied.to_state())
    assert [o for o in range(9, 17) if restored.contains("news", 0, o)] == [9, 10, 11, 12, 15]
    assert not restored.contains("news", 1, 0)


def test_trend_state_round_trips_through_the_file(tmp_path: Path) -> None:
    store = TrendStore(TrendConfig(bucket_seconds=10, allowed_lateness_seconds=0))
    for i in range(50):
        store.add(enriched(i, i * 1.0, "business" if i % 2 else "tech", "negative" if i % 3 else "neutral"))
    store.close(store.index(20))
    file = CheckpointFile(tmp_path, "group")
    file.save({"trends": store.to_state(), "alerts": {}, "applied": {}})
    copy = TrendStore(TrendConfig(bucket_seconds=10, allowed_lateness_seconds=0))
    copy.restore(file.load()["trends"])  # type: ignore[index]
    assert copy.to_state() == store.to_state()
    assert copy.window("tech", 30, 4) == store.window("tech", 30, 4)


# English and Chinese texts with near-duplicate copies (case, attribution, punctuation) and a mention and URL
MIXED_TEXTS = ["Bank shares slide on fraud probe", "BANK SHARES SLIDE ON FRAUD PROBE - Reuters", "央行宣布降准",
               "Cup final goes to penalties @fan http://x.co/1", "央行宣布降准。"]


def mixed_records(n: int = 40) -> list[Enriched]:
    """Records cycling through ``MIXED_TEXTS`` over two topics and two sentiments, 3 s apart."""
    return [enriched(i, i * 3.0, "business" if i % 2 else "tech", "negative" if i % 3 else "neutral",
                     text=MIXED_TEXTS[i % len(MIXED_TEXTS)]) for i in range(n)]


def test_a_batch_adds_exactly_what_one_record_at_a_time_adds() -> None:
    records = mixed_records()
    one, batched = (TrendStore(TrendConfig(bucket_seconds=10, allowed_lateness_seconds=0)) for _ in range(2))
    singles = [one.add(r) for r in records]
    batches = [result for start in range(0, len(records), 7) for result in batched.add_batch(records[start : start + 7])]
    assert batches == singles
    assert sum(r.duplicate for r in singles) > 0  # the copies were folded
    assert batched.to_state() == one.to_state()


def test_text_features_computed_ahead_count_as_those_computed_in_the_batch() -> None:
    # the daemon computes them in its tokeniser thread, in chunks that are not its batches
    records = mixed_records()
    inline, ahead = (TrendStore(TrendConfig(bucket_seconds=10, allowed_lateness_seconds=0)) for _ in range(2))
    features = [f for start in range(0, len(records), 11)
                for f in ahead.text_features([r.message.text for r in records[start : start + 11]])]
    expected = [result for start in range(0, len(records), 7) for result in inline.add_batch(records[start : start + 7])]
    got = [result for start in range(0, len(records), 7)
           for result in ahead.add_batch(records[start : start + 7], features=features[start : start + 7])]
    assert got == expected
    assert sum(r.duplicate for r in got) > 0
    assert ahead.to_state() == inline.to_state()
    off = TrendStore(TrendConfig(bucket_seconds=10, dedup_window_seconds=0))
    assert all(fp is None for _, fp in off.text_features(MIXED_TEXTS))  # no folding, no fingerprints to pay for


def test_an_unreadable_checkpoint_stops_start_up_with_its_path(tmp_path: Path) -> None:
    file = CheckpointFile(tmp_path, "group")
    file.path.write_bytes(gzip.compress(b"{truncated"))
    with pytest.raises(CheckpointError, match=str(file.path)):
        file.load()
    assert CheckpointFile(tmp_path, "other").load() is None
