"""The negative-share rule over a sliding event-time window, and the firing/resolved lifecycle."""

from __future__ import annotations

from monitor.alerts import AlertEngine, NegativeShareRule, fingerprint
from monitor.records import AlertState, Enriched, Message, Prediction, SourcePosition, TaskResult
from monitor.settings import RuleSettings
from monitor.trends import TrendStore

LABELS = ("negative", "neutral", "positive")


def enriched(i: int, t: float, topic: str, sentiment: str) -> Enriched:
    dist = {label: (0.8 if label == sentiment else 0.1) for label in LABELS}
    pred = Prediction({
        "topic": TaskResult(topic, 0.9, {topic: 0.9}, "tiny@1"),
        "sentiment": TaskResult(sentiment, 0.8, dist, "tiny@1"),
    })
    msg = Message(f"m{i}", f"text {i}", t, "wire", "en", SourcePosition("news", 0, i))
    return Enriched(msg, pred, t)


def engine(**rule: object) -> AlertEngine:
    settings = RuleSettings(**{"name": "neg", "threshold": 0.5, "min_volume": 10, "window_seconds": 60, **rule})  # type: ignore[arg-type]
    return AlertEngine([NegativeShareRule(settings)])


def feed(store: TrendStore, start: int, count: int, t0: float, topic: str, sentiment: str) -> None:
    for k in range(count):
        store.add(enriched(start + k, t0 + k * 0.5, topic, sentiment))


def test_fires_once_when_negative_share_crosses_threshold_at_volume_then_resolves() -> None:
    store, alerts = TrendStore(bucket_seconds=1), engine()
    feed(store, 0, 20, 0, "business", "neutral")
    assert alerts.evaluate(store, {}) == []
    feed(store, 20, 30, 10, "business", "negative")  # 30 of 50 negative = 60 %
    [firing] = alerts.evaluate(store, {"sentiment": "tiny@1"})
    assert firing.state is AlertState.FIRING and firing.key == "business"
    assert firing.observed == 0.6 and firing.expected == 0.5
    assert firing.fingerprint == fingerprint("neg", "business")
    assert firing.model_versions == {"sentiment": "tiny@1"}
    assert len(firing.exemplars) == 5 and all(e.id.startswith("m") for e in firing.exemplars)
    assert alerts.evaluate(store, {}) == [], "still firing: no repeat notification"
    # calm traffic pushes the negative burst out of the 60 s event-time window
    feed(store, 50, 40, 100, "business", "neutral")
    [resolved] = alerts.evaluate(store, {})
    assert resolved.state is AlertState.RESOLVED and resolved.starts_at == firing.starts_at
    assert resolved.ends_at is not None and resolved.fingerprint == firing.fingerprint


def test_no_alert_below_minimum_volume_or_for_unwatched_topics() -> None:
    store = TrendStore(bucket_seconds=1)
    feed(store, 0, 9, 0, "sport", "negative")
    assert engine().evaluate(store, {}) == []
    feed(store, 9, 20, 5, "sport", "negative")
    assert engine(topics=("business", "tech*")).evaluate(store, {}) == []
    assert [a.key for a in engine(topics=("sp*",)).evaluate(store, {})] == ["sport"]


def test_window_follows_event_time_not_arrival_order() -> None:
    store = TrendStore(bucket_seconds=1)
    feed(store, 0, 20, 1000, "tech", "negative")
    store.add(enriched(99, 400, "tech", "neutral"))  # a late record far behind the watermark
    stats = store.window("tech", 60)
    assert stats.count == 20 and stats.share("negative") == 1.0
