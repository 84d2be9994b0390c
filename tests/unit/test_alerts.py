"""Rules over event-time windows and the pending / firing / resolved lifecycle."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.alerts import AlertEngine, build_rule, fingerprint
from monitor.records import AlertState, Enriched, Message, Prediction, SourcePosition, TaskResult
from monitor.settings import AlertingSettings, RuleSettings
from monitor.trends import TrendConfig, TrendStore

LABELS = ("negative", "neutral", "positive")
# every alert its own incident, notified at once: what these tests judge is the lifecycle
PER_ALERT = {"group_by": ("alertname", "topic"), "group_wait_seconds": 0, "group_interval_seconds": 0}


def enriched(i: int, t: float, topic: str, sentiment: str, text: str | None = None) -> Enriched:
    dist = {label: (0.8 if label == sentiment else 0.1) for label in LABELS}
    pred = Prediction({
        "topic": TaskResult(topic, 0.9, {topic: 0.9}, "tiny@1"),
        "sentiment": TaskResult(sentiment, 0.8, dist, "tiny@1"),
    })
    msg = Message(f"m{i}", text or f"story {i} unique words {i * 7919}", t, "wire", "en", SourcePosition("news", 0, i))
    return Enriched(msg, pred, t)


def engine(alerting: AlertingSettings | None = None, **rule: Any) -> AlertEngine:
    settings = RuleSettings(**{"name": "neg", "threshold": 0.5, "min_volume": 10, "window_seconds": 60,
                               "resolve_after_seconds": 0, **rule})
    alerting = alerting.model_copy(update=PER_ALERT) if alerting else AlertingSettings(**PER_ALERT)
    return AlertEngine([build_rule(settings)], alerting, warmup_buckets=0)


def store() -> TrendStore:
    return TrendStore(TrendConfig(bucket_seconds=10, allowed_lateness_seconds=0, dedup_window_seconds=0))


def feed(s: TrendStore, start: int, count: int, t0: float, topic: str, sentiment: str, step: float = 0.5) -> None:
    for k in range(count):
        s.add(enriched(start + k, t0 + k * step, topic, sentiment))


def test_fires_once_when_negative_share_crosses_threshold_at_volume_then_resolves() -> None:
    s, alerts = store(), engine()
    feed(s, 0, 20, 0, "business", "neutral")
    assert alerts.advance(s, {}) == []
    feed(s, 20, 30, 10, "business", "negative")  # 30 of 50 negative in the window
    [firing] = alerts.advance(s, {"sentiment": "tiny@1"})
    assert firing.state is AlertState.FIRING and firing.key == "business"
    assert firing.observed == 0.6 and firing.expected == 0.5
    assert firing.fingerprint == fingerprint("neg", "business")
    assert firing.model_versions == {"sentiment": "tiny@1"}
    assert firing.labels["alertname"] == "neg" and firing.labels["topic"] == "business"
    assert len(firing.exemplars) == 5 and all(e.id.startswith("m") for e in firing.exemplars)
    assert alerts.advance(s, {}) == [], "still firing: no repeat notification"
    feed(s, 50, 60, 100, "business", "neutral")  # calm traffic pushes the burst out of the 60 s window
    [resolved] = alerts.advance(s, {})
    assert resolved.state is AlertState.RESOLVED and resolved.starts_at == firing.starts_at
    assert resolved.ends_at is not None and resolved.ends_at > resolved.starts_at


def test_no_alert_below_minimum_volume_or_for_unwatched_topics() -> None:
    s = store()
    feed(s, 0, 9, 0, "sport", "negative")
    assert engine().advance(s, {}) == []
    feed(s, 9, 20, 5, "sport", "negative")
    assert engine(topics=("business", "tech*")).advance(s, {}) == []
    assert [a.key for a in engine(topics=("sp*",)).advance(s, {})] == ["sport"]


def test_for_duration_keeps_an_alert_pending_then_fires_and_reminds() -> None:
    s, alerts = store(), engine(for_seconds=30, repeat_interval_seconds=60)
    feed(s, 0, 20, 0, "tech", "negative", step=0.5)  # t = 0..10
    assert alerts.advance(s, {}) == [], "pending for less than 30 s"
    feed(s, 20, 60, 10, "tech", "negative", step=0.5)  # t = 10..40
    [firing] = alerts.advance(s, {})
    assert firing.state is AlertState.FIRING and not firing.reminder
    feed(s, 80, 140, 40, "tech", "negative", step=0.5)  # t = 40..110
    notes = alerts.advance(s, {})
    assert [n.reminder for n in notes] == [True]


def test_hysteresis_waits_before_resolving() -> None:
    s, alerts = store(), engine(resolve_after_seconds=40)
    feed(s, 0, 30, 0, "tech", "negative")
    assert [a.state for a in alerts.advance(s, {})] == [AlertState.FIRING]
    feed(s, 30, 60, 70, "tech", "neutral")  # t = 70..100: breach gone from the window at t ~ 75
    assert alerts.advance(s, {}) == [], "not yet resolved: inside the hysteresis"
    feed(s, 90, 40, 130, "tech", "neutral")
    assert [a.state for a in alerts.advance(s, {})] == [AlertState.RESOLVED]


def test_silenced_alerts_are_not_notified() -> None:
    alerting = AlertingSettings(silences=[{"matchers": {"topic": "tech"}, "comment": "known outage"}])
    s, alerts = store(), engine(alerting)
    feed(s, 0, 30, 0, "tech", "negative")
    feed(s, 30, 30, 0.2, "sport", "negative")
    assert [a.key for a in alerts.advance(s, {})] == ["sport"]


def test_market_wide_alert_inhibits_the_per_topic_alerts_it_explains() -> None:
    alerting = AlertingSettings(inhibit=[{"source": {"alertname": "market"}, "target": {"alertname": "neg"}}], **PER_ALERT)
    market = RuleSettings(name="market", detector="negative_share", threshold=0.5, topics=("__all__",),
                          min_volume=10, window_seconds=60)
    topic = RuleSettings(name="neg", detector="negative_share", threshold=0.5, min_volume=10, window_seconds=60)
    s = store()
    alerts = AlertEngine([build_rule(topic), build_rule(market)], alerting, warmup_buckets=0)
    feed(s, 0, 30, 0, "tech", "negative")
    feed(s, 30, 30, 0.2, "sport", "negative")
    notes = alerts.advance(s, {})
    assert [(a.rule, a.key) for a in notes] == [("market", "__all__")]
    assert {a.key for a in alerts.firing} == {"__all__", "tech", "sport"}, "muted alerts still tracked"


def test_window_follows_event_time_and_late_records_are_refused() -> None:
    s = store()
    feed(s, 0, 60, 1000, "tech", "negative")  # t = 1000 .. 1029.5: buckets 100 and 101 close
    engine().advance(s, {})
    late = s.add(enriched(99, 400, "tech", "neutral"))
    assert late.late
    assert s.window("tech", 60, s.index(s.watermark)).count == 60


def test_near_duplicates_count_once() -> None:
    s = TrendStore(TrendConfig(bucket_seconds=10))
    text = "Central bank raises rates by half a point, markets slide"
    results = [s.add(enriched(i, i, "business", "negative", text=text + (" !" if i % 2 else ""))) for i in range(5)]
    assert [r.duplicate for r in results] == [False, True, True, True, True]
    window = s.window("business", 60, s.index(s.watermark))
    assert window.count == 1 and window.duplicates == 4


def test_a_backlog_read_from_two_partitions_out_of_event_time_order_is_not_late() -> None:
    s = store()
    ahead = [enriched(i, 1000 + i, "tech", "neutral") for i in range(30)]
    behind = [enriched(100 + i, 500 + i, "tech", "neutral") for i in range(30)]
    behind = [replace(e, message=replace(e.message, position=SourcePosition("news", 1, i))) for i, e in enumerate(behind)]
    results = []
    for a, b in zip(ahead, behind):  # partition 0 is 500 s ahead of partition 1 in event time
        results += [s.add(a), s.add(b)]
        engine().advance(s, {})
    assert not any(r.late for r in results)
    assert s.watermark == 529  # the slower partition's newest event time
