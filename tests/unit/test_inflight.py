"""The in-flight cap: fixed when configured, else about two seconds of work at the measured rate."""

from __future__ import annotations

import pytest

from monitor.inflight import AUTO_CEILING, AUTO_FLOOR, AUTO_SECONDS, InFlightLimit
from monitor.settings import load_settings


def run(limit: InFlightLimit, rate: float, seconds: float, start: float = 0.0, done: int = 0) -> tuple[int, float, int]:
    """Complete ``rate`` messages a second for ``seconds``, polling every 50 ms; (cap, end time, done)."""
    t = start
    cap = limit.limit
    while t < start + seconds:
        t += 0.05
        done += int(rate * 0.05)
        cap = limit.update(done, t)
    return cap, t, done


def test_a_configured_count_is_kept_whatever_the_rate() -> None:
    limit = InFlightLimit(64)
    assert run(limit, 50_000, 5)[0] == 64
    assert limit.ceiling == 64


def test_auto_holds_two_seconds_of_work_at_the_rate_the_pipeline_completes() -> None:
    limit = InFlightLimit(None)
    assert limit.limit == AUTO_FLOOR  # nothing measured yet
    cap, t, done = run(limit, 6_000, 12)
    assert cap == pytest.approx(6_000 * AUTO_SECONDS, rel=0.05)
    # the rate falls (a slower model, a busier host): the cap follows within the measuring window
    cap, t, done = run(limit, 2_000, 12, t, done)
    assert cap == pytest.approx(2_000 * AUTO_SECONDS, rel=0.05)
    cap, _, _ = run(limit, 300, 12, t, done)
    assert cap == AUTO_FLOOR  # never under the window the batcher sorts by length under a backlog


def test_auto_never_holds_more_than_its_ceiling() -> None:
    assert run(InFlightLimit(None), 10 * AUTO_CEILING, 3)[0] == AUTO_CEILING


def test_max_in_flight_is_auto_by_default_and_a_count_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("MONITOR_BATCH__MAX_IN_FLIGHT", raising=False)
    assert load_settings().batch.max_in_flight == "auto"
    monkeypatch.setenv("MONITOR_BATCH__MAX_IN_FLIGHT", "8192")
    assert load_settings().batch.max_in_flight == 8192
