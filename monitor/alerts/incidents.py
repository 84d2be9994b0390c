"""Incidents, not alert storms: notifications grouped the way Alertmanager groups them.

The lifecycle decides, per rule and topic, when an alert fires and resolves. One cause is
often seen by several rules (the negative share and the mean sentiment move together) or on
several topics at once (a market-wide sell-off); sent one by one, that is a dozen messages for
one incident. Here alerts whose ``group_by`` labels are equal (by default all of them: one
group) form an incident:

* a new incident is notified ``group_wait`` after its first alert, with every alert that joined
  meanwhile;
* alerts that join later are notified together, at most once per ``group_interval``;
* while nothing changes, a reminder when one of its rules' ``repeat_interval`` comes round (or
  every ``alerting.repeat_interval_seconds``, when set);
* when every alert has resolved, one resolved notification (also after ``group_interval``).

A notification is one ``Alert`` whose ``parts`` are the incident's alerts: its summary names the
topics and the rules, its labels carry ``incident``, ``topics`` and ``rules``, and its fingerprint
is the incident's, so receivers that deduplicate by fingerprint (Alertmanager) see one alert
that fires, updates and resolves. Time is event time, as in the lifecycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from monitor.records import Alert, AlertState
from monitor.settings import AlertingSettings

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
MAX_EXEMPLARS = 5


@dataclass(slots=True)
class Group:
    """One open incident."""

    key: tuple[str, ...]
    created: float
    firing: dict[str, Alert] = field(default_factory=dict)  # fingerprint -> latest firing alert
    resolved: dict[str, Alert] = field(default_factory=dict)  # resolved since the last notification
    notified: set[str] = field(default_factory=set)  # fingerprints in the last notification
    last_sent: float | None = None
    reminder_due: bool = False  # a part's rule asked for a reminder since the last notification
    created_wall: float = float("-inf")  # monotonic clock at creation; unknown (long ago) after a restart

    @property
    def id(self) -> str:
        return hashlib.sha256(f"{self.key}\x00{self.created}".encode()).hexdigest()[:16]

    def to_state(self) -> dict[str, Any]:
        return {"key": list(self.key), "created": self.created, "last_sent": self.last_sent, "reminder_due": self.reminder_due,
                "notified": sorted(self.notified), "firing": {fp: a.to_json() for fp, a in self.firing.items()},
                "resolved": {fp: a.to_json() for fp, a in self.resolved.items()}}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Group:
        return cls(tuple(s["key"]), s["created"], {fp: Alert.from_json(a) for fp, a in s["firing"].items()},
                   {fp: Alert.from_json(a) for fp, a in s["resolved"].items()}, set(s["notified"]), s["last_sent"],
                   bool(s.get("reminder_due", False)))


class IncidentGrouper:
    """Turns the lifecycle's per-alert notifications into incident notifications."""

    def __init__(self, settings: AlertingSettings) -> None:
        self.settings = settings
        self.groups: dict[tuple[str, ...], Group] = {}
        # grouped by rule and topic, a group is one alert: it keeps that alert's own fingerprint
        self.per_alert = {"alertname", "topic"} <= set(settings.group_by)

    def step(self, notes: list[Alert], now: float, wall: float | None = None) -> list[Alert]:
        """Take this evaluation's lifecycle notifications; return the incident notifications due now.

        ``now`` is event time. The live daemon also passes ``wall`` (a monotonic clock): when the
        stream stalls right after a breach, event time stands still, and the first notification
        goes out once ``group_wait`` has passed on the wall clock instead."""
        s = self.settings
        for alert in notes:
            key = tuple(alert.labels.get(name, "") for name in s.group_by)
            group = self.groups.get(key)
            if alert.state is AlertState.FIRING:
                if group is None:
                    group = self.groups[key] = Group(key, now)
                    group.created_wall = wall if wall is not None else float("-inf")
                group.firing[alert.fingerprint] = alert
                group.reminder_due = group.reminder_due or alert.reminder
                group.resolved.pop(alert.fingerprint, None)
            elif group is not None and alert.fingerprint in group.firing:
                del group.firing[alert.fingerprint]
                group.resolved[alert.fingerprint] = alert
        out = []
        for key, group in list(self.groups.items()):
            note = self._due(group, now, wall)
            if note is not None:
                out.append(note)
            if not group.firing and (group.last_sent is None or note is not None):
                del self.groups[key]  # all resolved: notified as such, or never notified at all
        return out

    def _due(self, group: Group, now: float, wall: float | None) -> Alert | None:
        s = self.settings
        if group.last_sent is None:
            waited = now - group.created >= s.group_wait_seconds or (
                wall is not None and wall - group.created_wall >= s.group_wait_seconds)
            if group.firing and waited:
                return self._send(group, now, reminder=False)
            return None
        since = now - group.last_sent
        if not group.firing:
            return self._resolved(group, now) if since >= s.group_interval_seconds else None
        if set(group.firing) - group.notified and since >= s.group_interval_seconds:
            return self._send(group, now, reminder=False)
        repeat = s.repeat_interval_seconds
        if (since >= repeat) if repeat is not None else (group.reminder_due and since >= s.group_interval_seconds):
            return self._send(group, now, reminder=True)
        return None

    def _send(self, group: Group, now: float, reminder: bool) -> Alert:
        group.last_sent, group.notified, group.reminder_due = now, set(group.firing), False
        group.resolved.clear()
        return _incident(group, list(group.firing.values()), AlertState.FIRING, reminder, self.per_alert)

    def _resolved(self, group: Group, now: float) -> Alert:
        parts = list(group.resolved.values())
        return replace(_incident(group, parts, AlertState.RESOLVED, False, self.per_alert), ends_at=now)

    def to_state(self) -> list[dict[str, Any]]:
        """Plain data for a checkpoint."""
        return [g.to_state() for g in self.groups.values()]

    def restore(self, state: list[dict[str, Any]]) -> None:
        """Load a checkpoint written by ``to_state``."""
        self.groups = {tuple(s["key"]): Group.from_state(s) for s in state}


