"""A judge task restored from its changelog decides exactly as the task that wrote it would have."""

from __future__ import annotations

import random

import orjson

from monitor.emit import enriched_record
from monitor.records import Enriched, Message, Prediction, SourcePosition, TaskResult
from monitor.settings import Settings
from monitor.tiers.task import META, JudgeTask
from monitor.trends import TrendStore
from monitor.trends.store import PART, Observed

LABELS = ("business", "tech")
WORDS = "rates bonds oil gold tariffs merger lawsuit earnings outlook guidance layoffs strike recall probe".split()


def _settings() -> Settings:
    return Settings(trends={"bucket_seconds": 60, "warmup_buckets": 20, "allowed_lateness_seconds": 0})


def _stream(n_minutes: int, surge: range, by_example: str | None = None) -> list[bytes]:
    """Enriched records as the classify tier writes them: two labels, a volume and negativity surge in
    ``surge``; with ``by_example``, the messages that mention bonds also belong to that topic defined by example."""
    rng = random.Random(7)
    features_of = TrendStore().text_features
    out = []
    offset = 0
    for minute in range(n_minutes):
        for label in LABELS:
            n = rng.randint(3, 7) * (5 if minute in surge and label == "business" else 1)
            for _ in range(n):
                t = 1_700_000_000 + minute * 60 + rng.random() * 59
                text = " ".join(rng.sample(WORDS, 6)) + f" {offset}"
                negative = rng.random() < (0.8 if minute in surge else 0.3)
                sentiment = "negative" if negative else "neutral"
                dist = {"negative": 0.9, "neutral": 0.1} if negative else {"negative": 0.1, "neutral": 0.9}
                message = Message(f"m{offset}", text, t, "test", "en", SourcePosition("news", offset % 3, offset))
                prediction = Prediction({"topic": TaskResult(label, 0.9, {label: 0.9}, "topic@1"),
                                         "sentiment": TaskResult(sentiment, 0.9, dist, "sentiment@1")},
                                        example_topics=((by_example, 0.8),) if by_example and "bonds" in text else ())
                (terms, fp), = features_of([text])
                out.append(enriched_record("news.enriched", Enriched(message, prediction, t), (terms, fp))[2])
                offset += 1
    out.sort(key=lambda v: orjson.loads(v)["event_time"])  # each input partition in order, as classify releases them
    return out


