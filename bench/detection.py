"""Detection quality on synthetic traffic: recall of injected surges, false alerts, delay.

    python bench/detection.py [--days 4] [--topics 4] [--seeds 3] [--dispersion 1.1] [--bucket-seconds 60]

Several days of per-topic traffic with a daily cycle; volume and negative-share surges are
injected after a one-day warm-up. Prints one row per seed and the total.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from monitor.alerts import AlertEngine, build_rule
from monitor.settings import RuleSettings
from monitor.simulate import DetectionScore, make_scenario, replay_scenario, score
from monitor.trends import BaselineConfig, TrendConfig, TrendStore

RULES = (
    RuleSettings(name="volume-surge", detector="volume_surge", window_seconds=120, min_volume=20, resolve_after_seconds=600),
    RuleSettings(name="negative-share-surge", detector="negative_share_shift", window_seconds=120, min_volume=20,
                 resolve_after_seconds=600),
)
WARMUP_BUCKETS = 1440  # one day: the hour-of-day profile needs a day of history


def run(days: float, topics: int, seed: int, dispersion: float, bucket: float = 60.0) -> tuple[DetectionScore, float]:
    """One seed; windows of two buckets, one day of warm-up, whatever the bucket width."""
    names = ("business", "politics", "tech", "sport", "entertainment")[:topics]
    scenario = make_scenario(days=days, topics=names, seed=seed, dispersion=dispersion, bucket_seconds=bucket)
    warmup = round(WARMUP_BUCKETS * 60 / bucket)
    store = TrendStore(TrendConfig(bucket_seconds=bucket, allowed_lateness_seconds=0, dedup_window_seconds=0,
                                   baseline=BaselineConfig(bucket_seconds=bucket, warmup_buckets=warmup)))
    rules = [r.model_copy(update={"window_seconds": 2 * bucket}) for r in RULES]
    engine = AlertEngine([build_rule(r) for r in rules], warmup_buckets=warmup)
    started = time.perf_counter()
    notes = replay_scenario(scenario, store, engine)
    return score(scenario, notes), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=4)
    parser.add_argument("--topics", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dispersion", type=float, default=1.1, help="burstiness: 1.0 is Poisson")
    parser.add_argument("--bucket-seconds", type=float, default=60.0, help="bucket width; windows are two buckets")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    print(f"{'seed':>4} {'surges':>6} {'detected':>8} {'recall':>7} {'false':>5} {'false/topic-day':>15} {'median delay (buckets)':>22} {'seconds':>7}")
    for seed in range(1, args.seeds + 1):
        s, seconds = run(args.days, args.topics, seed, args.dispersion, args.bucket_seconds)
        rows.append(s)
        print(f"{seed:>4} {s.surges:>6} {s.detected:>8} {s.recall:>7.1%} {s.false_alerts:>5} "
              f"{s.false_per_topic_day:>15.2f} {s.median_delay_buckets:>22.1f} {seconds:>7.1f}")
    surges = sum(r.surges for r in rows)
    detected = sum(r.detected for r in rows)
    false = sum(r.false_alerts for r in rows)
    topic_days = sum(r.topic_days for r in rows)
    delays = [d for r in rows for d in r.delays_buckets]
    total = {"surges": surges, "recall": detected / surges, "false_per_topic_day": false / topic_days,
             "median_delay_buckets": statistics.median(delays)}
    print(f"total: {surges} surges, recall {total['recall']:.1%}, {total['false_per_topic_day']:.2f} false alerts "
          f"per topic-day, median delay {total['median_delay_buckets']:.1f} buckets")
    if args.json:
        print(json.dumps(total))


if __name__ == "__main__":
    main()
