"""What is normal for a topic, learned online from closed buckets.

Per topic: a level of (deseasonalised) message count per bucket with an hour-of-day
profile once a day of history exists and a day-of-week factor once every weekday has been seen
whole (multiplicative, Holt-Winters style), the dispersion
of counts around that expectation, the usual share of negative messages, and the usual
mean sentiment with its spread. All are exponentially weighted so the baseline follows
slow change; surges are clipped before they are learned so an alert does not teach the
baseline that the surge is normal.

The dispersion needs two guards. Before the profile exists, the daily cycle is part of
what the level cannot predict, so the dispersion rightly grows with it (that is what keeps
the first day's morning rise from alerting); once the profile exists, that inflated value
would make volume surges several times harder to see for days, so it is re-estimated from
the spread of counts within each hour of the first day. And a bucket further than
``OUTLIER_SD`` from its expectation (a surge, an outage) does not teach the noise level,
or one long surge would leave the topic deaf for hours after it; unless outliers come on both
sides within ``TWO_SIDED_BUCKETS`` of each other, which is noisier traffic, not an event
(without that, a topic whose noise grew tenfold would take days to learn it).

Weekends: a drop beyond 3 sd is learnt ten times more slowly (it may be an outage), so without the
day-of-week factor a busy topic's weekend at a tenth of weekday volume keeps much of the weekday
level, a Sunday surge of five times Sunday's volume stays under it, and the return on Monday fires.
The factor (opt-in: ``BaselineConfig.weekly``) is each weekday's total over a whole day against the
week's mean, learnt per weekday over weeks (``weekday_halflife_weeks``). A day begins at
``day_start_hour`` UTC, which should be the feed's local midnight: the factor covers whole days, so
the hours between the true change of day and the configured one are judged against the wrong day
(a New York feed counted in UTC days has Friday evening's traffic at Saturday's volume).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

HOURS = 24
DAYS = 7
FULL_DAY = 0.9  # share of a day's buckets that must have been closed for its total to teach its weekday
# beyond this many standard deviations a bucket is an event, not noise; the alert engine clips surges
# here too, before they are learned
OUTLIER_SD = 3.0
TWO_SIDED_BUCKETS = 12


def hour_of_day(t: float) -> int:
    """UTC hour of an event time."""
    return datetime.fromtimestamp(t, tz=timezone.utc).hour


def day_number(t: float) -> int:
    """Days since the epoch (UTC) of an event time."""
    return math.floor(t / 86400.0)


def weekday_of_day(day: int) -> int:
    """Monday 0 .. Sunday 6 of a day number (1970-01-01 was a Thursday)."""
    return (day + 3) % DAYS


@dataclass(slots=True)
class BaselineConfig:
    """Smoothing and warm-up, in buckets."""

    bucket_seconds: float = 60.0
    halflife_buckets: float = 120.0
    share_halflife_buckets: float = 720.0
    seasonal_halflife_days: float = 3.0
    warmup_buckets: int = 60
    profile_after_days: float = 1.0
    weekly: bool = False  # learn a day-of-week factor once each weekday has been seen whole
    day_start_hour: int = 0  # UTC hour at which the feed's days begin (its local midnight)
    weekday_halflife_weeks: float = 3.0

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
    sent_var: float = 0.05  # no longer learnt (the drift rule reads message_var and sent_tau2); kept so that
    # checkpoints written before load unchanged
    sent_seen: int = 0
    profile: list[float] = field(default_factory=lambda: [1.0] * HOURS)
    profile_ready: bool = False
    hour_sums: list[float] = field(default_factory=lambda: [0.0] * HOURS)
    hour_counts: list[int] = field(default_factory=lambda: [0] * HOURS)
    hour_squares: list[float] = field(default_factory=lambda: [0.0] * HOURS)
    cusum: float = 0.0  # downward sentiment drift accumulator (CUSUM of per-bucket standardised means)
    share_cusum: float = 0.0  # negative-share rise accumulator (CUSUM of per-message log-likelihood ratios)
    count_cusum: float = 0.0  # volume rise accumulator (CUSUM of per-bucket Poisson log-likelihood ratios)
    message_var: float = 0.25  # spread of sentiment between one bucket's messages (of P(pos) - P(neg))
    sent_tau2: float = 0.0  # spread of bucket means beyond what their message counts explain
    last_high_outlier: int = -(10**9)  # age at the last bucket above OUTLIER_SD, once the profile exists
    last_low_outlier: int = -(10**9)
    weekday: list[float] = field(default_factory=lambda: [1.0] * DAYS)  # day-of-week factors, mean 1
    weekday_ready: bool = False
    day_totals: list[float] = field(default_factory=lambda: [0.0] * DAYS)  # per weekday, weighted over weeks
    days_seen: list[int] = field(default_factory=lambda: [0] * DAYS)  # whole days learnt per weekday
    day: int = -1  # day number of the day being summed
    day_sum: float = 0.0
    day_buckets: int = 0
    day_start_hour: int = 0  # UTC hour at which the days above begin

    def day_of(self, t: float) -> int:
        """The number of the day (beginning at ``day_start_hour`` UTC) that holds event time ``t``."""
        return day_number(t - self.day_start_hour * 3600.0)

    def week_factor(self, t: float) -> float:
        """The day-of-week factor at event time ``t`` (1 until every weekday has been seen whole)."""
        return self.weekday[weekday_of_day(self.day_of(t))] if self.weekday_ready else 1.0

    def expected(self, t: float) -> float:
        """Expected messages in the bucket at event time ``t``."""
        return self.level * (self.profile[hour_of_day(t)] if self.profile_ready else 1.0) * self.week_factor(t)

    @property
    def negative_share(self) -> float:
        """The usual share of negative messages (0.0 before any traffic)."""
        return self.neg_rate / self.all_rate if self.all_rate > 0 else 0.0

    def update(self, t: float, count: float, negative: float, mean_sentiment: float | None, cfg: BaselineConfig,
               sentiment_n: int = 0, message_variance: float | None = None) -> None:
        """Learn one closed bucket; ``count`` should already be clipped if the bucket was anomalous.
        ``sentiment_n`` messages gave ``mean_sentiment``, with ``message_variance`` between them."""
        # early on, weight like a running mean so the first noisy buckets do not anchor the baseline
        a = max(cfg.alpha(cfg.halflife_buckets), 1.0 / (self.age + 1))
        if self.weekday_ready and not (cfg.weekly and cfg.day_start_hour == self.day_start_hour):
            # turned off, or days now begin at another hour: back to a level that follows the day, and
            # the weekdays are learnt again
            self.level *= self.week_factor(t)
            self.weekday, self.weekday_ready = [1.0] * DAYS, False
            self.day_totals, self.days_seen, self.day = [0.0] * DAYS, [0] * DAYS, -1
        if cfg.weekly:
            self.day_start_hour = cfg.day_start_hour
            self._count_day(t, cfg)
        hour, wf = hour_of_day(t), self.week_factor(t)
        expected = self.expected(t)
        if self.age == 0:
            self.level = count
        else:
            resid = count - expected
            ratio = resid * resid / max(expected, 1.0)
            if self._teaches_noise(resid, ratio):
                self.dispersion = max(1.0, (1 - a) * self.dispersion + a * ratio)
            season = (self.profile[hour] if self.profile_ready else 1.0) * wf
            # a bucket far below its expectation is an outage or a pause (a feed down, a topic gone quiet for
            # an hour): learnt at a tenth of the weight, so that traffic coming back is not a "surge"; a
            # lasting drop is still learnt, ten times more slowly
            w = a / 10 if resid < 0 and ratio >= OUTLIER_SD**2 * self.dispersion else a
            # a day with a fraction of the week's usual volume says that much less about the day-free level:
            # at full weight, a weekend night's few stories (each worth hundreds of expected ones) swing it
            w *= min(1.0, wf)
            self.level = (1 - w) * self.level + w * count / max(season, 0.05)
        self._learn_profile(hour, count / wf, cfg)
        if cfg.weekly:
            self.day_sum += count
            self.day_buckets += 1
        s = max(cfg.alpha(cfg.share_halflife_buckets), 1.0 / (self.age + 1))
        if self.age == 0:
            self.neg_rate, self.all_rate = negative, count
        else:
            self.neg_rate = (1 - s) * self.neg_rate + s * negative
            self.all_rate = (1 - s) * self.all_rate + s * count
        if mean_sentiment is not None:
            # early on, a running mean over the buckets that had messages: weighting by ``age``, which counts
            # the empty ones too, left a quiet topic's first message with half the weight a day later
            w = max(cfg.alpha(cfg.share_halflife_buckets), 1.0 / (self.sent_seen + 1))
            self._learn_sentiment(mean_sentiment, max(1, sentiment_n), message_variance, w)
        self.age += 1

    def _learn_sentiment(self, mean: float, n: int, message_variance: float | None, s: float) -> None:
        """The usual mean sentiment and its two spreads, on the slow (share) half-life, so that a slide
        over hours is not learned as normal while it happens. A bucket's mean varies by
        ``message_var / n`` (few messages at night, many at noon) plus ``sent_tau2``, what changes from
        bucket to bucket whatever their size (the mix of sources, one story's copies)."""
        if self.sent_seen == 0:
            self.sent_mean = mean
            if message_variance is not None:
                self.message_var = max(1e-3, message_variance)
        else:
            d = mean - self.sent_mean
            self.sent_mean += s * d
            if message_variance is not None:
                self.message_var = max(1e-3, (1 - s) * self.message_var + s * message_variance)
            self.sent_tau2 = max(0.0, (1 - s) * self.sent_tau2 + s * (d * d - self.message_var / n))
        self.sent_seen += 1

    def bucket_mean_sd(self, n: int) -> float:
        """Standard deviation of the mean sentiment of a bucket of ``n`` messages."""
        return math.sqrt(self.message_var / max(1, n) + self.sent_tau2)

    def _teaches_noise(self, resid: float, ratio: float) -> bool:
        """Whether a bucket's residual is learned into the dispersion (see the module's notes)."""
        # a clipped surge sits exactly at the clip, hence the tolerance
        if not self.profile_ready or ratio < OUTLIER_SD**2 * self.dispersion * (1 - 1e-9):
            return True
        if resid > 0:
            self.last_high_outlier = self.age
        else:
            self.last_low_outlier = self.age
        return self.age - min(self.last_high_outlier, self.last_low_outlier) <= TWO_SIDED_BUCKETS

    def _count_day(self, t: float, cfg: BaselineConfig) -> None:
        """At the first bucket of a new day, learn the day that ended into its weekday's total, if it
        was seen whole; once every weekday has been, the factors follow the totals."""
        day = self.day_of(t)
        if day == self.day:
            return
        buckets_per_day = 86400.0 / cfg.bucket_seconds
        if self.day >= 0 and day == self.day + 1 and self.day_buckets >= FULL_DAY * buckets_per_day:
            wd = weekday_of_day(self.day)
            g = cfg.alpha(cfg.weekday_halflife_weeks)
            self.day_totals[wd] = self.day_sum if self.days_seen[wd] == 0 else (
                (1 - g) * self.day_totals[wd] + g * self.day_sum)
            self.days_seen[wd] += 1
            mean = sum(self.day_totals) / DAYS
            if all(self.days_seen) and mean > 0:
                if not self.weekday_ready:
                    # the level has followed the day that ended: from now on it is a day-free level
                    self.level /= max(0.05, self.day_totals[wd] / mean)
                self.weekday = [max(0.05, total / mean) for total in self.day_totals]
                self.weekday_ready = True
        self.day, self.day_sum, self.day_buckets = day, 0.0, 0

    def _learn_profile(self, hour: int, count: float, cfg: BaselineConfig) -> None:
        buckets_per_day = 86400.0 / cfg.bucket_seconds
        if not self.profile_ready:
            self.hour_sums[hour] += count
            self.hour_counts[hour] += 1
            self.hour_squares[hour] += count * count
            if self.age + 1 >= buckets_per_day * cfg.profile_after_days and all(self.hour_counts):
                means = [s / n for s, n in zip(self.hour_sums, self.hour_counts)]
                overall = sum(means) / HOURS
                if overall > 0:
                    self.profile = [max(0.05, m / overall) for m in means]
                    self.level = overall
                    self.profile_ready = True
                    self.dispersion = self._within_hour_dispersion(means)
            return
        g = cfg.alpha(cfg.seasonal_halflife_days * buckets_per_day / HOURS)
        if self.level > 0:
            self.profile[hour] = max(0.05, (1 - g) * self.profile[hour] + g * count / self.level)

    def _within_hour_dispersion(self, means: list[float]) -> float:
        """Variance over mean of the counts within each hour, with the daily cycle left out: the median
        over the hours (a surge in one hour does not move it), corrected for the median of a chi-square
        being below its mean. The dispersion learned so far where an hour has too few buckets or the
        squares are missing."""
        n = min(self.hour_counts)
        # a sum of squares is never below (sum)^2 / n: when it is, the squares began mid-day (a checkpoint
        # written before they existed)
        consistent = all(q >= s * s / c * (1 - 1e-9)
                         for q, s, c in zip(self.hour_squares, self.hour_sums, self.hour_counts))
        if n < 3 or not consistent:
            return self.dispersion
        ratios = sorted(max(0.0, q - c * m * m) / (c - 1) / max(m, 1.0)
                        for q, c, m in zip(self.hour_squares, self.hour_counts, means))
        median = (ratios[HOURS // 2 - 1] + ratios[HOURS // 2]) / 2
        k = n - 1
        return max(1.0, median / (1 - 2 / (9 * k)) ** 3)

    def count_sd(self, expected: float) -> float:
        """Standard deviation of a count with this expectation, overdispersion included."""
        return math.sqrt(max(expected, 1.0) * self.dispersion)

    def to_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TopicBaseline:
        """Inverse of ``to_state``. Fields a later version added are left out, so that a checkpoint
        survives going back one release; fields missing from an older one take their defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in known})
