"""Synthetic per-topic traffic with daily seasonality and injected surges, and how well rules catch them.

Used by the detection tests and ``bench/detection.py`` to measure recall of injected
surges, false alerts per topic-day and detection delay, and by operators to try rules
before deploying. Traffic is generated per bucket (counts by sentiment), not per message.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field

from monitor.alerts import AlertEngine
from monitor.records import Alert, AlertState
from monitor.trends import TrendStore

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Surge:
    """An injected anomaly: ``kind`` is ``volume`` (rate x factor) or ``negative`` (share -> factor)."""

    topic: str
    kind: str
    start: float
    end: float
    factor: float


@dataclass(slots=True)
class Scenario:
    """Buckets of traffic per topic, and the surges injected into them."""

    bucket_seconds: float
    days: float
    topics: tuple[str, ...]
    buckets: list[tuple[float, dict[str, dict[str, int]]]] = field(default_factory=list)
    surges: list[Surge] = field(default_factory=list)


def make_scenario(
    days: float = 4.0, topics: tuple[str, ...] = ("business", "politics", "tech", "sport"), bucket_seconds: float = 60.0,
    base_rate: float = 20.0, negative_share: float = 0.3, surges_per_topic_day: float = 2.0, warmup_days: float = 1.0,
    dispersion: float = 1.1, seed: int = 7, start: float = 1_767_225_600.0, surges: list[Surge] | None = None,
) -> Scenario:
    """Per-bucket counts: a daily cycle (peak mid-afternoon UTC, trough at night), gamma-Poisson noise,
    and surges injected after ``warmup_days`` at random times, half of each kind (or exactly ``surges``)."""
    rng = random.Random(seed)
    scenario = Scenario(bucket_seconds, days, topics)
    if surges is not None:
        scenario.surges = list(surges)
    for topic in topics if surges is None and surges_per_topic_day > 0 else ():
        t = start + warmup_days * DAY + rng.uniform(1, 3) * 3600
        while t < start + days * DAY - 2 * 3600:
            kind = rng.choice(("volume", "negative"))
            length = rng.uniform(20, 45) * 60
            factor = rng.uniform(3.0, 4.0) if kind == "volume" else rng.uniform(0.65, 0.8)
            scenario.surges.append(Surge(topic, kind, t, t + length, factor))
            t += length + rng.expovariate(surges_per_topic_day / DAY) + 3 * 3600
    levels = {topic: base_rate * rng.uniform(0.5, 1.5) for topic in topics}
    shares = {topic: min(0.6, max(0.1, negative_share + rng.uniform(-0.1, 0.1))) for topic in topics}
    n = int(days * DAY / bucket_seconds)
    for i in range(n):
        t = start + i * bucket_seconds
        hour = (t % DAY) / 3600
        season = 1.0 + 0.6 * math.sin(2 * math.pi * (hour - 9) / 24)
        counts = {}
        for topic in topics:
            rate = levels[topic] * season * bucket_seconds / 60
            share = shares[topic]
            for s in scenario.surges:
                if s.topic == topic and s.start <= t < s.end:
                    if s.kind == "volume":
                        rate *= s.factor
                    else:
                        share = s.factor
            mean = rng.gammavariate(1 / (dispersion - 1), rate * (dispersion - 1)) if dispersion > 1 else rate
            count = _poisson(rng, mean)
            negative = sum(1 for _ in range(count) if rng.random() < share)
            positive = sum(1 for _ in range(count - negative) if rng.random() < 0.35)
            counts[topic] = {"negative": negative, "positive": positive, "neutral": count - negative - positive}
        scenario.buckets.append((t, counts))
    return scenario


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def replay_scenario(
    scenario: Scenario, store: TrendStore, engine: AlertEngine, steps: int = 4, seed: int = 0
) -> list[tuple[float, Alert]]:
    """Feed every bucket in ``steps`` slices (as a live stream's batches would arrive) and evaluate after each;
    returns notifications with the time they went out."""
    rng = random.Random(seed)
    out: list[tuple[float, Alert]] = []
    for t, counts in scenario.buckets:
        slices = {topic: _split(rng, by_sentiment, steps) for topic, by_sentiment in counts.items()}
        for k in range(steps):
            now = t + scenario.bucket_seconds * (k + 1) / steps - 1e-3
            for topic, parts in slices.items():
                part = parts[k]
                sentiment_sum = (part["positive"] - part["negative"]) * 0.8
                store.add_counts(topic, now, part, sentiment_sum)
            out += [(now, a) for a in engine.advance(store, {"simulation": "1"})]
    return out


def _split(rng: random.Random, by_sentiment: dict[str, int], steps: int) -> list[dict[str, int]]:
    parts = [{label: 0 for label in by_sentiment} for _ in range(steps)]
    for label, count in by_sentiment.items():
        for _ in range(count):
            parts[rng.randrange(steps)][label] += 1
    return parts


@dataclass(frozen=True, slots=True)
class DetectionScore:
    """How rules did on a scenario."""

    surges: int
    detected: int
    false_alerts: int
    topic_days: float
    delays_buckets: tuple[float, ...]

    @property
    def recall(self) -> float:
        return self.detected / self.surges if self.surges else 1.0

    @property
    def false_per_topic_day(self) -> float:
        return self.false_alerts / self.topic_days if self.topic_days else 0.0

    @property
    def median_delay_buckets(self) -> float:
        return statistics.median(self.delays_buckets) if self.delays_buckets else float("nan")


def score(scenario: Scenario, notes: list[tuple[float, Alert]], grace_seconds: float = 1800.0,
          warmup_days: float = 1.0) -> DetectionScore:
    """Match firing notifications to surges of the same topic; the rest are false alerts."""
    firings = [(t, a) for t, a in notes if a.state is AlertState.FIRING and not a.reminder and a.key in scenario.topics]
    delays: list[float] = []
    matched: set[int] = set()
    for surge in scenario.surges:
        first = None
        for t, a in firings:
            if a.key == surge.topic and surge.start - scenario.bucket_seconds <= t <= surge.end + grace_seconds:
                matched.add(id(a))
                if t <= surge.end + scenario.bucket_seconds:
                    first = t if first is None else min(first, t)
        if first is not None:
            delays.append(max(0.0, first - surge.start) / scenario.bucket_seconds)
    false_alerts = sum(1 for _, a in firings if id(a) not in matched)
    topic_days = len(scenario.topics) * (scenario.days - warmup_days)
    return DetectionScore(len(scenario.surges), len(delays), false_alerts, topic_days, tuple(delays))
