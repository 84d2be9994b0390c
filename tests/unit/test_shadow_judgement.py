"""The shadow judgement: the same messages, judged with either side's labels, raise the alerts those
labels call for; the desk counts only the candidate that classified a batch."""

from __future__ import annotations

from monitor.metrics import Metrics
from monitor.records import Enriched, Message, Prediction, SourcePosition, TaskResult
from monitor.settings import CandidateSettings, Settings
from monitor.shadow.desk import ShadowDesk
from monitor.shadow.judgement import ShadowJudgement
from monitor.shadow.lineup import Candidate, Lineup

RULES = [{"name": "negative-share", "detector": "negative_share", "threshold": 0.5, "min_volume": 5}]


def settings() -> Settings:
    return Settings(rules=RULES, trends={"warmup_buckets": 0, "dedup_window_seconds": 0})


def record(i: int, sentiment: str, version: str) -> Enriched:
    dist = {s: (0.9 if s == sentiment else 0.05) for s in ("negative", "neutral", "positive")}
    prediction = Prediction(tasks={
        "topic": TaskResult("business", 0.9, {"business": 0.9, "sport": 0.1}, f"topic@{version}"),
        "sentiment": TaskResult(sentiment, 0.9, dist, f"sentiment@{version}"),
    })
    message = Message(f"m{i}", f"story {i}", 1_764_000_000.0 + i, "wire", "en", SourcePosition("news", 0, i))
    return Enriched(message, prediction, 0.0)


def test_only_the_side_whose_labels_call_for_it_alerts() -> None:
    judgement = ShadowJudgement(settings())
    live = [record(i, "neutral", "1") for i in range(20)]
    candidate = [record(i, "negative", "2") for i in range(20)]
    raised = judgement.observe(live, candidate, [([], None)] * 20)
    assert raised["live"] == []
    assert {(a.rule, a.key, a.state.value) for a in raised["candidate"]} >= {("negative-share", "business", "firing")}
    assert all(a.model_versions == {"topic": "topic@2", "sentiment": "sentiment@2"} for a in raised["candidate"])
    view = judgement.to_json()
    assert view["live"]["raised"] == {} and view["candidate"]["raised"]["negative-share"]["firing"] >= 1
    assert view["live"]["topics"]["business"] == view["candidate"]["topics"]["business"] == 20


async def test_the_desk_counts_only_the_candidate_that_classified_the_batch() -> None:
    async def never(_: object) -> int:
        raise AssertionError("no switch here")

    metrics = Metrics()
    desk = ShadowDesk(settings(), metrics, never, "test")  # type: ignore[arg-type]
    first, second = object(), object()
    desk.lineup = Lineup(object())  # type: ignore[arg-type]
    desk.lineup.candidate = Candidate(CandidateSettings(topic="t", sentiment="s"), first)  # type: ignore[arg-type]
    desk._reset(1.0)  # noqa: SLF001 - what loading a candidate does after it loaded
    live = [record(i, "neutral", "1") for i in range(4)]
    theirs = [record(i, "negative", "2").prediction for i in range(4)]
    desk.observe(first, live, theirs, [([], None)] * 4, 0.01, 0.02)  # type: ignore[arg-type]
    desk.lineup.candidate = Candidate(CandidateSettings(topic="t", sentiment="s"), second)  # type: ignore[arg-type]
    desk.observe(first, live, theirs, [([], None)] * 4, 0.01, 0.02)  # type: ignore[arg-type]  # the replaced one's
    assert desk.comparison.messages == 4 and desk.batches == 1
    assert metrics.registry.get_sample_value("textmon_shadow_agreement_ratio", {"task": "sentiment"}) == 0.0
    assert metrics.registry.get_sample_value("textmon_shadow_agreement_ratio", {"task": "topic"}) == 1.0
    assert metrics.registry.get_sample_value(
        "textmon_shadow_predictions_total", {"task": "sentiment", "live": "neutral", "candidate": "negative"}) == 4
    assert desk.live_seconds == 0.01 and desk.shadow_seconds == 0.02  # /api/shadow's cost ratio: 2
