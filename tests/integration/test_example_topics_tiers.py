"""Topics defined by example in the two-tier layout, on a real broker with the real base encoder: the
classify tier labels the records, and the judge tier sums each topic from every enriched partition
(a topic by example cuts across the model's labels, which key the partitions), trends it and alerts
on it, counting each message once."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.tiers.judge import Judge
from tests.support.config import daemon_settings, two_labels
from tests.support.example_texts import BANKING, BANKS, CLUBS, SPORT, texts
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce, wait_until
from tests.support.tiny_models import TOPICS, build_tiny_classifier


async def test_the_judge_tier_sums_a_topic_by_example_from_every_partition(broker, tiny_models, tmp_path) -> None:
    base = unique("tiers-by-example")
    tech = build_tiny_classifier(tmp_path / "topic-tech", TOPICS, pinned="tech")
    banking, sport = texts(BANKING, BANKS), texts(SPORT, CLUBS)
    # English goes to 'business', German to 'tech': two labels, and (2 partitions) two enriched partitions
    routes = two_labels(tiny_models["topic_business"], tech, tiny_models["sentiment_negative"])
    settings = daemon_settings(
        broker.bootstrap, tiny_models, base, feedback={"enabled": False},
        kafka={"output_topic": f"{base}.enriched", "group_id": f"{base}-group"},
        tiers={"changelog_topic": f"{base}.changelog", "aggregates_topic": f"{base}.aggregates",
               "alerts_topic": f"{base}.alerts", "step_seconds": 0.2},
        trends={"bucket_seconds": 60, "warmup_buckets": 0, "dedup_window_seconds": 0, "allowed_lateness_seconds": 0},
        example_topics={"topics": [{"name": "banking", "examples": banking[:15]},
                                   {"name": "football", "examples": sport[:15]}]},
        rules=[{"name": "negative-share", "detector": "negative_share", "threshold": 0.5, "min_volume": 5}],
    ).model_copy(update={"models": routes})
    await create_topics(broker.bootstrap, base, f"{base}.enriched", f"{base}.changelog", partitions=2)
    await create_topics(broker.bootstrap, f"{base}.aggregates", f"{base}.alerts", partitions=1)

    # one minute of traffic: every banking and sport story in English and in German; then a later
    # minute in both languages on every input partition, so that the first minute's bucket closes
    minute = (int(time.time()) // 60 - 10) * 60
    stories = [(f"{lang}-{i}", x, lang) for lang in ("en", "de") for i, x in enumerate(banking[15:] + sport[15:])]
    later = [(f"later-{lang}-{i}", f"Markets quiet in holiday trading {i}", lang) for lang in ("en", "de") for i in range(8)]
    await produce(broker.bootstrap, base, [json.dumps({"id": i, "text": x, "lang": lang, "timestamp": minute + 5}).encode()
                                           for i, x, lang in stories])
    await produce(broker.bootstrap, base, [json.dumps({"id": i, "text": x, "lang": lang, "timestamp": minute + 125}).encode()
                                           for i, x, lang in later])

    classify = Daemon(settings.model_copy(update={"role": "classify"}), Metrics())
    judge = Judge(settings.model_copy(update={"role": "judge"}))
    runs = [asyncio.create_task(classify.run()), asyncio.create_task(judge.run())]
    try:
        enriched = await consume_until(broker.bootstrap, [f"{base}.enriched"],
                                       lambda rs: len({r.json()["id"] for r in rs}) >= len(stories) + len(later))
        first = list({r.json()["id"]: r.json() for r in enriched if r.json()["event_time"] < minute + 60}.values())
        labelled = Counter(t["label"] for r in first for t in r.get("example_topics") or [])
        by_partition = {(r.partition, t["label"]) for r in enriched for t in r.json().get("example_topics") or []}
        assert {("banking", p) for p in (0, 1)} <= {(label, p) for p, label in by_partition}, \
            "each topic by example has records in both enriched partitions"
        assert labelled["banking"] >= 25 and labelled["football"] >= 25, labelled

        async def summed_and_firing() -> bool:
            status = judge.status()
            counts = {(t["topic"], int(b["t"] // 60)): b["count"] for t in status["topics"] for b in t["series"]}
            firing = {a["key"] for a in status["alerts"]}
            return all(counts.get((label, minute // 60)) == labelled[label] for label in ("banking", "football")) \
                and {"banking", "football"} <= firing

        await wait_until(summed_and_firing, 120)
        status = judge.status()
        rows = [t for t in status["topics"] if t["topic"] in ("banking", "football")]
        assert len(rows) == 2, "one series a topic, owned by the market-wide owner, not one part per partition"
        counts = {(t["topic"], int(b["t"] // 60)): b["count"] for t in status["topics"] for b in t["series"]}
        assert counts[("__all__", minute // 60)] == len(stories), "the market-wide series counts each message once"
        assert counts[("business", minute // 60)] == counts[("tech", minute // 60)] == len(stories) // 2
    finally:
        classify.request_stop()
        judge.request_stop()
        assert await asyncio.gather(*runs) == [0, 0]
