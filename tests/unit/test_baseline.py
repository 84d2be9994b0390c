"""What a topic's baseline learns as noise: the dispersion of its counts around their expectation."""

from __future__ import annotations

import math

import numpy as np

from monitor.alerts import AlertEngine, build_rule
from monitor.settings import RuleSettings
from monitor.simulate import Surge, make_scenario
from monitor.trends import BaselineConfig, TopicBaseline, TrendConfig, TrendStore
from monitor.trends.baseline import OUTLIER_SD

BUCKET = 300.0
START = 1_767_225_600.0  # midnight UTC
CFG = BaselineConfig(bucket_seconds=BUCKET)


def learn(counts: list[tuple[float, float]], baseline: TopicBaseline | None = None,
          until_hour: float = 1e9, cfg: BaselineConfig = CFG) -> TopicBaseline:
    """Feed closed buckets as the alert engine does: once warm, counts above 3 sd are clipped."""
    b = baseline or TopicBaseline()
    for t, count in counts:
        if t >= START + until_hour * 3600:
            break
        if b.age >= CFG.warmup_buckets:
            expected = b.expected(t)
            count = min(count, expected + OUTLIER_SD * b.count_sd(expected))
        b.update(t, count, 0.3 * count, None, cfg)
    return b


def poisson_day_cycle(seed: int, surges: list[Surge] | None = None) -> list[tuple[float, float]]:
    """A Poisson stream (true variance-to-mean ratio 1) with a +-60 % daily cycle, ~100 stories a bucket."""
    scenario = make_scenario(days=2.5, topics=("tech",), bucket_seconds=BUCKET, base_rate=20.0, dispersion=1.0,
                             surges_per_topic_day=0.0, seed=seed, start=START, surges=surges or [])
    return [(t, float(sum(c["tech"].values()))) for t, c in scenario.buckets]


def test_the_first_day_counts_the_daily_cycle_as_noise_until_the_profile_exists() -> None:
    # before the hour-of-day profile, the level cannot follow the cycle: a large dispersion is what
    # keeps the first day's morning rise from alerting
    assert learn(poisson_day_cycle(1), until_hour=20).dispersion > 5


def test_once_the_profile_exists_the_dispersion_is_the_noise_within_the_hour() -> None:
    for seed in range(3):
        b = learn(poisson_day_cycle(seed), until_hour=25)
        assert b.profile_ready
        assert 0.99 <= b.dispersion < 1.6, seed  # it had been 15-30, all of it the daily cycle


def test_a_surge_or_an_outage_does_not_teach_the_noise_level() -> None:
    surge = Surge("tech", "volume", START + 40 * 3600, START + 42 * 3600, 4.0)
    before = learn(poisson_day_cycle(5), until_hour=40).dispersion
    assert learn(poisson_day_cycle(5, [surge]), until_hour=42).dispersion < before * 1.1
    outage = [(t, 0.0 if START + 40 * 3600 <= t < START + 42 * 3600 else c) for t, c in poisson_day_cycle(5)]
    assert learn(outage, until_hour=42).dispersion < before * 1.1


def test_steady_noisier_traffic_still_raises_the_dispersion() -> None:
    # from the Poisson's 1 to a ratio of ~20 (the rate itself wanders): outliers are judged against
    # the current estimate, so the estimate must still climb to the new level within hours
    quiet = learn(poisson_day_cycle(2), until_hour=30)
    bursty = make_scenario(days=2.5, topics=("tech",), bucket_seconds=BUCKET, base_rate=20.0, dispersion=1.2,
                           surges_per_topic_day=0.0, seed=2, start=START)
    later = [(t, float(sum(c["tech"].values()))) for t, c in bursty.buckets if t >= START + 30 * 3600]
    assert learn(later, quiet, until_hour=50).dispersion > 8


def test_a_checkpoint_from_before_the_hourly_squares_still_loads() -> None:
    state = learn(poisson_day_cycle(1), until_hour=20).to_state()
    del state["hour_squares"]
    b = TopicBaseline.from_state(state)
    for t, count in poisson_day_cycle(1)[240:300]:
        b.update(t, count, 0.3 * count, None, CFG)
    # the profile is built; the dispersion goes on from the learned value rather than from squares
    # that cover only the last few hours
    assert b.profile_ready and b.dispersion > 3


