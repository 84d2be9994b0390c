"""What a topic's baseline learns as noise: the dispersion of its counts around their expectation."""

from __future__ import annotations

from monitor.alerts import AlertEngine, build_rule
from monitor.settings import RuleSettings
from monitor.simulate import Surge, make_scenario
from monitor.trends import BaselineConfig, TopicBaseline, TrendConfig, TrendStore
from monitor.trends.baseline import OUTLIER_SD

BUCKET = 300.0
START = 1_767_225_600.0  # midnight UTC
CFG = BaselineConfig(bucket_seconds=BUCKET)


def learn(counts: list[tuple[float, float]], baseline: TopicBaseline | None = None,
          until_hour: float = 1e9) -> TopicBaseline:
    """Feed closed buckets as the alert engine does: once warm, counts above 3 sd are clipped."""
    b = baseline or TopicBaseline()
    for t, count in counts:
        if t >= START + until_hour * 3600:
            break
        if b.age >= CFG.warmup_buckets:
            expected = b.expected(t)
            count = min(count, expected + OUTLIER_SD * b.count_sd(expected))
        b.update(t, count, 0.3 * count, None, CFG)
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
