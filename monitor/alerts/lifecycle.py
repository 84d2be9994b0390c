"""The alert lifecycle as Alertmanager users know it: pending -> firing -> resolved.

One state per fingerprint (rule + topic). A breach starts *pending*; held for the rule's
``for`` it becomes *firing* and is notified once; while firing, a reminder goes out every
``repeat_interval``; once no breach has been seen for ``resolve_after`` (hysteresis) it is
*resolved* and that is notified too. Silenced or inhibited alerts keep their state but
are not notified; when the mute lifts, a still-firing alert is notified then. Time is the
evaluation clock (event time), so a backtest behaves exactly like the live daemon.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from monitor.records import Alert, AlertState
from monitor.settings import AlertingSettings, InhibitSettings


def fingerprint(rule: str, key: str) -> str:
    """Stable identity of an alert: the same rule on the same topic deduplicates."""
    return hashlib.sha256(f"{rule}\x00{key}".encode()).hexdigest()[:16]


@dataclass(slots=True)
class Tracked:
    """Lifecycle state of one fingerprint."""

    phase: str  # "pending" | "firing"
    since: float  # first breach of this episode
    last_breach: float
    last_sent: float | None = None  # last firing notification (None: not yet notified)
    alert: Alert | None = None  # latest verdict, for muted re-sends and the status page


def matches(labels: dict[str, str], matchers: dict[str, str]) -> bool:
    """Every matcher's glob matches the label's value."""
    return all(fnmatch.fnmatchcase(labels.get(k, ""), v) for k, v in matchers.items())


class Lifecycle:
    """Steps fingerprints through their phases and decides which notifications go out."""

    def __init__(self, settings: AlertingSettings) -> None:
        self.settings = settings
        self.tracked: dict[str, Tracked] = {}
        self.muted_notifications = 0

    def firing(self) -> list[Alert]:
        """Alerts currently firing (whether or not muted)."""
        return [t.alert for t in self.tracked.values() if t.phase == "firing" and t.alert]

    def step(self, alert: Alert, breached: bool, now: float, for_seconds: float, resolve_after: float,
             repeat_interval: float) -> list[Alert]:
        """Advance one fingerprint with this evaluation; return the notifications due (maybe none)."""
        fp = alert.fingerprint
        t = self.tracked.get(fp)
        if breached:
            if t is None:
                t = self.tracked[fp] = Tracked("pending", now, now)
            t.last_breach = now
            if t.phase == "pending" and now - t.since >= for_seconds:
                t.phase = "firing"
            current = replace(alert, state=AlertState.FIRING if t.phase == "firing" else AlertState.PENDING, starts_at=t.since)
            t.alert = current
            if t.phase != "firing":
                return []
            if t.last_sent is None:
                return self._send(t, current, now)
            if now - t.last_sent >= repeat_interval:
                return self._send(t, replace(current, reminder=True), now)
            return []
        if t is None:
            return []
        if t.phase == "pending":
            del self.tracked[fp]
            return []
        if now - t.last_breach < resolve_after:
            # hysteresis: still firing; a muted alert may become sendable
            return self._send(t, t.alert, now) if t.last_sent is None and t.alert else []
        del self.tracked[fp]
        if t.last_sent is None:
            return []  # never notified (muted throughout): nothing to resolve downstream
        resolved = replace(alert, state=AlertState.RESOLVED, starts_at=t.since, ends_at=now)
        return [resolved]

    def _send(self, t: Tracked, alert: Alert, now: float) -> list[Alert]:
        if self._muted(alert, now):
            self.muted_notifications += 1
            return []
        t.last_sent = now
        return [alert]

    def _muted(self, alert: Alert, now: float) -> bool:
        at = datetime.fromtimestamp(now, tz=timezone.utc)
        for silence in self.settings.silences:
            if (silence.starts_at is None or silence.starts_at <= at) and (silence.ends_at is None or at < silence.ends_at):
                if matches(alert.labels, silence.matchers):
                    return True
        return any(self._inhibited(alert, rule) for rule in self.settings.inhibit)

    def _inhibited(self, alert: Alert, rule: InhibitSettings) -> bool:
        if not matches(alert.labels, rule.target):
            return False
        for t in self.tracked.values():
            if t.phase != "firing" or t.alert is None or t.alert.fingerprint == alert.fingerprint:
                continue
            source = t.alert.labels
            if matches(source, rule.source) and all(source.get(k) == alert.labels.get(k) for k in rule.equal):
                return True
        return False

    def to_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint (alerts serialised only here, not on every evaluation)."""
        return {fp: {**asdict(t), "alert": t.alert.to_json() if t.alert else None} for fp, t in self.tracked.items()}

    def restore(self, state: dict[str, Any]) -> None:
        """Load a checkpoint written by ``to_state``."""
        self.tracked = {
            fp: Tracked(**{**t, "alert": Alert.from_json(t["alert"]) if t.get("alert") else None})
            for fp, t in state.items()
        }
