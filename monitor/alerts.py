"""Alert rules over trend windows, and the firing / resolved lifecycle per rule and topic.

A rule turns a ``WindowStats`` into a ``Verdict``; the engine keeps one state per
(rule, key) fingerprint and emits an ``Alert`` only on transitions, so sinks see each
firing once and its resolution once.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import Protocol

from monitor.records import Alert, AlertState
from monitor.settings import RuleSettings
from monitor.trends import TrendStore, WindowStats


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's reading of one window: whether it breaches, and the numbers it used."""

    breached: bool
    observed: float
    expected: float
    score: float
    summary: str


class Rule(Protocol):
    """An alert rule: which keys it watches, its window, and how it judges a window."""

    name: str
    severity: str
    window_seconds: float
    labels: dict[str, str]
    annotations: dict[str, str]

    def applies_to(self, key: str) -> bool:
        """Whether the rule watches this trend key."""
        ...

    def judge(self, stats: WindowStats) -> Verdict:
        """Read one window."""
        ...


class NegativeShareRule:
    """Fires when the share of negative messages over the window exceeds a threshold at minimum volume."""

    def __init__(self, settings: RuleSettings) -> None:
        self.name = settings.name
        self.severity = settings.severity
        self.window_seconds = settings.window_seconds
        self.threshold = settings.threshold
        self.min_volume = settings.min_volume
        self.topics = settings.topics
        self.labels = dict(settings.labels)
        self.annotations = dict(settings.annotations)

    def applies_to(self, key: str) -> bool:
        """Glob match against the configured topic patterns."""
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.topics)

    def judge(self, stats: WindowStats) -> Verdict:
        """Breached when volume >= min_volume and negative share > threshold."""
        share = stats.share("negative")
        breached = stats.count >= self.min_volume and share > self.threshold
        summary = (
            f"negative share for topic '{stats.key}' is {share:.0%} of {stats.count} messages "
            f"over {self.window_seconds:.0f}s (threshold {self.threshold:.0%}, min volume {self.min_volume})"
        )
        return Verdict(breached, round(share, 4), self.threshold, round(share - self.threshold, 4), summary)


def build_rule(settings: RuleSettings) -> Rule:
    """The rule object for a settings entry."""
    if settings.kind == "negative_share":
        return NegativeShareRule(settings)
    raise ValueError(f"unknown rule kind {settings.kind!r}")


def fingerprint(rule: str, key: str) -> str:
    """Stable identity of an alert: the same rule on the same topic deduplicates."""
    return hashlib.sha256(f"{rule}\x00{key}".encode()).hexdigest()[:16]


class AlertEngine:
    """Evaluates rules on trend windows and emits alerts on state transitions."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._firing: dict[str, Alert] = {}

    @property
    def firing(self) -> list[Alert]:
        """Alerts currently firing."""
        return list(self._firing.values())

    def evaluate(self, store: TrendStore, model_versions: dict[str, str]) -> list[Alert]:
        """Judge every rule on every key at the current watermark; return new firings and resolutions."""
        out: list[Alert] = []
        keys = set(store.keys()) | {a.key for a in self._firing.values()}
        for rule in self.rules:
            for key in sorted(keys):
                if rule.applies_to(key):
                    alert = self._step(rule, store.window(key, rule.window_seconds), store.watermark, model_versions)
                    if alert is not None:
                        out.append(alert)
        return out

    def _step(self, rule: Rule, stats: WindowStats, now: float, versions: dict[str, str]) -> Alert | None:
        fp = fingerprint(rule.name, stats.key)
        verdict = rule.judge(stats)
        current = self._firing.get(fp)
        if verdict.breached and current is None:
            alert = self._alert(rule, stats, verdict, fp, AlertState.FIRING, now, None, versions)
            self._firing[fp] = alert
            return alert
        if not verdict.breached and current is not None:
            del self._firing[fp]
            return self._alert(rule, stats, verdict, fp, AlertState.RESOLVED, current.starts_at, now, versions)
        return None

    @staticmethod
    def _alert(
        rule: Rule, stats: WindowStats, verdict: Verdict, fp: str, state: AlertState,
        starts_at: float, ends_at: float | None, versions: dict[str, str],
    ) -> Alert:
        labels = {"alertname": rule.name, "topic": stats.key, "severity": rule.severity, **rule.labels}
        annotations = {"summary": verdict.summary, **{k: v.replace("{topic}", stats.key) for k, v in rule.annotations.items()}}
        return Alert(
            rule=rule.name, key=stats.key, state=state, severity=rule.severity, fingerprint=fp,
            summary=verdict.summary, observed=verdict.observed, expected=verdict.expected, score=verdict.score,
            window_seconds=rule.window_seconds, starts_at=starts_at, ends_at=ends_at, labels=labels,
            annotations=annotations, exemplars=stats.exemplars, model_versions=dict(versions),
        )
