"""Scoring notifications against known events: what `monitor backtest --events` reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alerts.lifecycle import fingerprint
from monitor.records import Alert, AlertState
from monitor.scoring import EventsFileError, KnownEvent, read_events, score


def note(topic: str, rule: str = "volume-surge", reminder: bool = False, topics: str | None = None) -> Alert:
    labels = {"alertname": rule, "topic": topic, **({"topics": topics} if topics else {})}
    return Alert(rule, topic, AlertState.FIRING, "warning", fingerprint(rule, topic), "s", 1, 1, 1, 60, 0,
                 labels=labels, reminder=reminder)


def test_events_file_takes_epoch_and_iso_times_and_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('# injected\n{"kind": "volume", "topic": "tech", "start": 60, "end": "1970-01-01T00:10:00Z"}\n'
                    '{"kind": "copies", "topic": "sport", "start": 0, "end": 10, "alert": false}\n')
    assert read_events(path) == [KnownEvent("volume", "tech", 60.0, 600.0), KnownEvent("copies", "sport", 0, 10, False)]
    path.write_text('{"kind": "volume", "start": 1}\n')
    with pytest.raises(EventsFileError, match=r"events.jsonl:1: .*'end'"):
        read_events(path)


def test_true_and_false_notifications_delays_and_must_not_alert_events() -> None:
    events = [KnownEvent("volume", "tech", 1000, 2800), KnownEvent("negative", "sport", 5000, 6800),
              KnownEvent("copies", "business", 9000, 9600, alert=False)]
    notes = [
        (1180.0, note("tech")),  # 3 buckets after the start: detected
        (1300.0, note("tech", reminder=True)),  # reminders never count
        (1400.0, note("__all__")),  # the market-wide key during an event: not false, not a detection
        (3000.0, note("tech")),  # inside the grace after the end: still the event's
        (4000.0, note("politics")),  # nothing happened there: false
        (9100.0, note("business", rule="negative-share-surge")),  # false, raised by a must-not-alert event
        (9200.0, note("tech", topics="business,tech")),  # an incident naming the copied story's topic
    ]
    s = score(notes, events, bucket_seconds=60, topics=4, span_seconds=2 * 86400)
    assert s.notifications == 6 and s.false == 3
    assert s.false_by_rule == {"volume-surge": 2, "negative-share-surge": 1}
    assert s.false_per_topic_day == pytest.approx(3 / 8)
    tech, sport, copies = s.events
    assert tech.detected_at == 1180 and tech.delay_buckets == pytest.approx(3.0)
    assert sport.detected_at is None
    assert copies.raised == 2
    kinds = s.by_kind()
    assert kinds["volume"]["detected"] == 1 and kinds["negative"]["detected"] == 0 and kinds["copies"]["raised"] == 2
