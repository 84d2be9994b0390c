"""Detectors and the lifecycle on synthetic traffic: quiet streams stay quiet, steps alert and resolve."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.alerts import AlertEngine, build_rule
from monitor.detectors.base import DetectionContext, DetectorConfigError, load_detector
from monitor.records import AlertState
from monitor.settings import AlertingSettings, RuleSettings, preset_rules
from monitor.simulate import Scenario, Surge, make_scenario, replay_scenario, score
from monitor.trends import BaselineConfig, TopicBaseline, TrendConfig, TrendStore, WindowStats

BUCKET = 300.0
WARMUP = 288  # one day of 5-minute buckets


def rules(**overrides: Any) -> list[RuleSettings]:
    # z = 5: a strict threshold, so that pure sampling noise over the thousands of evaluations in one
    # example cannot fire (at the default 4 a stationary stream sees ~0.2 false alerts per topic-day,
    # which bench/detection.py measures)
    common = {"window_seconds": 600, "min_volume": 20, "resolve_after_seconds": 900, "params": {"z": 5.0}, **overrides}
    return [RuleSettings(name="volume", detector="volume_surge", **common),
            RuleSettings(name="negative", detector="negative_share_shift", **common)]


def run(scenario: Scenario, **rule_overrides: Any) -> list:  # type: ignore[type-arg]
    store = TrendStore(TrendConfig(bucket_seconds=BUCKET, allowed_lateness_seconds=0, dedup_window_seconds=0,
                                   baseline=BaselineConfig(bucket_seconds=BUCKET, warmup_buckets=WARMUP)))
    engine = AlertEngine([build_rule(r) for r in rules(**rule_overrides)], warmup_buckets=WARMUP)
    return replay_scenario(scenario, store, engine, steps=2)


def quiet(seed: int, rate: float) -> Scenario:
    return make_scenario(days=2.5, topics=("business", "tech"), bucket_seconds=BUCKET, base_rate=rate,
                         surges_per_topic_day=0.0, dispersion=1.0, seed=seed)


# Each example judges some 6,000 windows, so even at z 5 a false alert is not impossible: 2 of 2,400
# random draws had one (both real 5-sigma shares). Drawn afresh, this test would fail about one CI run
# in 150 for nothing; fixed examples keep runs reproducible, and a detector that gets noisy still fails.
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(0, 10_000), rate=st.floats(5, 30))
def test_no_alert_on_a_stationary_seasonal_stream(seed: int, rate: float) -> None:
    scenario = quiet(seed, rate)
    scenario.surges.clear()
    notes = run(scenario)
    assert [a for _, a in notes if a.key != "__all__"] == []


START = 1_767_225_600.0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["volume", "negative"]), hour=st.integers(30, 50))
def test_a_step_change_alerts_and_resolves_after_it_ends(seed: int, kind: str, hour: int) -> None:
    surge = Surge("tech", kind, START + hour * 3600, START + (hour + 1) * 3600, 4.0 if kind == "volume" else 0.8)
    scenario = make_scenario(days=2.5, topics=("business", "tech"), bucket_seconds=BUCKET, base_rate=20.0,
                             dispersion=1.0, seed=seed, start=START, surges=[surge])
    notes = [(t, a) for t, a in run(scenario) if a.key == "tech"]
    firing = [t for t, a in notes if a.state is AlertState.FIRING and not a.reminder]
    resolved = [t for t, a in notes if a.state is AlertState.RESOLVED]
    assert firing and surge.start <= firing[0] <= surge.start + 3 * BUCKET
    assert resolved and surge.end < resolved[-1] <= surge.end + 600 + 900 + 3 * BUCKET


def test_the_default_rules_catch_synthetic_surges_without_false_alerts() -> None:
    """The shipped rules on synthetic counts (bench/detection.py measures them on real texts and models)."""
    scenario = make_scenario(days=3, topics=("business", "politics", "tech"), seed=11)
    store = TrendStore(TrendConfig(bucket_seconds=60, allowed_lateness_seconds=0, dedup_window_seconds=0,
                                   baseline=BaselineConfig(bucket_seconds=60, warmup_buckets=60)))
    alerting = AlertingSettings(group_by=("alertname", "topic"), group_wait_seconds=0, group_interval_seconds=0)
    engine = AlertEngine([build_rule(r) for r in preset_rules("medium")], alerting, warmup_buckets=60)
    result = score(scenario, replay_scenario(scenario, store, engine))
    assert result.surges >= 8
    assert result.recall >= 0.95
    assert result.false_per_topic_day <= 0.5
    # at 20 stories a minute the evidence of a share surge adds up within a few buckets
    assert result.median_delay_buckets <= 5.0


def window(count: int, negative: int, mean: float = 0.0) -> WindowStats:
    return WindowStats("tech", 0, 600, count, {"negative": negative, "neutral": count - negative}, mean, (), 0, 2)


def warmed(**fields: Any) -> TopicBaseline:
    return TopicBaseline(**{"age": 1000, "sent_seen": 1000, "profile_ready": True, **fields})


@pytest.mark.parametrize(
    ("detector", "ctx", "breached"),
    [
        ("volume_surge", DetectionContext("tech", window(100, 10), 40.0, warmed(dispersion=1.0), 1000, 60), True),
        ("volume_surge", DetectionContext("tech", window(50, 10), 40.0, warmed(dispersion=1.0), 1000, 60), False),
        ("volume_surge", DetectionContext("tech", window(100, 10), 40.0, warmed(age=10), 1000, 60), False),
        ("volume_surge", DetectionContext("tech", window(100, 10), 40.0, warmed(profile_ready=False), 1000, 60), False),
        ("negative_share_shift", DetectionContext("tech", window(100, 60), 100.0, warmed(neg_rate=3, all_rate=10), 1000, 60), True),
        ("negative_share_shift", DetectionContext("tech", window(100, 35), 100.0, warmed(neg_rate=3, all_rate=10), 1000, 60), False),
        ("negative_share_cusum", DetectionContext("tech", window(100, 60), 100.0, warmed(neg_rate=3, all_rate=10), 1000, 60,
                                                  latest=window(100, 60)), True),
        ("negative_share_cusum", DetectionContext("tech", window(100, 35), 100.0, warmed(neg_rate=3, all_rate=10), 1000, 60,
                                                  latest=window(100, 35)), False),
        ("emerging_topic", DetectionContext("tech", window(30, 0), 0.2, warmed(), 1000, 60), True),
        ("emerging_topic", DetectionContext("tech", window(30, 0), 25.0, warmed(), 1000, 60), False),
        ("negative_share", DetectionContext("tech", window(10, 7), 0.0, TopicBaseline(), 0, 60), True),
    ],
)
def test_detectors_judge_windows(detector: str, ctx: DetectionContext, breached: bool) -> None:
    result = load_detector("r", detector, {}).detect(ctx)
    assert result.breached is breached
    assert result.summary and "tech" in result.summary


def test_sentiment_drift_adds_each_closed_bucket_once_weighted_by_its_messages() -> None:
    drift = load_detector("r", "sentiment_drift", {"h": 20.0})
    baseline = warmed(sent_mean=0.2, message_var=0.04)

    def judge(w: WindowStats, expected: float, closed: bool = True) -> bool:
        return drift.detect(DetectionContext("tech", w, expected, baseline, 1000, 60, closed, latest=w)).breached

    busy = window(40, 5, mean=-0.1)  # a bucket mean of 40 messages varies by 0.032: this is 9.5 of those below
    assert not any(judge(busy, 40, closed=False) for _ in range(10)) and baseline.cusum == 0.0, \
        "judging the open bucket does not accumulate"
    assert [judge(busy, 40) for _ in range(3)] == [False, False, True]
    baseline.cusum = 0.0
    judge(window(4, 1, mean=-0.1), 4)  # the same shortfall in 4 messages is 3 of their standard deviations
    assert baseline.cusum == pytest.approx(3.0 - 0.5, abs=0.01)
    judge(window(10, 9, mean=-0.9), 40)  # a quarter of the usual volume: another population, not judged
    assert baseline.cusum == pytest.approx(2.5, abs=0.01)


def test_negative_share_cusum_finds_a_rise_a_window_test_cannot_see() -> None:
    """8 stories a minute, usually 30 % negative, now 50 %: a 10-minute window holds 80 stories, z 3.9,
    below the window test's 4 in every window; the sequential statistic finds it after about 16 buckets."""
    cusum = load_detector("r", "negative_share_cusum", {"h": 10.0, "shift": 0.15})
    window_test = load_detector("r", "negative_share_shift", {"z": 4.0})
    baseline = warmed(neg_rate=3, all_rate=10)

    def judge(bucket: WindowStats, w: WindowStats, closed: bool = True) -> bool:
        return cusum.detect(DetectionContext("tech", w, 80, baseline, 1000, 60, closed, latest=bucket)).breached

    usual, risen = window(8, 2), window(8, 4)  # 25 % and 50 % negative
    assert not any(judge(usual, window(80, 24)) for _ in range(500)) and baseline.share_cusum == 0.0
    assert not any(judge(risen, window(80, 40), closed=False) for _ in range(50)) and baseline.share_cusum == 0.0, \
        "judging the open bucket does not accumulate"
    assert not window_test.detect(DetectionContext("tech", window(80, 40), 80, baseline, 1000, 60)).breached
    alarms = [judge(risen, window(80, 40)) for _ in range(40)]
    assert alarms.index(True) in range(12, 18) and all(alarms[alarms.index(True):])
    assert baseline.share_cusum == pytest.approx(20.0), "capped at twice h"
    # back to usual: the window's share is what ends the alarm
    assert not judge(usual, window(80, 22))


def test_detector_params_are_validated_at_load_naming_the_rule() -> None:
    with pytest.raises(DetectorConfigError, match="rule 'r1'.*volume_surge"):
        load_detector("r1", "volume_surge", {"z": -1})
    with pytest.raises(DetectorConfigError, match="rule 'r2': no detector 'nope'"):
        load_detector("r2", "nope", {})
