"""State that cannot grow without end: the sink outbox by age and size, the near-duplicate index by entries."""

from __future__ import annotations

import os
import random

from structlog.testing import capture_logs

from monitor.metrics import Metrics
from monitor.records import Alert, AlertState
from monitor.settings import SinkSettings
from monitor.sinks import OutboxLimits, SinkDispatcher, load_sink
from monitor.trends.dedup import NearDuplicateIndex

ALERT = Alert("r", "k", AlertState.FIRING, "warning", "fp", "s", 1.0, 0.5, 0.5, 60.0, 0.0)
BROKEN = SinkSettings(name="down", type="tests.unit.test_sinks:Broken")


async def test_a_sink_down_for_good_keeps_only_its_newest_entries(tmp_path) -> None:
    metrics = Metrics()
    dispatcher = SinkDispatcher([load_sink(BROKEN)], metrics, tmp_path, retry_seconds=3600,
                                limits=[OutboxLimits(max_entries=3, max_age_seconds=3600)])
    await dispatcher.start()
    with capture_logs() as logs:
        for rule in "abcdefg":
            await dispatcher.dispatch([Alert(rule, "k", AlertState.FIRING, "warning", "fp", "s", 1, 0.5, 0.5, 60, 0)])
        await dispatcher.drain(10)
    await dispatcher.stop()
    kept = sorted((tmp_path / "down").glob("*.json"))
    assert len(kept) == 3
    assert metrics.registry.get_sample_value("textmon_sink_alerts_discarded_total", {"sink": "down", "reason": "overflow"}) == 4
    discarded = [e for e in logs if e["event"] == "sink outbox entry discarded"]
    assert sorted(r for e in discarded for r in e["rules"]) == ["a", "b", "c", "d"]


async def test_entries_older_than_the_limit_are_discarded_and_counted(tmp_path) -> None:
    metrics = Metrics()
    old = tmp_path / "down" / f"{(1_000_000_000 * 10**9):020d}-deadbeef.json"  # written in 2001
    old.parent.mkdir(parents=True)
    old.write_text('[{"rule": "r", "key": "k", "state": "firing", "severity": "warning", "fingerprint": "fp", '
                   '"summary": "s", "observed": 1, "expected": 0.5, "score": 0.5, "window_seconds": 60, "starts_at": 0}]')
    dispatcher = SinkDispatcher([load_sink(BROKEN)], metrics, tmp_path, retry_seconds=3600,
                                limits=[OutboxLimits(max_entries=100, max_age_seconds=60)])
    await dispatcher.start()
    await dispatcher.drain(10)
    await dispatcher.stop()
    assert not old.exists()
    assert metrics.registry.get_sample_value("textmon_sink_alerts_discarded_total", {"sink": "down", "reason": "expired"}) == 1
    assert os.listdir(tmp_path / "down") == []


def test_the_near_duplicate_index_has_a_hard_cap_whatever_the_event_times() -> None:
    index = NearDuplicateIndex(window_seconds=3600, max_entries=1000)
    rng = random.Random(7)
    for _ in range(5000):  # a producer that stamps every message with the same time
        index.seen_fingerprint(rng.getrandbits(64), 1_700_000_000.0)
    assert len(index) == 1000
    assert index.band_entries() == 4 * 1000  # no leak in the bands
