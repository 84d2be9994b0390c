"""The trend store under hostile event times: bounded work for any gap, nothing non-finite persisted."""

from __future__ import annotations

import json
import math

from hypothesis import given, strategies as st

from monitor.alerts import AlertEngine, build_rule
from monitor.decode import Decoder
from monitor.records import Message, RawRecord, SourcePosition
from monitor.settings import InputSettings, RuleSettings
from monitor.trends import TrendConfig, TrendStore
from tests.unit.test_alerts import enriched

NOW = 1_700_000_000.0


def store() -> TrendStore:
    return TrendStore(TrendConfig(bucket_seconds=60, allowed_lateness_seconds=0, retention_seconds=3600,
                                  dedup_window_seconds=600))


def test_a_gap_of_decades_closes_in_bounded_steps() -> None:
    """One record at 1970 and one now: the buckets between are not closed one by one."""
    s = store()
    s.add(enriched(0, 1.0, "markets", "negative"))
    s.add(enriched(1, NOW, "markets", "negative"))
    engine = AlertEngine([build_rule(RuleSettings(name="neg", threshold=0.5, min_volume=1, window_seconds=60))])
    engine.advance(s, {})
    # the non-empty 1970 bucket plus the last hour of empty ones; 28 million buckets lie between
    assert engine.stats.closed_buckets <= 2 + 60
    assert s.last_closed == s.index(NOW) - 1
    assert s.baselines["markets"].to_state()  # the old bucket was learned, not dropped


def test_event_times_no_calendar_holds_are_refused_and_leave_the_watermark() -> None:
    s = store()
    s.add(enriched(0, NOW, "markets", "neutral"))
    for i, t in enumerate((-1e300, 1e300, math.inf, -math.inf, math.nan), start=1):
        assert s.add(enriched(i, t, "markets", "neutral")).late
    assert s.watermark == NOW
    json.dumps(s.to_state(), allow_nan=False)
    assert not s.add_counts("markets", math.nan, {"neutral": 1}, 0.0)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True) | st.floats(min_value=-1e10, max_value=3e9)


@given(st.lists(finite_or_not, min_size=1, max_size=30))
def test_any_event_times_keep_the_store_bounded_and_persistable(times: list[float]) -> None:
    s = store()
    engine = AlertEngine([build_rule(RuleSettings(name="neg", threshold=0.5, min_volume=1, window_seconds=120))])
    for i, t in enumerate(times):
        s.add(enriched(i, t, "markets", "negative" if i % 2 else "neutral"))
        due = s.due()
        assert len(due) <= i + 1 + 60 + 1  # non-empty buckets and an hour of empty ones
        engine.advance(s, {})
    json.dumps(s.to_state(), allow_nan=False)


@given(st.binary(max_size=300), st.integers(min_value=-(2**62), max_value=2**62))
def test_decoded_bytes_flow_into_the_store_without_raising(value: bytes, timestamp: int) -> None:
    """Decoder and store together: whatever decodes can be trended and checkpointed."""
    s = store()
    decoder = Decoder(InputSettings())
    body = b'{"text": "story", "timestamp": ' + str(timestamp).encode() + b', "x": ' + json.dumps(value.hex()).encode() + b"}"
    for i, raw in enumerate((value, body)):
        decoded = decoder.decode(RawRecord(SourcePosition("news", 0, i), raw, timestamp_ms=int(NOW * 1000)))
        if isinstance(decoded, Message):
            s.add(enriched(i, decoded.event_time, "markets", "neutral"))
    s.add(enriched(9, NOW + 7200, "markets", "neutral"))
    assert len(s.due()) <= 3 + 60
    json.dumps(s.to_state(), allow_nan=False)


def test_count_observed_says_what_add_observed_does() -> None:
    """The judge tier counts through ``count_observed``; every other caller through ``add_observed``."""
    from monitor.trends.store import COUNTED, DUPLICATE, LATE, AddResult, Observed

    def observed(key: str, t: float) -> Observed:
        return Observed(key, t, "negative", -0.5, 0.9, "m", "a story", ("news", 0))

    cases = [("tech", 1_700_000_100.0, ["rates"], 0xABCD_0000_1234_5678, COUNTED),
             ("tech", 1_700_000_110.0, ["rates"], 0xABCD_0000_1234_5679, DUPLICATE),  # one bit away
             ("sport", 1_700_000_120.0, ["goal"], None, COUNTED),  # no fingerprint
             ("tech", float("nan"), [], 1, LATE),  # no calendar holds it
             ("tech", 1_699_990_000.0, [], 2, LATE)]  # before the closed bucket
    stores = [TrendStore(), TrendStore()]
    for store in stores:
        store.add_observed(observed("tech", 1_700_000_000.0), [], None)
        store.close(store.index(1_700_000_000.0))
    outcome = {COUNTED: AddResult("", False, False), DUPLICATE: AddResult("", False, True), LATE: AddResult("", True, False)}
    for key, t, terms, fp, expected in cases:
        result = stores[0].add_observed(observed(key, t), terms, fp)
        counted = stores[1].count_observed(observed(key, t), terms, fp)
        assert counted == expected
        assert (result.key, result.late, result.duplicate) == (key, outcome[expected].late, outcome[expected].duplicate)
    assert stores[0].to_state() == stores[1].to_state()


def test_topics_by_example_are_series_of_their_own_and_each_series_counts_a_message_once() -> None:
    from dataclasses import replace

    from monitor.trends.store import ALL

    s = TrendStore(TrendConfig(bucket_seconds=60, allowed_lateness_seconds=0, dedup_window_seconds=0))
    base = enriched(1, 1_000_000.0, "business", "negative")
    # the user's own topics; one is named as the model's label, one as the market-wide key
    tagged = replace(base, prediction=replace(base.prediction, example_topics=(("banking", 0.9), ("business", 0.7),
                                                                               (ALL, 0.6))))
    s.add(tagged)
    s.add(enriched(2, 1_000_001.0, "business", "neutral"))
    counts = {key: s.window(key, 60).count for key in s.keys()}
    assert counts == {"banking": 1, "business": 2, ALL: 2}
