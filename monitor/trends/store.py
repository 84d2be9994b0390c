"""Per-topic trends in event time: fixed-width buckets, a watermark, sliding windows, baselines.

Knows nothing of Kafka or models: it consumes ``Enriched`` records. The watermark is the
highest event time seen; a bucket closes once the watermark passes its end plus the
allowed lateness, and a record for a closed bucket is late: counted, not trended (so is one
whose event time no calendar can hold). A gap of empty buckets longer than retention closes
in bounded time: only the last retention's worth of it is learned (``due``). Every
record also counts toward the market-wide key ``__all__``. Near-duplicate texts (syndicated
copies) count once toward volume and share; the copies are counted separately.
"""

from __future__ import annotations

import math
import time
from collections import Counter, _count_elements  # type: ignore[attr-defined]
from dataclasses import dataclass, field
from typing import Any, Sequence

from monitor.records import Enriched, Exemplar
from monitor.trends.baseline import BaselineConfig, TopicBaseline
from monitor.trends.dedup import NearDuplicateIndex
from monitor.trends.text import fingerprints, normalise, normalised_terms

ALL = "__all__"
# a judge task's share of a topic defined by example is counted under this prefix: such a topic spans
# every enriched partition, so each task keeps only its part, and the market-wide owner sums the
# parts into the topic's series (``monitor.tiers.market``). A part is neither learned nor evaluated.
PART = "\x1f"
SNIPPET_CHARS = 140
TERMS_PER_BUCKET = 60
# event times a datetime can hold (years 1-9999): the baseline's seasonal profile converts them,
# and anything else (inf, nan, -1e300) must neither be trended nor reach the checkpoint
EARLIEST_TIME, LATEST_TIME = -62_135_596_800.0, 253_402_300_799.0


def representable(t: float) -> bool:
    """Whether ``t`` is an event time the store can bucket, learn and persist."""
    return EARLIEST_TIME <= t <= LATEST_TIME  # false for nan too


COUNTED, DUPLICATE, LATE = 0, 1, 2  # what ``count_observed`` did with a record
TextFeatures = tuple[list[str], int | None]  # (content terms, SimHash fingerprint or None)


@dataclass(slots=True)
class Bucket:
    """Counts for one topic in one bucket of event time."""

    count: int = 0  # distinct stories (near-duplicates excluded)
    duplicates: int = 0
    by_sentiment: Counter[str] = field(default_factory=Counter)
    sentiment_sum: float = 0.0  # sum of P(positive) - P(negative)
    exemplars: list[tuple[float, str, str]] = field(default_factory=list)  # (negative score, id, snippet)
    terms: Counter[str] = field(default_factory=Counter)
    sentiment_sq: float = 0.0  # sum of squares of the same, for the spread between messages

    def to_state(self) -> list[Any]:
        return [self.count, self.duplicates, dict(self.by_sentiment), self.sentiment_sum, self.exemplars, dict(self.terms),
                self.sentiment_sq]

    @classmethod
    def from_state(cls, s: list[Any]) -> Bucket:
        # a checkpoint from before the squares were kept has six fields: no spread learned from those buckets
        sq = s[6] if len(s) > 6 else 0.0
        return cls(s[0], s[1], Counter(s[2]), s[3], [tuple(e) for e in s[4]], Counter(s[5]), sq)  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class WindowStats:
    """A topic's traffic over the window of buckets ending at ``end``."""

    key: str
    start: float
    end: float
    count: int
    by_sentiment: dict[str, int]
    mean_sentiment: float
    exemplars: tuple[Exemplar, ...]
    duplicates: int = 0
    buckets: int = 1
    sentiment_sq: float = 0.0  # sum of squared per-message sentiment

    @property
    def message_variance(self) -> float | None:
        """The spread of sentiment between the window's messages (None below two messages)."""
        if self.count < 2:
            return None
        mean = self.mean_sentiment
        return max(0.0, (self.sentiment_sq - self.count * mean * mean) / (self.count - 1))

    def share(self, label: str) -> float:
        """Fraction of messages with sentiment ``label`` (0 when the window is empty)."""
        return self.by_sentiment.get(label, 0) / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class AddResult:
    """What happened to one record."""

    key: str
    late: bool = False
    duplicate: bool = False


@dataclass(slots=True)
class Observed:
    """What trends read from one classified message (an ``Enriched`` record, or the judge tier's
    decoded enriched record, which never builds one)."""

    key: str  # topic label
    event_time: float
    sentiment_label: str
    sentiment_value: float | None  # P(positive) - P(negative); None when no sentiment model ran
    sentiment_score: float
    id: str
    snippet: str
    partition: tuple[str, int]  # the input partition, for the watermark
    also: tuple[str, ...] = ()  # further topic keys it counts toward (topics defined by example)


