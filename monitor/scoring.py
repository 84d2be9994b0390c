"""Score notifications against known events: recall, false notifications per topic-day, delay.

Used by ``monitor backtest FILE --events EVENTS`` and the detection benchmark. An events file
holds JSON lines ``{"kind": ..., "topic": ..., "start": ..., "end": ..., "alert": true}`` (times as
epoch seconds or ISO-8601; ``"alert": false`` marks an event that must raise nothing, ``"topic":
"*"`` one that touches every topic). A firing notification (reminders not counted) is *true* when
one of its topics has an event that expects an alert running at that time (or ended less than
``grace_seconds`` before); the market-wide key ``__all__`` matches any such event. Every other
firing notification is *false*. An event is *detected* by the first true notification that names
its topic; its delay is counted in buckets from the event's start.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from monitor.records import Alert, AlertState
from monitor.trends import ALL

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class KnownEvent:
    """Something that happened (or was injected) in a stream, and whether it should alert."""

    kind: str
    topic: str
    start: float
    end: float
    alert: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "topic": self.topic, "start": self.start, "end": self.end, "alert": self.alert}

    def touches(self, topic: str) -> bool:
        return self.topic in ("*", topic) or topic == ALL


class EventsFileError(ValueError):
    """An events file line is not a known event; the message names the line."""


def _time(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    raise TypeError(f"not a time: {value!r}")


def read_events(path: Path) -> list[KnownEvent]:
    """Known events from a JSON-lines file (blank lines and ``#`` comments skipped)."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(line)
            out.append(KnownEvent(str(obj["kind"]), str(obj.get("topic", "*")), _time(obj["start"]), _time(obj["end"]),
                                  bool(obj.get("alert", True))))
        except (ValueError, KeyError, TypeError) as exc:
            raise EventsFileError(f"{path}:{number}: not an event ({exc}); expected kind, topic, start, end, alert") from exc
    return out


def alert_topics(alert: Alert) -> tuple[str, ...]:
    """The topics a notification is about: an incident's parts, or the alert's own key."""
    topics = alert.labels.get("topics")
    return tuple(topics.split(",")) if topics else (alert.key,)


@dataclass(slots=True)
class EventResult:
    """One known event and what was seen of it."""

    event: KnownEvent
    detected_at: float | None = None
    delay_buckets: float | None = None
    rules: set[str] = field(default_factory=set)
    raised: int = 0  # notifications on a must-not-alert event


@dataclass(slots=True)
class Score:
    """Recall per kind, false notifications (total and per rule), delays."""

    events: list[EventResult]
    notifications: int
    false: int
    false_by_rule: Counter[str]
    topic_days: float
    false_notes: list[tuple[float, Alert]] = field(default_factory=list)

    @property
    def false_per_topic_day(self) -> float:
        return self.false / self.topic_days if self.topic_days else 0.0

    def by_kind(self) -> dict[str, dict[str, Any]]:
        """Per event kind: how many, detected (or raised, for must-not-alert kinds), median delay."""
        out: dict[str, dict[str, Any]] = {}
        for kind in dict.fromkeys(r.event.kind for r in self.events):
            rows = [r for r in self.events if r.event.kind == kind]
            delays = [r.delay_buckets for r in rows if r.delay_buckets is not None]
            out[kind] = {
                "events": len(rows), "alert": rows[0].event.alert,
                "detected": sum(r.detected_at is not None for r in rows),
                "raised": sum(r.raised for r in rows),
                "median_delay_buckets": statistics.median(delays) if delays else None,
                "delays": delays, "rules": sorted(set().union(*(r.rules for r in rows))),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {"notifications": self.notifications, "false": self.false, "topic_days": round(self.topic_days, 3),
                "false_per_topic_day": round(self.false_per_topic_day, 3), "false_by_rule": dict(self.false_by_rule),
                "by_kind": self.by_kind()}


def parts_of(alert: Alert) -> Sequence[Alert]:
    """The alerts an incident notification groups (itself when it is a plain alert)."""
    return alert.parts or (alert,)


def score(notifications: Iterable[tuple[float, Alert]], events: Sequence[KnownEvent], bucket_seconds: float,
          topics: int, span_seconds: float, grace_seconds: float = 900.0) -> Score:
    """Match firing notifications to events; ``topics`` and ``span_seconds`` give the topic-days."""
    results = [EventResult(e) for e in events]
    positive = [r for r in results if r.event.alert]
    negative = [r for r in results if not r.event.alert]
    sent = false = 0
    false_notes: list[tuple[float, Alert]] = []
    by_rule: Counter[str] = Counter()
    for at, alert in notifications:
        if alert.state is not AlertState.FIRING or alert.reminder:
            continue
        sent += 1
        names = alert_topics(alert)
        hits = [r for r in positive if r.event.start <= at <= r.event.end + grace_seconds
                and any(r.event.touches(t) for t in names)]
        for r in hits:
            r.rules.update(p.rule for p in parts_of(alert))
            if r.detected_at is None and (r.event.topic in names or r.event.topic == "*"):
                r.detected_at = at
                r.delay_buckets = max(0.0, (at - r.event.start) / bucket_seconds)
        if hits:
            continue
        false += 1
        false_notes.append((at, alert))
        by_rule.update(p.rule for p in parts_of(alert))
        for r in negative:
            if r.event.start <= at <= r.event.end + grace_seconds and any(r.event.touches(t) for t in names if t != ALL):
                r.raised += 1
    return Score(results, sent, false, by_rule, topics * span_seconds / DAY, false_notes)