def _compact(log: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for key, value in log:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


def _run(task: JudgeTask, records: list[bytes], chunk: int, log: list[tuple[bytes, bytes | None]] | None = None) -> list[dict]:
    alerts = []
    for i in range(0, len(records), chunk):
        task.add(records[i:i + chunk])
        alerts += [a.to_json() for a in task.judge(evaluate_open=False)]
        changes = task.changelog()
        if log is not None:
            log += changes
    return alerts


def test_a_restored_task_decides_as_its_old_owner_would_have():
    records = _stream(90, surge=range(60, 75))
    first, rest = records[: len(records) * 55 // 100], records[len(records) * 55 // 100:]
    settings = _settings()

    old = JudgeTask(0, settings)
    log: list[tuple[bytes, bytes | None]] = []
    _run(old, first, 50, log)
    assert old.store.age > settings.trends.warmup_buckets, "the baselines are warm when the partition moves"

    new = JudgeTask.restore(0, settings, _compact(log))
    assert new.store.baselines.keys() == old.store.baselines.keys()
    assert new.store.age == old.store.age and new.store.last_closed == old.store.last_closed

    old_alerts = _run(old, rest, 50)
    new_alerts = _run(new, rest, 50)
    assert any(a["state"] == "firing" and a["key"] == "business" for a in old_alerts), "the surge alerts"
    assert new_alerts == old_alerts, "the same notifications, with no new warm-up"
    assert {k: [b.to_state() for _, b in sorted(v.items())] for k, v in new.store.buckets.items()} == \
        {k: [b.to_state() for _, b in sorted(v.items())] for k, v in old.store.buckets.items()}


def test_copies_seen_before_the_move_are_still_copies_after_it():
    settings = _settings()
    records = _stream(10, surge=range(0))
    old = JudgeTask(0, settings)
    log: list[tuple[bytes, bytes | None]] = []
    _run(old, records, 40, log)
    new = JudgeTask.restore(0, settings, _compact(log))
    copy = records[-1]
    new.add([copy])
    old.add([copy])
    assert new.duplicates == old.duplicates == 1


def test_the_changelog_forgets_what_falls_out_of_retention():
    settings = Settings(trends={"bucket_seconds": 60, "retention_seconds": 600, "dedup_window_seconds": 300})
    old = JudgeTask(0, settings)
    log: list[tuple[bytes, bytes | None]] = []
    _run(old, _stream(60, surge=range(0)), 40, log)
    state = _compact(log)
    buckets = [k for k in state if k.startswith(b"b")]
    chunks = [k for k in state if k.startswith(b"d")]
    assert META in state
    retained = int(old.store.config.retention_seconds / 60)  # the rules' longest window, twice, outlasts the setting
    assert retained < 40
    assert 0 < len(buckets) <= 2 * (retained + 3), "about retention's worth of buckets per label, not the whole stream"
    chunk_buckets = {k.split(b"\x00")[0] for k in chunks}
    assert 0 < len(chunk_buckets) <= 300 / 60 + 3, "fingerprint chunks only for the duplicate window"


def test_the_market_series_sums_every_partition_and_closes_when_all_have():
    from monitor.tiers.market import MarketTask
    from monitor.trends import ALL

    settings = _settings()
    records = _stream(30, surge=range(0))
    labels = [orjson.loads(v)["topic"]["label"] for v in records]
    tasks = {p: JudgeTask(p, settings) for p in (0, 1)}
    market = MarketTask(settings, "news.enriched")
    market.expect_sources([("news.enriched", 0), ("news.enriched", 1)])
    for p, label in ((0, "business"), (1, "tech")):
        mine = [v for v, lab in zip(records, labels) if lab == label]
        _run(tasks[p], mine[: len(mine) // 2], 50)
    market.add_closed([orjson.dumps(c) for c in tasks[0].closed])
    market.judge(False)
    assert market.store.last_closed is None, "partition 1 has closed nothing yet: the market waits for it"
    market.add_closed([orjson.dumps(c) for c in tasks[1].closed])
    market.judge(False)
    both = min(max(c["index"] for c in tasks[p].closed) for p in (0, 1))
    assert market.store.last_closed == both
    for index, bucket in market.store.buckets[ALL].items():
        parts = [c["buckets"][k][0] for p in (0, 1) for c in tasks[p].closed if c["index"] == index for k in c["buckets"]]
        assert bucket.count == sum(parts)


def test_a_topic_defined_by_example_is_summed_from_every_partition_as_one_process_counts_it():
    from monitor.tiers.market import MarketTask
    from monitor.tiers.task import observe
    from monitor.trends import ALL

    settings = _settings()
    records = _stream(90, surge=range(60, 75), by_example="credit")
    labels = [orjson.loads(v)["topic"]["label"] for v in records]
    tasks = {p: JudgeTask(p, settings) for p in (0, 1)}
    market = MarketTask(settings, "news.enriched")
    market.expect_sources([("news.enriched", 0), ("news.enriched", 1)])
    task_alerts, market_alerts = [], []
    log: list[tuple[bytes, bytes | None]] = []
    mine = {p: [v for v, lab in zip(records, labels) if lab == label] for p, label in ((0, "business"), (1, "tech"))}
    for step in range(0, max(len(m) for m in mine.values()), 50):  # both tasks step, then the owner sums
        for p, task in tasks.items():
            task_alerts += _run(task, mine[p][step:step + 50], 50, log if p == 0 else None)
            market.add_closed([orjson.dumps(c) for c in task.closed])
            task.closed = []
        market_alerts += [a.to_json() for a in market.judge(False)]
        market.changelog()

    one = TrendStore()  # one process: every record counted once under its label, the topic and __all__
    for value in records:
        obs, terms, fp, _ = observe(value)
        one.count_observed(Observed(**{**{f: getattr(obs, f) for f in obs.__slots__},
                                       "also": tuple(a[len(PART):] for a in obs.also)}), terms, fp)
    assert market.store.last_closed is not None and market.store.last_closed > 80
    summed = {i: (b.count, dict(b.by_sentiment)) for i, b in market.store.buckets["credit"].items()}
    alone = {i: (b.count, dict(b.by_sentiment)) for i, b in one.buckets["credit"].items() if i <= market.store.last_closed}
    assert summed == alone and sum(c for c, _ in summed.values()) > 500
    assert sorted(market.store.keys()) == [ALL, "credit"]
    for task in tasks.values():  # a task's part is neither a topic of its own nor learned there
        assert "credit" not in task.store.keys() and not any(k.startswith(PART) for k in task.store.baselines)
    assert all(a["key"] != "credit" and not a["key"].startswith(PART) for a in task_alerts)
    assert any(a["key"] == "credit" and a["state"] == "firing" for a in market_alerts), "the topic's surge alerts"
    restored = JudgeTask.restore(0, settings, _compact(log))  # a task's parts move with it
    assert restored.store.buckets[PART + "credit"].keys() == tasks[0].store.buckets[PART + "credit"].keys()


def test_a_failing_step_keeps_one_changelog_record_per_key_for_the_next():
    from monitor.tiers.judge import _latest_per_changelog_key
    from monitor.tiers.writer import Pending

    steps = [[Pending(("log", b"m", b"meta1", [])), Pending(("log", b"b1", b"v1", [])), Pending(("alerts", b"fp", b"a1", []))],
             [Pending(("log", b"m", b"meta2", [])), Pending(("log", b"b1", None, [])), Pending(("aggs", b"0", b"c", []))]]
    unsent: list[Pending] = []
    for changes in steps:  # two failed steps in a row
        unsent = _latest_per_changelog_key(unsent + changes, "log")
    assert [p.record[:3] for p in unsent] == [("alerts", b"fp", b"a1"), ("log", b"m", b"meta2"), ("log", b"b1", None),
                                               ("aggs", b"0", b"c")], "latest per key, deletions kept, others all"