@dataclass(slots=True)
class Changes:
    """What a store changed since the caller last took it (the judge tier's changelog reads it)."""

    buckets: set[tuple[str, int]] = field(default_factory=set)  # (key, index) counted into
    pruned: list[tuple[str, int]] = field(default_factory=list)  # (key, index) dropped past retention
    fingerprints: list[tuple[float, int]] = field(default_factory=list)  # (event time, fingerprint) remembered
    closed: list[int] = field(default_factory=list)  # bucket indices closed


@dataclass(slots=True)
class TrendConfig:
    """Bucket width, lateness, retention and baseline smoothing."""

    bucket_seconds: float = 60.0
    allowed_lateness_seconds: float = 30.0
    retention_seconds: float = 6 * 3600.0
    dedup_window_seconds: float = 3600.0
    dedup_max_distance: int = 3
    dedup_max_entries: int = 200_000
    exemplars: int = 5
    idle_partition_seconds: float = 30.0
    startup_grace_seconds: float = 0.0  # wall time before the first bucket may close (lets every partition report)
    market_wide: bool = True  # count every record under ``__all__`` too (the judge tier's tasks do not: see monitor.tiers)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


class TrendStore:
    """Buckets and baselines per topic label, closed in event-time order."""

    def __init__(self, config: TrendConfig | None = None) -> None:
        self.config = config or TrendConfig()
        self.config.baseline.bucket_seconds = self.config.bucket_seconds
        self.watermark = 0.0
        self.last_closed: int | None = None  # index of the newest closed bucket
        self.buckets: dict[str, dict[int, Bucket]] = {}
        self.baselines: dict[str, TopicBaseline] = {}
        self.dedup = NearDuplicateIndex(self.config.dedup_window_seconds, self.config.dedup_max_distance,
                                        self.config.dedup_max_entries)
        self.age = 0  # buckets closed since the store began
        self._partitions: dict[tuple[str, int], list[float]] = {}  # -> [max event time, last seen (monotonic)]
        self._started: float | None = None
        self.changes: Changes | None = None  # set by a caller that wants to know what changed (monitor.tiers)

    @property
    def bucket_seconds(self) -> float:
        return self.config.bucket_seconds

    def index(self, t: float) -> int:
        """The bucket index of an event time."""
        return math.floor(t / self.config.bucket_seconds)

    def bucket_time(self, index: int) -> float:
        """The event time at which bucket ``index`` is judged and learned: its middle. Detection, the
        alert engine's clip and the baseline's learning all take the expectation here, so a surge clipped
        before it is learned is recognised as clipped (with a width that does not divide an hour, a
        bucket's start and middle can fall in different hours of the daily profile)."""
        return (index + 0.5) * self.config.bucket_seconds

    def keys(self) -> list[str]:
        """Topic labels with a baseline or retained traffic (``__all__`` included, parts not)."""
        return sorted(k for k in set(self.buckets) | set(self.baselines) if not k.startswith(PART))

    def add(self, record: Enriched) -> AddResult:
        """Count one record under its topic label and ``__all__``; late records are refused."""
        return self.add_batch([record])[0]

    def text_features(self, texts: Sequence[str]) -> list[TextFeatures]:
        """What trends need from each text: its content terms and, with near-duplicate folding on,
        its fingerprint (one array pass for all). Reads only the configuration, so another thread may
        compute them ahead of ``add_batch`` (the daemon does, in its tokeniser thread)."""
        norms = [normalise(t) for t in texts]
        found = [normalised_terms(norm) for norm in norms]
        if self.config.dedup_window_seconds <= 0:
            return [(terms, None) for terms in found]
        return list(zip(found, fingerprints(norms)))

    def add_batch(self, records: Sequence[Enriched], advance: bool = True,
                  features: Sequence[TextFeatures] | None = None) -> list[AddResult]:
        """``add`` for each record in order, with each record's ``text_features`` (computed here
        unless given). With ``advance`` false the records do not move the watermark: the caller
        does, with ``advance``, in source order."""
        if features is None:
            features = self.text_features([r.message.text for r in records])
        return [self._add(r, terms, fp, advance) for r, (terms, fp) in zip(records, features, strict=True)]

    def expect(self, partition: tuple[str, int]) -> None:
        """A partition has messages on the way: until the first is counted it holds the watermark
        back (for at most ``idle_partition_seconds``), so a partition read later than the others,
        or whose first messages land in a later batch, does not find its buckets closed."""
        if partition not in self._partitions:
            self._partitions[partition] = [-math.inf, time.monotonic()]

    def advance(self, partition: tuple[str, int], t: float) -> None:
        """A partition's records up to event time ``t`` are all counted: the watermark may follow."""
        self._advance(partition, t)

    def _add(self, record: Enriched, terms: list[str], fingerprint: int | None, advance: bool = True) -> AddResult:
        sentiment = record.prediction.tasks.get("sentiment")
        value = None
        if sentiment is not None:
            value = sentiment.distribution.get("positive", 0.0) - sentiment.distribution.get("negative", 0.0)
        m = record.message
        return self.add_observed(
            Observed(record.topic_label, m.event_time, record.sentiment_label, value,
                     sentiment.score if sentiment is not None else 0.0, m.id, m.text[:SNIPPET_CHARS],
                     (m.position.topic, m.position.partition),
                     tuple(label for label, _ in record.prediction.example_topics if label != ALL)),
            terms, fingerprint, advance)

    def add_observed(self, record: Observed, terms: list[str], fingerprint: int | None, advance: bool = True) -> AddResult:
        """Count one observation (with its text features); ``add_batch`` for callers without ``Enriched`` records."""
        outcome = self.count_observed(record, terms, fingerprint, advance)
        return AddResult(record.key, late=outcome == LATE, duplicate=outcome == DUPLICATE)

    def count_observed(self, record: Observed, terms: list[str], fingerprint: int | None, advance: bool = True) -> int:
        """``add_observed`` that says what happened as COUNTED, DUPLICATE or LATE, with no ``AddResult``
        built (the judge tier counts every enriched record through here)."""
        key = record.key
        t = record.event_time
        if not representable(t):
            return LATE
        index = self.index(t)
        if self.last_closed is not None and index <= self.last_closed:
            return LATE
        duplicate = fingerprint is not None and self.dedup.seen_fingerprint(fingerprint, t)
        changes = self.changes
        if changes is not None:
            if fingerprint is not None and not duplicate:
                changes.fingerprints.append((t, fingerprint))
        keys: tuple[str, ...] = (key, ALL) if self.config.market_wide else (key,)
        if record.also:  # each series once, however the user's topics are named
            keys = tuple(dict.fromkeys((key, *record.also, *keys[1:])))
        for k in keys:
            by_index = self.buckets.get(k)
            bucket = by_index.get(index) if by_index is not None else None
            if bucket is None:
                bucket = self._bucket(k, index)
            if changes is not None:
                changes.buckets.add((k, index))
            if duplicate:
                bucket.duplicates += 1
            else:
                self._count(bucket, record, terms)
        if advance:
            self._advance(record.partition, t)
        return DUPLICATE if duplicate else COUNTED

    def _bucket(self, key: str, index: int) -> Bucket:
        by_index = self.buckets.setdefault(key, {})
        bucket = by_index.get(index)
        if bucket is None:
            bucket = by_index[index] = Bucket()
        return bucket

    def _advance(self, partition: tuple[str, int], t: float) -> None:
        """The watermark is the slowest active partition's newest event time (never moving back).

        A backlog read from several partitions at once arrives out of event-time order across
        partitions; a global maximum would run ahead and refuse the slower partitions as late.
        A partition that has sent nothing for ``idle_partition_seconds`` stops holding it back.
        """
        if not representable(t):
            return
        now = time.monotonic()
        if self._started is None:
            self._started = now
        entry = self._partitions.get(partition)
        if entry is None:
            self._partitions[partition] = [t, now]
        else:
            entry[0] = max(entry[0], t)
            entry[1] = now
        idle = self.config.idle_partition_seconds
        active = [e[0] for e in self._partitions.values() if now - e[1] <= idle]
        mark = min(active) if active else t
        if mark == -math.inf:
            return  # a partition with messages on the way has counted none yet (``expect``)
        # before the first bucket closes the watermark may still move back as partitions report
        self.watermark = mark if self.last_closed is None else max(self.watermark, mark)

    def merge(self, key: str, index: int, other: Bucket) -> bool:
        """Add another store's closed bucket into ``key``'s bucket ``index`` (the market-wide owner sums
        every judge task's); False when that bucket is closed already."""
        if self.last_closed is not None and index <= self.last_closed:
            return False
        bucket = self._bucket(key, index)
        bucket.count += other.count
        bucket.duplicates += other.duplicates
        bucket.by_sentiment.update(other.by_sentiment)
        bucket.sentiment_sum += other.sentiment_sum
        bucket.sentiment_sq += other.sentiment_sq
        bucket.terms.update(other.terms)
        bucket.exemplars = sorted([tuple(e) for e in bucket.exemplars + other.exemplars], reverse=True)[: self.config.exemplars]  # type: ignore[misc]
        if self.changes is not None:
            self.changes.buckets.add((key, index))
        return True

    def source_times(self) -> dict[tuple[str, int], float]:
        """Each input partition's newest counted event time (what the watermark is the minimum of)."""
        return {k: v[0] for k, v in self._partitions.items() if math.isfinite(v[0])}

    def pause_idle_clock(self, seconds: float) -> None:
        """Time in which nothing arrived at all does not count toward any partition's idleness (a
        judge task starved while the classify tier starts or rebalances is not a stalled partition)."""
        for entry in self._partitions.values():
            entry[1] += seconds

    def restore_source_times(self, times: dict[tuple[str, int], float]) -> None:
        """``source_times`` from another process: each partition holds the watermark as if just seen."""
        now = time.monotonic()
        for key, t in times.items():
            self._partitions[key] = [t, now]
        if times and self._started is None:
            self._started = now  # it had counted records: its first bucket may close without a new one

    def add_counts(self, key: str, t: float, by_sentiment: dict[str, int], sentiment_sum: float) -> bool:
        """Add pre-aggregated counts (backtests and simulations); False when the bucket already closed."""
        if not (representable(t) and math.isfinite(sentiment_sum)):
            return False
        index = self.index(t)
        if self.last_closed is not None and index <= self.last_closed:
            return False
        for k in (key, ALL):
            bucket = self._bucket(k, index)
            bucket.count += sum(by_sentiment.values())
            bucket.by_sentiment.update(by_sentiment)
            bucket.sentiment_sum += sentiment_sum
        self._advance(("", 0), t)
        return True

    def _count(self, bucket: Bucket, record: Observed, found: list[str]) -> None:
        bucket.count += 1
        bucket.by_sentiment[record.sentiment_label] += 1
        _count_elements(bucket.terms, found)  # Counter.update's own C loop, without its checks per call
        value = record.sentiment_value
        if value is None:
            return
        bucket.sentiment_sum += value
        bucket.sentiment_sq += value * value
        if record.sentiment_label == "negative":
            bucket.exemplars.append((round(record.sentiment_score, 4), record.id, record.snippet))
            if len(bucket.exemplars) > 2 * self.config.exemplars:
                bucket.exemplars.sort(reverse=True)
                del bucket.exemplars[self.config.exemplars :]

    def due(self) -> list[int]:
        """Indices of buckets that can close now (watermark past their end plus lateness), oldest first.

        A gap longer than retention (a stream silent for a day, an event time years back) yields its
        non-empty buckets and the last retention's worth of empty ones, not one index per bucket of the
        gap: empty buckets older than that fall out of every window anyway, and the baselines learn the
        recent silence either way.
        """
        closable = self.index(self.watermark - self.config.allowed_lateness_seconds) - 1
        if self.last_closed is None:
            if self._started is None or time.monotonic() - self._started < self.config.startup_grace_seconds:
                return []
            first = min((min(b) for b in self.buckets.values() if b), default=closable + 1)
        else:
            first = self.last_closed + 1
        tail = closable + 1 - max(1, int(self.config.retention_seconds / self.config.bucket_seconds))
        if tail <= first:
            return list(range(first, closable + 1))
        filled = sorted({i for by_index in self.buckets.values() for i in by_index if first <= i < tail})
        return filled + list(range(tail, closable + 1))

    def close(self, index: int, clip: dict[str, float] | None = None) -> None:
        """Close bucket ``index``: learn it into every topic's baseline (counts clipped per ``clip``), prune."""
        clip = clip or {}
        t = self.bucket_time(index)
        for key in self.keys():
            bucket = self.buckets.get(key, {}).get(index)
            baseline = self.baselines.setdefault(key, TopicBaseline())
            count = float(bucket.count) if bucket else 0.0
            negative = float(bucket.by_sentiment.get("negative", 0)) if bucket else 0.0
            if key in clip and count > clip[key]:
                negative *= clip[key] / count
                count = clip[key]
            mean = bucket.sentiment_sum / bucket.count if bucket and bucket.count else None
            spread = None
            if bucket is not None and bucket.count >= 2 and bucket.sentiment_sq > 0:
                spread = max(0.0, (bucket.sentiment_sq - bucket.count * mean * mean) / (bucket.count - 1))  # type: ignore[operator]
            baseline.update(t, count, negative, mean, self.config.baseline,
                            sentiment_n=bucket.count if bucket else 0, message_variance=spread)
            if bucket is not None and len(bucket.terms) > TERMS_PER_BUCKET:
                bucket.terms = Counter(dict(bucket.terms.most_common(TERMS_PER_BUCKET)))
        self.last_closed = index
        self.age += 1
        oldest = index - int(self.config.retention_seconds / self.config.bucket_seconds)
        for key in list(self.buckets):
            for i in [i for i in self.buckets[key] if i < oldest]:
                del self.buckets[key][i]
                if self.changes is not None:
                    self.changes.pruned.append((key, i))
        if self.changes is not None:
            self.changes.closed.append(index)

    def window(self, key: str, seconds: float, end_index: int | None = None) -> WindowStats:
        """Stats for ``key`` over the ``seconds`` of buckets ending with ``end_index`` (default: newest closed)."""
        if end_index is None:
            end_index = self.last_closed if self.last_closed is not None else self.index(self.watermark)
        width = max(1, round(seconds / self.config.bucket_seconds))
        first = end_index - width + 1
        count = duplicates = 0
        by_sentiment: Counter[str] = Counter()
        total = total_sq = 0.0
        pool: list[tuple[float, str, str]] = []
        buckets = self.buckets.get(key, {})
        for index in range(first, end_index + 1):  # the window's few buckets, not all retained ones
            bucket = buckets.get(index)
            if bucket is not None:
                count += bucket.count
                duplicates += bucket.duplicates
                by_sentiment.update(bucket.by_sentiment)
                total += bucket.sentiment_sum
                total_sq += bucket.sentiment_sq
                pool.extend(bucket.exemplars)
        pool.sort(reverse=True)
        exemplars = tuple(Exemplar(id=i, snippet=s, score=sc) for sc, i, s in pool[: self.config.exemplars])
        bs = self.config.bucket_seconds
        return WindowStats(key, first * bs, (end_index + 1) * bs, count, dict(by_sentiment),
                           total / count if count else 0.0, exemplars, duplicates, width, total_sq)

    def expected_in_window(self, key: str, seconds: float, end_index: int) -> float:
        """The baseline's expected count over the window's buckets (seasonal profile applied).

        For the open bucket only the elapsed part counts, so a surge can be seen before its
        bucket closes without comparing a partial count with a whole bucket's expectation.
        """
        baseline = self.baselines.get(key)
        if baseline is None:
            return 0.0
        width = max(1, round(seconds / self.config.bucket_seconds))
        bs = self.config.bucket_seconds
        total = 0.0
        for i in range(end_index - width + 1, end_index + 1):
            elapsed = 1.0
            if self.last_closed is not None and i > self.last_closed:
                elapsed = min(1.0, max(0.05, (self.watermark - i * bs) / bs))
            total += baseline.expected(self.bucket_time(i)) * elapsed
        return total

    def window_terms(self, key: str, seconds: float, end_index: int) -> tuple[Counter[str], Counter[str]]:
        """Term counts inside the window and in the retained history before it."""
        width = max(1, round(seconds / self.config.bucket_seconds))
        inside: Counter[str] = Counter()
        before: Counter[str] = Counter()
        for index, bucket in self.buckets.get(key, {}).items():
            if end_index - width < index <= end_index:
                inside.update(bucket.terms)
            elif index <= end_index - width:
                before.update(bucket.terms)
        return inside, before

    def series(self, key: str) -> list[dict[str, float]]:
        """The retained buckets of ``key`` in time order, for the status page."""
        out = []
        for index in sorted(self.buckets.get(key, {})):
            b = self.buckets[key][index]
            out.append({
                "t": index * self.config.bucket_seconds,
                "count": b.count,
                "negative": b.by_sentiment.get("negative", 0),
                "duplicates": b.duplicates,
                "mean_sentiment": round(b.sentiment_sum / b.count, 4) if b.count else 0.0,
            })
        return out

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume after a restart, as plain data."""
        return {
            "watermark": self.watermark,
            "last_closed": self.last_closed,
            "age": self.age,
            "buckets": {k: {str(i): b.to_state() for i, b in v.items()} for k, v in self.buckets.items()},
            "baselines": {k: b.to_state() for k, b in self.baselines.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a checkpoint written by ``to_state``."""
        self.watermark = state["watermark"]
        self.last_closed = state["last_closed"]
        self.age = state["age"]
        self.buckets = {k: {int(i): Bucket.from_state(b) for i, b in v.items()} for k, v in state["buckets"].items()}
        self.baselines = {k: TopicBaseline.from_state(b) for k, b in state["baselines"].items()}