def test_a_surge_in_a_bucket_across_an_hour_boundary_is_learned_as_the_surge_it_was_clipped_as() -> None:
    # 7-minute buckets do not divide an hour: the one from 01:59 to 02:06 begins in a busy hour and has
    # its middle in a quiet one. The alert engine clips the surge against the bucket's expectation, and
    # the baseline must learn the clipped count against that same expectation, or the clip looks like
    # an outage in the busy hour and drags the level down
    store = TrendStore(TrendConfig(bucket_seconds=420, allowed_lateness_seconds=0, dedup_window_seconds=0,
                                   startup_grace_seconds=0))
    profile = [1.0] * 24
    profile[1], profile[2] = 2.0, 0.5
    baseline = TopicBaseline(age=2000, level=100.0, profile=profile, profile_ready=True)
    store.baselines["tech"] = baseline
    engine = AlertEngine([build_rule(RuleSettings(name="volume", detector="volume_surge"))], warmup_buckets=0)
    straddling = START + 7140  # 01:59:00
    assert store.add_counts("tech", straddling + 60, {"neutral": 1000}, 0.0)
    assert store.add_counts("other", straddling + 480, {"neutral": 1}, 0.0)  # moves the watermark on
    engine.advance(store, {})
    assert store.last_closed == store.index(straddling)
    assert baseline.last_high_outlier == 2000 and baseline.last_low_outlier < 0
    assert baseline.dispersion == 1.0 and baseline.level > 100.0


def test_an_hour_of_silence_barely_lowers_the_level_so_traffic_coming_back_is_no_surge() -> None:
    counts = poisson_day_cycle(5)
    warm = learn([(t, c) for t, c in counts if t < START + 30 * 3600])
    assert warm.profile_ready
    before = warm.level
    silent = [(START + 30 * 3600 + i * BUCKET, 0.0) for i in range(12)]  # an hour of 5-minute buckets
    after = learn(silent, warm)
    # learnt at full weight, an hour of zeros cuts the level by 7 % here (12 of its 120-bucket half-life), by
    # 29 % with one-minute buckets
    assert after.level >= 0.97 * before
    quiet_day = learn([(START + 31 * 3600 + i * BUCKET, 0.6 * after.expected(START + 31 * 3600 + i * BUCKET))
                       for i in range(288)], after)
    # a lasting drop is still learnt: slowly where it is beyond 3 sd (busy hours), at full weight elsewhere
    assert quiet_day.level <= 0.9 * before