def _incident(group: Group, parts: list[Alert], state: AlertState, reminder: bool, per_alert: bool) -> Alert:
    """One notification for the incident: its most severe, strongest alert leads; the rest are listed."""
    parts = sorted(parts, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -a.score, a.key, a.rule))
    lead = parts[0]
    topics = sorted({p.key for p in parts})
    rules = sorted({p.rule for p in parts})
    if len(parts) == 1:
        summary = lead.summary
    else:
        summary = f"{len(parts)} alerts on {len(topics)} topic{'s' * (len(topics) > 1)} ({', '.join(topics)}): {lead.summary}"
    if state is AlertState.RESOLVED:
        summary = f"resolved: {summary}"
    exemplars = []
    seen = set()
    for p in parts:  # the strongest first, then the others', so that every topic can show its story
        for e in p.exemplars:
            if e.id not in seen and len(exemplars) < MAX_EXEMPLARS:
                seen.add(e.id)
                exemplars.append(e)
    terms = tuple(dict.fromkeys(t for p in parts for t in p.terms))[:8]
    annotations = {**lead.annotations, "summary": summary,
                   "parts": "\n".join(f"{p.rule} on {p.key}: {p.summary}" for p in parts)}
    if terms:
        annotations["terms"] = ", ".join(terms)
    labels = {**lead.labels, "incident": lead.fingerprint if per_alert else group.id, "topics": ",".join(topics), "rules": ",".join(rules),
              "severity": max((p.severity for p in parts), key=lambda v: SEVERITY_RANK.get(v, 0))}
    return replace(lead, state=state, fingerprint=lead.fingerprint if per_alert else group.id, summary=summary, severity=labels["severity"],
                   starts_at=group.created, labels=labels, annotations=annotations, exemplars=tuple(exemplars),
                   terms=terms, reminder=reminder, parts=tuple(parts))
