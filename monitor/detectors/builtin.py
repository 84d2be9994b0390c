"""The built-in detectors: volume surge, sustained volume rise, negative-share shift, sentiment
drift, emerging topic, and the plain negative-share threshold."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from monitor.detectors.base import Detection, DetectionContext, DetectorParams
from monitor.detectors.stats import binomial_z, negative_binomial_z


class VolumeSurgeParams(DetectorParams):
    z: float = Field(4.0, gt=0, description="the normal z with the same tail as the count (negative binomial)")
    min_ratio: float = Field(1.5, ge=1, description="observed must also be this multiple of expected")
    needs_profile: bool = Field(True, description="judge only once a day of history has taught the daily cycle")


class VolumeSurge:
    """Window count far above the seasonal baseline: the count's negative-binomial tail (variance the
    learned multiple of the mean), scored as the normal z with the same tail, so that a bursty topic's
    skewed counts do not fire more often than ``z`` says."""

    name: ClassVar[str] = "volume_surge"

    def __init__(self, **params: Any) -> None:
        self.p = VolumeSurgeParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        observed, expected = ctx.window.count, ctx.expected_count
        # before the hour-of-day profile exists, the first morning's rise is as steep as a surge
        if ctx.baseline.age < ctx.warmup_buckets or (self.p.needs_profile and not ctx.baseline.profile_ready):
            return Detection(False, 0.0, observed, expected, f"'{ctx.key}' is warming up")
        z = negative_binomial_z(observed, max(expected, 1.0), ctx.baseline.dispersion)
        breached = z >= self.p.z and observed >= self.p.min_ratio * max(expected, 1.0)
        summary = f"{observed} stories about '{ctx.key}' in {_span(ctx)}, expected {expected:.1f} (z={z:.1f})"
        return Detection(breached, round(z, 3), observed, round(expected, 3), summary)


class VolumeCusumParams(DetectorParams):
    ratio: float = Field(2.5, gt=1, description="the multiple of the expected count the statistic is tuned to find")
    h: float = Field(10.0, gt=0, description="alarm level of the cumulative log-likelihood ratio")
    min_ratio: float = Field(2.0, ge=1, description="the window's count must also be this multiple of expected")


class VolumeCusum:
    """Sustained rise of a topic's volume: a one-sided CUSUM of each closed bucket's Poisson
    log-likelihood ratio between the expected count and ``ratio`` times it, divided by the topic's
    learned dispersion (a bursty topic's counts carry less evidence each), accumulated once per
    bucket (Page 1954; Lucas 1985 for counts).

    A window test sees only its window: a topic at half a story a minute has 1.5 expected in three
    minutes and reaches a window rule's minimum only at about seven times its usual volume. This
    statistic keeps the evidence of every bucket since the rise began, so a tripled quiet topic is
    found once enough stories have come, whatever the window. It drifts down at any ratio under
    ``(ratio - 1) / ln(ratio)`` (1.64 at 2.5), so a profile a few tens of percent off does not add
    up; an alarm also needs the rule's window to hold ``min_ratio`` times its expected count, so it
    ends when the rise does. The state lives in the topic's baseline, checkpointed with it; the
    statistic is capped at twice ``h``."""

    name: ClassVar[str] = "volume_cusum"

    def __init__(self, **params: Any) -> None:
        self.p = VolumeCusumParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        b, w, bucket = ctx.baseline, ctx.window, ctx.latest
        observed, expected = w.count, ctx.expected_count
        if b.age < ctx.warmup_buckets or not b.profile_ready:
            if ctx.closed:
                b.count_cusum = 0.0
            return Detection(False, 0.0, observed, expected, f"'{ctx.key}' is warming up")
        stat = b.count_cusum
        if bucket is not None and ctx.latest_expected is not None:
            lam = max(ctx.latest_expected, 1e-3)
            llr = (bucket.count * math.log(self.p.ratio) - (self.p.ratio - 1.0) * lam) / max(b.dispersion, 1.0)
            stat = min(max(0.0, stat + llr), 2 * self.p.h)
            if ctx.closed:
                b.count_cusum = stat
        breached = stat >= self.p.h and observed >= self.p.min_ratio * max(expected, 1.0)
        summary = (f"{observed} stories about '{ctx.key}' in {_span(ctx)}, expected {expected:.1f} "
                   f"(evidence of a rise {stat:.1f}, alarm at {self.p.h:g})")
        return Detection(breached, round(stat, 3), observed, round(expected, 3), summary)


class NegativeShareShiftParams(DetectorParams):
    z: float = Field(4.0, gt=0, description="standard errors above the usual share")
    min_delta: float = Field(0.1, ge=0, le=1, description="minimum rise of the share, absolute")


class NegativeShareShift:
    """Share of negative messages above the topic's usual share: an exact binomial test, scored as the
    normal z with the same tail, so that ``z`` means the same at 20 stories as at 20,000."""

    name: ClassVar[str] = "negative_share_shift"

    def __init__(self, **params: Any) -> None:
        self.p = NegativeShareShiftParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        w = ctx.window
        share, base = w.share("negative"), ctx.baseline.negative_share
        if ctx.baseline.age < ctx.warmup_buckets or w.count == 0:
            return Detection(False, 0.0, share, base, f"'{ctx.key}' is warming up")
        p0 = min(max(base, 0.02), 0.98)
        z = binomial_z(w.by_sentiment.get("negative", 0), w.count, p0)
        breached = z >= self.p.z and share - base >= self.p.min_delta
        summary = (f"negative share for '{ctx.key}' is {share:.0%} of {w.count} stories in {_span(ctx)}, "
                   f"usually {base:.0%} (z={z:.1f})")
        return Detection(breached, round(z, 3), round(share, 4), round(base, 4), summary)


class NegativeShareCusumParams(DetectorParams):
    shift: float = Field(0.15, gt=0, lt=1, description="the rise of the share the statistic is tuned to find, absolute")
    h: float = Field(10.0, gt=0, description="alarm level of the cumulative log-likelihood ratio")
    min_delta: float = Field(0.1, ge=0, le=1, description="the window's share must also be this far above the usual")


class NegativeShareCusum:
    """Sustained rise of the negative share: a one-sided CUSUM of each message's log-likelihood ratio
    between the usual share ``p0`` and ``p0 + shift`` (Page 1954), accumulated once per closed bucket.

    A window test sees only the stories inside its window; this statistic keeps the evidence of every
    bucket since the rise began, so a 20-point rise on a topic with a few stories a minute is found
    once enough stories have arrived, whatever the window. Under the usual share it drifts down by
    about 0.05 per story (``p0`` 0.3, ``shift`` 0.15); a false alarm at level ``h`` comes about once
    in ``e**h`` stories (``h`` 10: one in 22,000); a rise of ``shift`` alarms after about ``h / 0.05``
    stories, of 20 points after about ``h / 0.08``. The state lives in the topic's baseline (it is
    checkpointed with it), so one rule per topic should use this detector. An alarm also needs the rule's window to show the
    share ``min_delta`` above the usual, so it ends once the window's share is back; the statistic is
    capped at twice ``h`` so that one long rise is not remembered for hours after."""

    name: ClassVar[str] = "negative_share_cusum"

    def __init__(self, **params: Any) -> None:
        self.p = NegativeShareCusumParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        b, w, bucket = ctx.baseline, ctx.window, ctx.latest
        share, base = w.share("negative"), b.negative_share
        if b.age < ctx.warmup_buckets or w.count == 0:
            if ctx.closed:
                b.share_cusum = 0.0
            return Detection(False, 0.0, round(share, 4), round(base, 4), f"'{ctx.key}' is warming up")
        stat = b.share_cusum
        if bucket is not None and bucket.count > 0:
            p0 = min(max(base, 0.02), 0.95)
            p1 = min(p0 + self.p.shift, 0.99)
            k = bucket.by_sentiment.get("negative", 0)
            llr = k * math.log(p1 / p0) + (bucket.count - k) * math.log((1 - p1) / (1 - p0))
            stat = min(max(0.0, stat + llr), 2 * self.p.h)
            if ctx.closed:
                b.share_cusum = stat
        breached = stat >= self.p.h and share - base >= self.p.min_delta
        summary = (f"negative share for '{ctx.key}' is {share:.0%} of {w.count} stories in {_span(ctx)}, "
                   f"usually {base:.0%} (evidence of a rise {stat:.1f}, alarm at {self.p.h:g})")
        return Detection(breached, round(stat, 3), round(share, 4), round(base, 4), summary)


class SentimentDriftParams(DetectorParams):
    k: float = Field(0.5, ge=0, description="slack per bucket, in standard deviations of a bucket's mean")
    h: float = Field(8.0, gt=0, description="alarm level of the cumulative sum")
    min_volume_ratio: float = Field(0.5, ge=0, description="judge windows with at least this share of the usual volume")


class SentimentDrift:
    """Sustained downward drift of mean sentiment: a one-sided CUSUM over closed buckets.

    Each bucket adds its own standardised shortfall once: ``(usual - mean) / sd - k``, where ``sd``
    is the spread of a bucket mean of that many messages (``TopicBaseline.bucket_mean_sd``), so a
    quiet night bucket of three messages weighs less than a busy one of thirty. With ``k`` 0.5 and
    ``h`` 8, a normal stream reaches the alarm about once in 19,000 buckets (Siegmund's
    approximation), about 13 days of one-minute buckets per topic; a shift of one bucket standard
    deviation alarms after about 16 buckets."""

    name: ClassVar[str] = "sentiment_drift"

    def __init__(self, **params: Any) -> None:
        self.p = SentimentDriftParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        b, w = ctx.baseline, ctx.window
        bucket = ctx.latest
        if b.sent_seen < ctx.warmup_buckets or w.count == 0:
            if ctx.closed:
                b.cusum = 0.0
            return Detection(False, 0.0, w.mean_sentiment, b.sent_mean, f"'{ctx.key}' is warming up")
        cusum = b.cusum
        # a window far below its usual volume holds another population (the news gone quiet, the chat left):
        # its mean says nothing about the topic's mood, so it neither adds nor resets
        comparable = w.count >= self.p.min_volume_ratio * ctx.expected_count
        if bucket is not None and bucket.count > 0 and comparable:
            z = (b.sent_mean - bucket.mean_sentiment) / max(b.bucket_mean_sd(bucket.count), 1e-3)
            cusum = max(0.0, cusum + z - self.p.k)
            if ctx.closed:
                b.cusum = cusum  # accumulate once per closed bucket, not per evaluation
        summary = (f"mean sentiment for '{ctx.key}' is {w.mean_sentiment:+.2f} over {_span(ctx)}, "
                   f"usually {b.sent_mean:+.2f} (drift statistic {cusum:.1f})")
        return Detection(cusum >= self.p.h, round(cusum, 3), round(w.mean_sentiment, 4), round(b.sent_mean, 4), summary)


class EmergingTopicParams(DetectorParams):
    max_expected: float = Field(1.0, ge=0, description="the topic counts as near zero below this expected count")


class EmergingTopic:
    """A topic that was near zero now has real volume."""

    name: ClassVar[str] = "emerging_topic"

    def __init__(self, **params: Any) -> None:
        self.p = EmergingTopicParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        observed, expected = ctx.window.count, ctx.expected_count
        if ctx.store_age < ctx.warmup_buckets:
            return Detection(False, 0.0, observed, expected, "warming up")
        breached = expected <= self.p.max_expected and observed > 3 * max(expected, 1.0)
        summary = f"'{ctx.key}' is emerging: {observed} stories in {_span(ctx)}, expected {expected:.1f}"
        return Detection(breached, float(observed) - expected, observed, round(expected, 3), summary)


class NegativeShareThresholdParams(DetectorParams):
    threshold: float = Field(0.6, gt=0, le=1)


class NegativeShareThreshold:
    """Share of negative messages above a fixed threshold (no baseline needed)."""

    name: ClassVar[str] = "negative_share"

    def __init__(self, **params: Any) -> None:
        self.p = NegativeShareThresholdParams(**params)

    def detect(self, ctx: DetectionContext) -> Detection:
        share = ctx.window.share("negative")
        summary = (f"negative share for '{ctx.key}' is {share:.0%} of {ctx.window.count} stories in {_span(ctx)} "
                   f"(threshold {self.p.threshold:.0%})")
        return Detection(share > self.p.threshold, round(share - self.p.threshold, 4), round(share, 4), self.p.threshold, summary)


def _span(ctx: DetectionContext) -> str:
    seconds = ctx.window.end - ctx.window.start
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
