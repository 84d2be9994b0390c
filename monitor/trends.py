"""Per-topic trends over event time: fixed-width buckets summed into sliding windows.

Knows nothing of Kafka or models: it consumes ``Enriched`` records. The watermark is the
highest event time seen; buckets older than the longest window any rule needs are dropped.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from monitor.records import Enriched, Exemplar

SNIPPET_CHARS = 140


@dataclass(slots=True)
class Bucket:
    """Counts for one topic in one bucket of event time."""

    count: int = 0
    by_sentiment: Counter[str] = field(default_factory=Counter)
    sentiment_sum: float = 0.0  # sum of P(positive) - P(negative)
    exemplars: list[tuple[float, str, str]] = field(default_factory=list)  # (neg score, id, snippet)


@dataclass(frozen=True, slots=True)
class WindowStats:
    """A topic's traffic over one window ending at the watermark."""

    key: str
    start: float
    end: float
    count: int
    by_sentiment: dict[str, int]
    mean_sentiment: float
    exemplars: tuple[Exemplar, ...]

    def share(self, label: str) -> float:
        """Fraction of messages with sentiment ``label`` (0 when the window is empty)."""
        return self.by_sentiment.get(label, 0) / self.count if self.count else 0.0


class TrendStore:
    """Buckets per topic label; answers window queries at the watermark."""

    def __init__(self, bucket_seconds: float = 10.0, retention_seconds: float = 3600.0, exemplars: int = 5) -> None:
        self.bucket_seconds = bucket_seconds
        self.retention_seconds = retention_seconds
        self.max_exemplars = exemplars
        self.watermark = 0.0
        self._buckets: dict[str, dict[int, Bucket]] = defaultdict(dict)

    def keys(self) -> list[str]:
        """Topic labels with any retained traffic."""
        return sorted(self._buckets)

    def add(self, record: Enriched) -> str:
        """Count one enriched record under its topic label; returns the label."""
        key = record.topic_label
        t = record.message.event_time
        index = math.floor(t / self.bucket_seconds)
        bucket = self._buckets[key].setdefault(index, Bucket())
        bucket.count += 1
        bucket.by_sentiment[record.sentiment_label] += 1
        sentiment = record.prediction.tasks.get("sentiment")
        if sentiment is not None:
            dist = sentiment.distribution
            bucket.sentiment_sum += dist.get("positive", 0.0) - dist.get("negative", 0.0)
            if record.sentiment_label == "negative":
                self._keep_exemplar(bucket, sentiment.score, record)
        if t > self.watermark:
            self.watermark = t
            self._expire()
        return key

    def _keep_exemplar(self, bucket: Bucket, score: float, record: Enriched) -> None:
        entry = (score, record.message.id, record.message.text[:SNIPPET_CHARS])
        bucket.exemplars.append(entry)
        if len(bucket.exemplars) > self.max_exemplars:
            bucket.exemplars.sort(reverse=True)
            del bucket.exemplars[self.max_exemplars :]

    def _expire(self) -> None:
        oldest = math.floor((self.watermark - self.retention_seconds) / self.bucket_seconds)
        for key in list(self._buckets):
            buckets = self._buckets[key]
            for index in [i for i in buckets if i < oldest]:
                del buckets[index]
            if not buckets:
                del self._buckets[key]

    def series(self, key: str) -> list[dict[str, float]]:
        """The retained buckets of ``key`` in time order, for the status page."""
        out = []
        for index in sorted(self._buckets.get(key, {})):
            b = self._buckets[key][index]
            out.append({
                "t": index * self.bucket_seconds,
                "count": b.count,
                "negative": b.by_sentiment.get("negative", 0),
                "mean_sentiment": round(b.sentiment_sum / b.count, 4) if b.count else 0.0,
            })
        return out

    def window(self, key: str, seconds: float) -> WindowStats:
        """Stats for ``key`` over the buckets overlapping ``(watermark - seconds, watermark]``."""
        end = self.watermark
        first = math.floor((end - seconds) / self.bucket_seconds) + 1
        last = math.floor(end / self.bucket_seconds)
        count = 0
        by_sentiment: Counter[str] = Counter()
        total = 0.0
        pool: list[tuple[float, str, str]] = []
        for index, bucket in self._buckets.get(key, {}).items():
            if first <= index <= last:
                count += bucket.count
                by_sentiment.update(bucket.by_sentiment)
                total += bucket.sentiment_sum
                pool.extend(bucket.exemplars)
        pool.sort(reverse=True)
        exemplars = tuple(Exemplar(id=i, snippet=s, score=round(sc, 4)) for sc, i, s in pool[: self.max_exemplars])
        return WindowStats(key, end - seconds, end, count, dict(by_sentiment), total / count if count else 0.0, exemplars)
