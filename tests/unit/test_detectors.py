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
        ("volume_cusum", DetectionContext("tech", window(100, 10), 40.0, warmed(dispersion=1.0, count_cusum=12.0), 1000, 60,
                                          latest=window(10, 1), latest_expected=4.0), True),
        ("volume_cusum", DetectionContext("tech", window(70, 10), 40.0, warmed(dispersion=1.0, count_cusum=12.0), 1000, 60,
                                          latest=window(10, 1), latest_expected=4.0), False),
        ("volume_cusum", DetectionContext("tech", window(100, 10), 40.0, warmed(profile_ready=False, count_cusum=12.0), 1000,
                                          60, latest=window(10, 1), latest_expected=4.0), False),
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


def test_volume_cusum_finds_a_tripled_quiet_topic_that_a_window_test_cannot_see() -> None:
    """Half a story a minute, then three times that: a 3-minute window holds 4 or 5 stories where 1.5
    were expected (z about 2, far below 4); the sequential statistic finds it after about 16 buckets."""
    cusum = load_detector("r", "volume_cusum", {"h": 10.0, "ratio": 2.5})
    window_test = load_detector("r", "volume_surge", {"z": 4.0})
    baseline = warmed(dispersion=1.0)

    def judge(count: int, w: WindowStats, expected: float, closed: bool = True) -> bool:
        ctx = DetectionContext("tech", w, expected, baseline, 1000, 60, closed, latest=window(count, 0),
                               latest_expected=0.5)
        return cusum.detect(ctx).breached

    assert not any(judge(i % 2, window(5, 0), 5.0) for _ in range(100) for i in range(2)), "usual traffic"
    assert baseline.count_cusum < 1.0
    assert not any(judge(3, window(15, 0), 5.0, closed=False) for _ in range(50)) and baseline.count_cusum < 1.0, \
        "judging the open bucket does not accumulate"
    assert not window_test.detect(DetectionContext("tech", window(5, 0), 1.5, baseline, 1000, 60)).breached
    alarms = [judge(1 + i % 2, window(15, 0), 5.0) for i in range(40)]
    assert alarms.index(True) in range(12, 20) and all(alarms[alarms.index(True):])
    assert baseline.count_cusum == pytest.approx(20.0), "capped at twice h"
    assert not judge(2, window(8, 0), 5.0), "the window back under twice its expected count ends the alarm"
    # a bursty topic's counts carry less evidence: the same rise at dispersion 3 takes three times as long
    bursty = warmed(dispersion=3.0)
    rise = [cusum.detect(DetectionContext("tech", window(15, 0), 5.0, bursty, 1000, 60, latest=window(1 + i % 2, 0),
                                          latest_expected=0.5)).breached for i in range(60)]
    assert rise.index(True) >= 3 * 12


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_a_volume_cusum_rule_finds_a_tripled_quiet_topic_through_the_engine(seed: int) -> None:
    """Under one story a minute, tripled for an hour: the engine hands the statistic each closed bucket
    and its expectation, and the rule fires within the hour and nowhere else, where the 3-minute
    window rule finds it late or not at all."""
    surge = Surge("tech", "volume", START + 38 * 3600, START + 39 * 3600, 3.0)
    scenario = make_scenario(days=2.5, topics=("tech",), bucket_seconds=60, base_rate=0.8, dispersion=1.0,
                             seed=seed, start=START, surges=[surge])
    store = TrendStore(TrendConfig(bucket_seconds=60, allowed_lateness_seconds=0, dedup_window_seconds=0,
                                   baseline=BaselineConfig(bucket_seconds=60, warmup_buckets=60)))
    rules = [RuleSettings(name="surge", detector="volume_surge", window_seconds=180, min_volume=10),
             RuleSettings(name="rise", detector="volume_cusum", window_seconds=600, min_volume=10)]
    alerting = AlertingSettings(group_by=("alertname", "topic"), group_wait_seconds=0, group_interval_seconds=0)
    engine = AlertEngine([build_rule(r) for r in rules], alerting, warmup_buckets=60)
    fired = [(t, a.rule) for t, a in replay_scenario(scenario, store, engine)
             if a.state is AlertState.FIRING and not a.reminder]
    rise = [t for t, rule in fired if rule == "rise"]
    assert rise and all(surge.start <= t <= surge.end for t, _ in fired)
    assert rise[0] <= surge.start + 15 * 60
    assert rise[0] <= min([t for t, rule in fired if rule == "surge"], default=surge.end)


def test_detector_params_are_validated_at_load_naming_the_rule() -> None:
    with pytest.raises(DetectorConfigError, match="rule 'r1'.*volume_surge"):
        load_detector("r1", "volume_surge", {"z": -1})
    with pytest.raises(DetectorConfigError, match="rule 'r2': no detector 'nope'"):
        load_detector("r2", "nope", {})
