"""Incident grouping: one cause seen by several rules or topics is one notification, then updates and a resolution."""

from __future__ import annotations

from dataclasses import replace

from monitor.alerts.incidents import IncidentGrouper
from monitor.alerts.lifecycle import fingerprint
from monitor.records import Alert, AlertState, Exemplar
from monitor.settings import AlertingSettings


def alert(rule: str, topic: str, state: AlertState = AlertState.FIRING, severity: str = "warning", score: float = 5.0,
          reminder: bool = False) -> Alert:
    return Alert(rule=rule, key=topic, state=state, severity=severity, fingerprint=fingerprint(rule, topic),
                 summary=f"{rule} on {topic}", observed=1.0, expected=0.5, score=score, window_seconds=600,
                 starts_at=0.0, labels={"alertname": rule, "topic": topic, "severity": severity},
                 exemplars=(Exemplar(f"{topic}-1", f"a story about {topic}", 0.9),), terms=(f"{topic}word",),
                 reminder=reminder)


def grouper(**settings: object) -> IncidentGrouper:
    return IncidentGrouper(AlertingSettings(**{"group_wait_seconds": 30, "group_interval_seconds": 600, **settings}))


def test_alerts_of_several_rules_and_topics_at_once_are_one_notification_naming_them() -> None:
    g = grouper()
    assert g.step([alert("negative-share-surge", "business", severity="critical")], 100) == [], "waits group_wait"
    assert g.step([alert("sentiment-drift", "business", severity="info"), alert("volume-surge", "tech")], 120) == []
    [note] = g.step([], 131)
    assert note.state is AlertState.FIRING and not note.reminder
    assert note.rule == "negative-share-surge" and note.severity == "critical", "the most severe alert leads"
    assert note.labels["topics"] == "business,tech"
    assert note.labels["rules"] == "negative-share-surge,sentiment-drift,volume-surge"
    assert note.summary.startswith("3 alerts on 2 topics (business, tech): ")
    assert [p.rule for p in note.parts] == ["negative-share-surge", "volume-surge", "sentiment-drift"]
    assert note.annotations["parts"].count("\n") == 2
    assert {e.id for e in note.exemplars} == {"business-1", "tech-1"}, "every topic's story is shown"
    assert g.step([alert("volume-surge", "tech")], 200) == [], "an unchanged incident is not notified again"


def test_a_later_alert_is_an_update_at_most_once_per_group_interval_and_all_resolved_is_one_resolution() -> None:
    g = grouper()
    g.step([alert("volume-surge", "tech")], 0)
    [first] = g.step([], 30)
    assert g.step([alert("volume-surge", "sport")], 100) == [], "inside group_interval"
    [update] = g.step([], 630)
    assert update.fingerprint == first.fingerprint, "one incident: receivers deduplicate on it"
    assert update.labels["topics"] == "sport,tech" and not update.reminder
    g.step([alert("volume-surge", "tech", AlertState.RESOLVED)], 700)
    assert g.step([alert("volume-surge", "sport", AlertState.RESOLVED)], 800) == [], "resolution waits group_interval"
    [resolved] = g.step([], 1230)
    assert resolved.state is AlertState.RESOLVED and resolved.ends_at == 1230
    assert resolved.fingerprint == first.fingerprint and resolved.summary.startswith("resolved: ")
    assert g.groups == {}


def test_a_blip_that_resolves_before_group_wait_is_never_notified() -> None:
    g = grouper()
    g.step([alert("volume-surge", "tech")], 0)
    assert g.step([alert("volume-surge", "tech", AlertState.RESOLVED)], 20) == []
    assert g.step([], 1000) == [] and g.groups == {}


def test_reminders_follow_the_rules_at_most_once_per_group_interval_or_a_fixed_repeat() -> None:
    g = grouper()
    g.step([alert("volume-surge", "tech")], 0)
    g.step([], 30)
    [reminder] = g.step([alert("volume-surge", "tech", reminder=True)], 3630)
    assert reminder.reminder and reminder.state is AlertState.FIRING
    assert g.step([alert("sentiment-drift", "tech")], 3640) == []
    fixed = grouper(repeat_interval_seconds=7200)
    fixed.step([alert("volume-surge", "tech")], 0)
    fixed.step([], 30)
    assert fixed.step([alert("volume-surge", "tech", reminder=True)], 3630) == [], "the fixed interval decides"
    assert [n.reminder for n in fixed.step([], 7230)] == [True]


def test_grouping_by_rule_and_topic_sends_each_alert_on_its_own_with_its_fingerprint() -> None:
    g = grouper(group_by=("alertname", "topic"), group_wait_seconds=0)
    notes = g.step([alert("volume-surge", "tech"), alert("volume-surge", "sport")], 0)
    assert sorted(n.fingerprint for n in notes) == sorted([fingerprint("volume-surge", "tech"),
                                                           fingerprint("volume-surge", "sport")])
    assert all(n.summary == f"volume-surge on {n.key}" for n in notes)


def test_open_incidents_survive_a_restart() -> None:
    g = grouper()
    g.step([alert("volume-surge", "tech")], 0)
    [first] = g.step([], 30)
    again = grouper()
    again.restore(g.to_state())
    [resolved] = again.step([replace(alert("volume-surge", "tech"), state=AlertState.RESOLVED)], 700)
    assert resolved.fingerprint == first.fingerprint and resolved.state is AlertState.RESOLVED
    assert Alert.from_json(resolved.to_json()) == resolved, "parts travel through the outbox and the alert topic"
