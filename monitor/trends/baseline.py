"""What is normal for a topic, learned online from closed buckets.

Per topic: a level of (deseasonalised) message count per bucket with an hour-of-day
profile once a day of history exists (multiplicative, Holt-Winters style), the dispersion
of counts around that expectation, the usual share of negative messages, and the usual
mean sentiment with its spread. All are exponentially weighted so the baseline follows
slow change; surges are clipped before they are learned so an alert does not teach the
baseline that the surge is normal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

HOURS = 24


def hour_of_day(t: float) -> int:
    """UTC hour of an event time."""
    return datetime.fromtimestamp(t, tz=timezone.utc).hour


@dataclass(slots=True)
class BaselineConfig:
    """Smoothing and warm-up, in buckets."""

    bucket_seconds: float = 60.0
    halflife_buckets: float = 120.0
    share_halflife_buckets: float = 720.0
    seasonal_halflife_days: float = 3.0
    warmup_buckets: int = 60
    profile_after_days: float = 1.0

    def alpha(self, halflife: float) -> float:
        """Per-bucket weight of a new observation for a given half-life."""
        return 1.0 - 0.5 ** (1.0 / max(halflife, 1e-9))


@dataclass(slots=True)
class TopicBaseline:
    """One topic's learned normal. Serialisable with ``asdict`` for checkpoints."""

    age: int = 0  # buckets observed (including empty ones) since the topic appeared
    level: float = 0.0  # deseasonalised count per bucket
    dispersion: float = 1.0  # variance / mean of counts around expectation (1 = Poisson)
    neg_rate: float = 0.0  # EWMA of negative messages per bucket
    all_rate: float = 0.0  # EWMA of messages per bucket, long half-life (for the share)
    sent_mean: float = 0.0
    sent_var: float = 0.05
    sent_seen: int = 0
    profile: list[float] = field(default_factory=lambda: [1.0] * HOURS)
    profile_ready: bool = False
    hour_sums: list[float] = field(default_factory=lambda: [0.0] * HOURS)
    hour_counts: list[int] = field(default_factory=lambda: [0] * HOURS)
    cusum: float = 0.0  # downward sentiment drift accumulator (Page-Hinkley)

    def expected(self, t: float) -> float:
        """Expected messages in the bucket at event time ``t``."""
        return self.level * (self.profile[hour_of_day(t)] if self.profile_ready else 1.0)

    @property
    def negative_share(self) -> float:
        """The usual share of negative messages (0.0 before any traffic)."""
        return self.neg_rate / self.all_rate if self.all_rate > 0 else 0.0

    def update(self, t: float, count: float, negative: float, mean_sentiment: float | None, cfg: BaselineConfig) -> None:
        """Learn one closed bucket; ``count`` should already be clipped if the bucket was anomalous."""
        # early on, weight like a running mean so the first noisy buckets do not anchor the baseline
        a = max(cfg.alpha(cfg.halflife_buckets), 1.0 / (self.age + 1))
        hour = hour_of_day(t)
        expected = self.expected(t)
        if self.age == 0:
            self.level = count
        else:
            resid = count - expected
            ratio = resid * resid / max(expected, 1.0)
            self.dispersion = max(1.0, (1 - a) * self.dispersion + a * ratio)
            season = self.profile[hour] if self.profile_ready else 1.0
            self.level = (1 - a) * self.level + a * count / max(season, 0.05)
        self._learn_profile(hour, count, cfg)
        s = max(cfg.alpha(cfg.share_halflife_buckets), 1.0 / (self.age + 1))
        if self.age == 0:
            self.neg_rate, self.all_rate = negative, count
        else:
            self.neg_rate = (1 - s) * self.neg_rate + s * negative
            self.all_rate = (1 - s) * self.all_rate + s * count
        if mean_sentiment is not None:
            if self.sent_seen == 0:
                self.sent_mean = mean_sentiment
            else:
                d = mean_sentiment - self.sent_mean
                self.sent_mean += a * d
                self.sent_var = max(1e-4, (1 - a) * self.sent_var + a * d * d)
            self.sent_seen += 1
        self.age += 1

    def _learn_profile(self, hour: int, count: float, cfg: BaselineConfig) -> None:
        buckets_per_day = 86400.0 / cfg.bucket_seconds
        if not self.profile_ready:
            self.hour_sums[hour] += count
            self.hour_counts[hour] += 1
            if self.age + 1 >= buckets_per_day * cfg.profile_after_days and all(self.hour_counts):
                means = [s / n for s, n in zip(self.hour_sums, self.hour_counts)]
                overall = sum(means) / HOURS
                if overall > 0:
                    self.profile = [max(0.05, m / overall) for m in means]
                    self.level = overall
                    self.profile_ready = True
            return
        g = cfg.alpha(cfg.seasonal_halflife_days * buckets_per_day / HOURS)
        if self.level > 0:
            self.profile[hour] = max(0.05, (1 - g) * self.profile[hour] + g * count / self.level)

    def count_sd(self, expected: float) -> float:
        """Standard deviation of a count with this expectation, overdispersion included."""
        return math.sqrt(max(expected, 1.0) * self.dispersion)

    def to_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TopicBaseline:
        """Inverse of ``to_state``."""
        return cls(**state)
