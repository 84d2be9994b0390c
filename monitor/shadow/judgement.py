"""What the trends and alerts would have been with the candidate's labels.

Two trend stores and alert engines, with the live rules and no sinks, are fed the same sampled
messages: one with the live labels, one with the candidate's. Their alerts differ only because the
labels do, whatever the sample rate (at a rate below one the sampled volumes are lower than the
live ones, so both sides see the same thinned stream). Knows nothing of Kafka or models.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Sequence

from monitor.alerts import AlertEngine, build_rule
from monitor.records import Alert, Enriched
from monitor.settings import Settings
from monitor.trends import TrendStore
from monitor.trends.store import TextFeatures
from monitor.wiring import trend_config

SIDES = ("live", "candidate")


class ShadowSide:
    """One side's trend store and alert engine, and the notifications it would have sent."""

    def __init__(self, settings: Settings) -> None:
        self.trends = TrendStore(trend_config(settings))
        # ungrouped: the lifecycle's own notifications, one per rule and topic, so the two sides compare rule by rule
        self.alerts = AlertEngine([build_rule(r) for r in settings.rules], settings.alerting,
                                  settings.trends.warmup_buckets, grouped=False)
        self.raised: Counter[tuple[str, str]] = Counter()  # (rule, state) -> notifications, reminders left out

    def observe(self, enriched: Sequence[Enriched], features: Sequence[TextFeatures]) -> list[Alert]:
        """Count a batch and judge; returns the notifications it would have sent (reminders left out)."""
        self.trends.add_batch(enriched, features=features)
        versions = dict(enriched[0].model_versions) if enriched else {}
        notes = [a for a in self.alerts.advance(self.trends, versions, True, wall=time.monotonic()) if not a.reminder]
        for alert in notes:
            self.raised[(alert.rule, alert.state.value)] += 1
        return notes

    def to_json(self) -> dict[str, Any]:
        """Notifications by rule and state, what fires now, and each topic's count in the store."""
        raised: dict[str, dict[str, int]] = {}
        for (rule, state), n in sorted(self.raised.items()):
            raised.setdefault(rule, {})[state] = n
        return {
            "raised": raised,
            "firing": sorted(({"rule": a.rule, "topic": a.key} for a in self.alerts.firing),
                             key=lambda a: (a["rule"], a["topic"])),
            "topics": {key: sum(b.count for b in self.trends.buckets.get(key, {}).values()) for key in self.trends.keys()},
        }


class ShadowJudgement:
    """The live and the candidate side, fed the same messages."""

    def __init__(self, settings: Settings) -> None:
        self.sides = {side: ShadowSide(settings) for side in SIDES}

    def observe(self, live: Sequence[Enriched], candidate: Sequence[Enriched],
                features: Sequence[TextFeatures]) -> dict[str, list[Alert]]:
        """Feed both sides one batch; returns each side's notifications."""
        return {"live": self.sides["live"].observe(live, features),
                "candidate": self.sides["candidate"].observe(candidate, features)}

    def to_json(self) -> dict[str, Any]:
        """Both sides, as ``/api/shadow`` shows them."""
        return {side: s.to_json() for side, s in self.sides.items()}
