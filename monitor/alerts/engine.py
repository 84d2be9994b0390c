"""The alert engine: closes trend buckets, runs every rule's detector, and steps the lifecycle.

Called after each batch of enriched records (and by the backtest, with the same code).
Closed buckets are evaluated with their complete data and then learned into the
baselines (clipped, so a surge is not learned as normal); the open bucket is evaluated too,
so a surge is seen before its bucket closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.explain import over_represented
from monitor.alerts.incidents import IncidentGrouper
from monitor.alerts.lifecycle import Lifecycle, fingerprint
from monitor.alerts.rules import Rule
from monitor.alerts.versions import VersionSpans
from monitor.detectors.base import DetectionContext
from monitor.records import Alert, AlertState
from monitor.settings import AlertingSettings
from monitor.trends import ALL, TopicBaseline, TrendStore
from monitor.trends.baseline import OUTLIER_SD


@dataclass(slots=True)
class EngineStats:
    """Counters the daemon turns into metrics."""

    evaluations: int = 0
    closed_buckets: int = 0


class AlertEngine:
    """Rules over a trend store, with the Alertmanager-style lifecycle."""

    def __init__(self, rules: list[Rule], alerting: AlertingSettings | None = None, warmup_buckets: int = 60,
                 grouped: bool = True) -> None:
        """``grouped`` false: ``advance`` returns the lifecycle's notifications themselves (the judge
        tier, whose alerts are grouped into incidents where they are delivered)."""
        # market-wide rules first, so the alerts they raise can inhibit per-topic ones in the same round
        self.rules = sorted(rules, key=lambda r: ALL not in r.settings.topics)
        self.lifecycle = Lifecycle(alerting or AlertingSettings())
        self.incidents = IncidentGrouper(alerting or AlertingSettings())
        self.grouped = grouped
        self.warmup_buckets = warmup_buckets
        self.stats = EngineStats()
        self._now = 0.0  # the latest evaluation's event time

    @property
    def firing(self) -> list[Alert]:
        """Alerts currently firing."""
        return self.lifecycle.firing()

    def advance(self, store: TrendStore, model_versions: dict[str, str] | VersionSpans, evaluate_open: bool = True,
                wall: float | None = None) -> list[Alert]:
        """Close due buckets (evaluating each), then evaluate the open bucket (unless told not to:
        the daemon spaces those out under load); return the incident notifications due. The live
        daemon passes ``wall``, a monotonic clock (see ``IncidentGrouper.step``), and the versions by
        bucket, so each alert names the models behind its own window."""
        out: list[Alert] = []
        for index in store.due():
            notes = self._evaluate(store, index, model_versions, closed=True)
            self._now = self._clock(store, index)
            out += self.incidents.step(notes, self._now, wall) if self.grouped else notes
            store.close(index, self._clip(store, index))
            self.stats.closed_buckets += 1
        if store.watermark and evaluate_open:
            index = store.index(store.watermark)
            notes = self._evaluate(store, index, model_versions, closed=False)
            self._now = self._clock(store, index)
            out += self.incidents.step(notes, self._now, wall) if self.grouped else notes
        return out

    def tick(self, wall: float) -> list[Alert]:
        """Incident notifications that came due on the wall clock while event time stood still."""
        return self.incidents.step([], self._now, wall) if self.grouped else []

    def to_state(self) -> dict[str, object]:
        """Lifecycle and open incidents as plain data, for the checkpoint."""
        return {"lifecycle": self.lifecycle.to_state(), "incidents": self.incidents.to_state()}

    def restore(self, state: dict[str, object]) -> None:
        """Load ``to_state``'s data (or a lifecycle-only checkpoint of an earlier version)."""
        if "lifecycle" in state and "incidents" in state:
            self.lifecycle.restore(state["lifecycle"])  # type: ignore[arg-type]
            self.incidents.restore(state["incidents"])  # type: ignore[arg-type]
        else:
            self.lifecycle.restore(state)  # type: ignore[arg-type]

    @staticmethod
    def _clock(store: TrendStore, end_index: int) -> float:
        """The evaluation clock for a bucket: its end, or the watermark while it is open."""
        now = (end_index + 1) * store.bucket_seconds
        return min(now, store.watermark) if store.watermark else now

    def _clip(self, store: TrendStore, index: int) -> dict[str, float]:
        t = store.bucket_time(index)
        clip = {}
        for key, baseline in store.baselines.items():
            if baseline.age >= self.warmup_buckets:
                expected = baseline.expected(t)
                clip[key] = expected + OUTLIER_SD * baseline.count_sd(expected)
        return clip

    def _evaluate(self, store: TrendStore, end_index: int, versions: dict[str, str] | VersionSpans,
                  closed: bool) -> list[Alert]:
        now = self._clock(store, end_index)
        out: list[Alert] = []
        keys = store.keys()
        latest = {key: store.window(key, store.bucket_seconds, end_index) for key in keys}
        latest_expected = {key: store.expected_in_window(key, store.bucket_seconds, end_index) for key in keys}
        for rule in self.rules:
            s = rule.settings
            if isinstance(versions, VersionSpans):
                width = max(1, round(s.window_seconds / store.bucket_seconds))
                models = versions.within(end_index - width + 1, end_index)
            else:
                models = versions
            for key in keys:
                if not rule.applies_to(key):
                    continue
                baseline = store.baselines.setdefault(key, TopicBaseline())
                window = store.window(key, s.window_seconds, end_index)
                expected = store.expected_in_window(key, s.window_seconds, end_index)
                ctx = DetectionContext(key, window, expected, baseline, store.age, self.warmup_buckets, closed,
                                       latest[key], latest_expected[key])
                detection = rule.detector.detect(ctx)
                self.stats.evaluations += 1
                breached = detection.breached and window.count >= s.min_volume
                fp = fingerprint(s.name, key)
                if not breached and fp not in self.lifecycle.tracked:
                    continue
                terms = ()
                if breached:
                    inside, before = store.window_terms(key, s.window_seconds, end_index)
                    terms = over_represented(inside, before)
                labels = {"alertname": s.name, "topic": key, "severity": s.severity, "detector": rule.detector.name,
                          **s.labels}
                annotations = {
                    "summary": detection.summary,
                    "description": (f"observed {detection.observed} vs expected {detection.expected} "
                                    f"(score {detection.score}) over {s.window_seconds:.0f}s"),
                    **{k: v.replace("{topic}", key).replace("{rule}", s.name) for k, v in s.annotations.items()},
                }
                if terms:
                    annotations["terms"] = ", ".join(terms)
                alert = Alert(
                    rule=s.name, key=key, state=AlertState.FIRING, severity=s.severity, fingerprint=fp,
                    summary=detection.summary, observed=float(detection.observed), expected=float(detection.expected),
                    score=detection.score, window_seconds=s.window_seconds, starts_at=now, labels=labels,
                    annotations=annotations, exemplars=window.exemplars, model_versions=dict(models),
                    detector=rule.detector.name, terms=terms,
                )
                out += self.lifecycle.step(alert, breached, now, s.for_seconds, s.resolve_after_seconds,
                                           s.repeat_interval_seconds)
        return out