def test_a_quiet_topics_usual_sentiment_is_the_mean_of_its_messages_not_of_its_first() -> None:
    # a topic that starts at night with a story every seven minutes: the first story's sentiment must
    # not anchor the usual mean (it kept half its weight a day later, and a whole day of drift alarms
    # followed when the topic's real mood was found "drifting" away from it)
    b = TopicBaseline()
    cfg = BaselineConfig(bucket_seconds=60.0)
    moods = [0.9] + [(-0.8, 0.0, 0.0, 0.8)[i % 4] for i in range(205)]
    for i in range(206 * 7):
        if i % 7 == 0:
            b.update(START + 60.0 * i, 1, 0, moods[i // 7], cfg, sentiment_n=1)
        else:
            b.update(START + 60.0 * i, 0, 0, None, cfg)
    assert b.sent_seen == 206
    assert abs(b.sent_mean - sum(moods) / len(moods)) < 0.03


MONDAY = START + 4 * 86400  # 2026-01-05, a Monday
WEEKLY = BaselineConfig(bucket_seconds=BUCKET, weekly=True)


def weekly_counts(seed: int, days: int, weekend: float, surge: tuple[float, float] | None = None,
                  utc_offset_hours: int = 0) -> list[tuple[float, int]]:
    """Poisson counts in 5-minute buckets from a Monday's midnight: a daily cycle, Saturdays and Sundays at
    ``weekend`` of weekday volume (days and hours local to ``utc_offset_hours``), five times the volume
    inside ``surge``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(int(days * 86400 / BUCKET)):
        t = MONDAY - utc_offset_hours * 3600 + i * BUCKET
        local = t + utc_offset_hours * 3600
        hour, weekday = (local % 86400) / 3600, int((local - MONDAY) // 86400) % 7
        rate = 100.0 * (1.0 + 0.6 * math.sin(2 * math.pi * (hour - 9) / 24)) * (weekend if weekday >= 5 else 1.0)
        if surge and surge[0] <= t < surge[1]:
            rate *= 5.0
        out.append((t, int(rng.poisson(rate))))
    return out


def volume_alerts(counts: list[tuple[float, int]], cfg: BaselineConfig) -> list[float]:
    """When the volume rule fires over these counts, through the trend store and the alert engine."""
    store = TrendStore(TrendConfig(bucket_seconds=BUCKET, allowed_lateness_seconds=0, dedup_window_seconds=0,
                                   market_wide=False, baseline=cfg))
    engine = AlertEngine([build_rule(RuleSettings(name="volume", detector="volume_surge", window_seconds=BUCKET))],
                         warmup_buckets=CFG.warmup_buckets)
    times = []
    for t, count in counts:
        store.add_counts("markets", t + 1, {"neutral": count}, 0.0)
        times += [a.starts_at for a in engine.advance(store, {}, evaluate_open=False) if a.state == "firing"]
    return times


def test_each_weekday_learns_its_own_volume_once_every_weekday_has_been_seen_whole() -> None:
    counts = [(t, float(c)) for t, c in weekly_counts(3, 16, weekend=0.2)]
    assert not learn(counts, cfg=CFG).weekday_ready  # off unless asked for
    six_days = learn(counts[: 6 * 288], cfg=WEEKLY)
    assert not six_days.weekday_ready and six_days.week_factor(MONDAY + 5.5 * 86400) == 1.0
    b = learn(counts, cfg=WEEKLY)
    assert b.weekday_ready and b.days_seen == [3, 2, 2, 2, 2, 2, 2]  # the last Tuesday is not over yet
    sunday, monday = MONDAY + 13 * 86400 + 12 * 3600, MONDAY + 14 * 86400 + 12 * 3600
    assert 0.16 <= b.expected(sunday) / b.expected(monday) <= 0.25
    noon_hour = np.mean([100.0 * (1.0 + 0.6 * math.sin(2 * math.pi * (12 + m / 60 - 9) / 24)) for m in range(0, 60, 5)])
    assert 0.9 <= b.expected(monday) / noon_hour <= 1.1  # a weekday's noon, at weekday volume


def test_a_sunday_surge_is_found_at_sunday_volume_and_monday_morning_is_no_surge() -> None:
    # a weekend at a tenth of weekday volume: without the weekday factor the level keeps most of the
    # weekday's (a drop is learnt slowly, it may be an outage), and five times Sunday's volume stays under it
    sunday_noon = MONDAY + 13 * 86400 + 12 * 3600
    counts = weekly_counts(4, 15, weekend=0.1, surge=(sunday_noon, sunday_noon + 1800))
    found = volume_alerts(counts, WEEKLY)
    assert len(found) == 1 and sunday_noon < found[0] <= sunday_noon + BUCKET  # as its first bucket closed
    # without it: the surge is missed, and the step back to weekday volume after the first weekend fires
    without = volume_alerts(counts, CFG)
    assert not [t for t in without if sunday_noon < t <= sunday_noon + 1800]
    assert [t for t in without if MONDAY + 7 * 86400 <= t < MONDAY + 7.5 * 86400]


def test_days_must_begin_at_the_feeds_local_midnight() -> None:
    # a New York feed (UTC-5): its Friday evening is UTC Saturday 00:00-05:00, at weekday volume
    counts = weekly_counts(7, 15, weekend=0.1, utc_offset_hours=-5)
    assert volume_alerts(counts, BaselineConfig(bucket_seconds=BUCKET, weekly=True, day_start_hour=5)) == []
    # counted in UTC days, that evening is judged against Saturday's volume and fires
    second_friday_evening = MONDAY + 12 * 86400  # UTC Saturday 00:00
    fired = volume_alerts(counts, WEEKLY)
    assert any(second_friday_evening <= t < second_friday_evening + 5 * 3600 for t in fired)


def test_checkpoints_load_across_one_release_either_way() -> None:
    b = learn([(t, float(c)) for t, c in weekly_counts(5, 9, weekend=0.3)], cfg=WEEKLY)
    assert b.weekday_ready
    state = b.to_state()
    # written before the day-of-week factor: the factor starts over, the rest is kept
    older = {k: v for k, v in state.items() if k not in ("weekday", "weekday_ready", "day_totals", "days_seen",
                                                         "day", "day_sum", "day_buckets", "day_start_hour")}
    restored = TopicBaseline.from_state(older)
    assert not restored.weekday_ready and restored.level == b.level and restored.profile == b.profile
    # written by a later release with a field this one does not know: loads, without it
    assert TopicBaseline.from_state({**state, "a_later_field": [1, 2]}) == b


def test_turning_the_weekday_factor_off_or_moving_the_day_start_goes_back_to_a_level_that_follows_the_day() -> None:
    counts = [(t, float(c)) for t, c in weekly_counts(6, 13, weekend=0.2)]
    saturday_noon = MONDAY + 12 * 86400 + 12 * 3600
    for cfg in (CFG, BaselineConfig(bucket_seconds=BUCKET, weekly=True, day_start_hour=5)):
        b = learn(counts, cfg=WEEKLY)
        assert b.weekday_ready
        before = b.expected(saturday_noon)
        b.update(saturday_noon, before, 0.3 * before, None, cfg)
        assert not b.weekday_ready and abs(b.expected(saturday_noon) / before - 1) < 0.05
        assert b.days_seen == [0] * 7


def test_the_weekly_settings_reach_every_topics_baseline() -> None:
    from monitor.settings import Settings
    from monitor.wiring import trend_config

    assert trend_config(Settings()).baseline.weekly is False
    cfg = trend_config(Settings(trends={"weekly_profile": True, "day_start_utc_hour": 5})).baseline
    assert cfg.weekly and cfg.day_start_hour == 5
    # without the daily profile there is nothing for a weekday factor to scale
    assert not trend_config(Settings(trends={"weekly_profile": True, "seasonal_profile": False})).baseline.weekly
