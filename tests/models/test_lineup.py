"""The model lineup with tiny real models: a candidate loaded beside a live route, promotion and
rollback, bad requests refused naming the field, and a batch classified by one version whatever
models tokenised it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.inference import classify_batch
from monitor.models.classifier import Classifier
from monitor.settings import CandidateSettings, ModelSet, ModelSettings
from monitor.shadow.lineup import Lineup, LineupError, load_candidate

TEXTS = ["bank misses its bond payment", "the cup final goes to extra time", "chip maker raises its forecast"]


def settings(models: dict[str, Path]) -> ModelSettings:
    return ModelSettings(default=ModelSet(topic=str(models["topic"]), sentiment=str(models["sentiment"])), by_language={},
                         device="cpu", precision="fp32", trace=False)


def candidate_spec(models: dict[str, Path], **extra: object) -> CandidateSettings:
    return CandidateSettings(topic=str(models["topic_business"]), sentiment=str(models["sentiment_negative"]), **extra)


@pytest.fixture(scope="module")
def live(tiny_models: dict[str, Path]) -> Classifier:
    return Classifier.load(settings(tiny_models))


def test_promote_then_roll_back(tiny_models: dict[str, Path], live: Classifier) -> None:
    lineup = Lineup(live)
    lineup.candidate = load_candidate(candidate_spec(tiny_models), live, settings(tiny_models), 8, 256)
    assert lineup.candidate.models == {"topic": "topic-business@topic-business",
                                       "sentiment": "sentiment-negative@sentiment-negative"}
    with pytest.raises(LineupError) as unknown:
        lineup.promotion("topic@topic")  # the live version is not the candidate's
    assert unknown.value.field == "version" and unknown.value.status == 400
    promoted, route = lineup.promotion("sentiment-negative@sentiment-negative")
    assert route == "default" and promoted.describe()["default"] == lineup.candidate.models
    lineup.promoted(promoted)
    assert lineup.live is promoted and lineup.candidate is None and lineup.previous is live
    with pytest.raises(LineupError) as gone:
        lineup.promotion("sentiment-negative@sentiment-negative")
    assert gone.value.status == 409, "a promoted candidate is live, no longer a candidate"
    assert lineup.rollback() is live
    lineup.rolled_back()
    assert lineup.live is live and lineup.previous is None
    with pytest.raises(LineupError) as nowhere:
        lineup.rollback()
    assert nowhere.value.status == 409


@pytest.mark.parametrize(("spec", "field"), [
    ({"topic": "/no/such/topic-model"}, "topic"),
    ({"sentiment": "/no/such/sentiment-model"}, "sentiment"),
    ({"bundle": "bundled:no-such-bundle"}, "bundle"),
    ({"route": "xx"}, "route"),
])
def test_a_candidate_that_cannot_load_is_refused_naming_the_field(tiny_models: dict[str, Path], live: Classifier,
                                                                   spec: dict[str, str], field: str) -> None:
    base = {"topic": str(tiny_models["topic_business"]), "sentiment": str(tiny_models["sentiment_negative"])}
    if "bundle" in spec:
        base = {}
    with pytest.raises(LineupError) as refused:
        load_candidate(CandidateSettings(**{**base, **spec}), live, settings(tiny_models), 8, 256)
    assert refused.value.field == field and str(refused.value).startswith(f"{field}:")


def test_a_folder_that_holds_no_model_is_refused_naming_the_field(tiny_models: dict[str, Path], live: Classifier,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    spec = CandidateSettings(topic=str(tiny_models["topic_business"]), sentiment=str(tmp_path))
    with pytest.raises(LineupError) as refused:
        load_candidate(spec, live, settings(tiny_models), 8, 256)
    assert refused.value.field == "sentiment" and "cannot load the model" in str(refused.value)


def test_a_candidate_must_answer_every_task_of_its_route(tiny_models: dict[str, Path], live: Classifier) -> None:
    with pytest.raises(LineupError, match="sentiment"):
        load_candidate(CandidateSettings(topic=str(tiny_models["topic_business"])), live, settings(tiny_models), 8, 256)


def test_a_batch_is_classified_by_the_live_models_alone(tiny_models: dict[str, Path], live: Classifier) -> None:
    candidate = load_candidate(candidate_spec(tiny_models), live, settings(tiny_models), 8, 256).classifier
    tokens = live.tokenize("default", TEXTS)
    # tokenised before a switch by the old models, classified after it by the new ones
    mixed = classify_batch("default", TEXTS, tokens, [live, candidate, live], candidate)
    assert mixed.retokenized == 2
    assert {p.tasks["sentiment"].model for p in mixed.predictions} == {"sentiment-negative@sentiment-negative"}
    assert [p.tasks["sentiment"].label for p in mixed.predictions] == ["negative"] * 3
    # with the candidate in shadow: both sides' predictions, the live ones as without it
    alone = classify_batch("default", TEXTS, tokens, [live] * 3, live)
    shadowed = classify_batch("default", TEXTS, tokens, [live] * 3, live, candidate)
    assert shadowed.retokenized == 0 and shadowed.shadow_error is None and shadowed.shadow_seconds > 0
    assert [p.tasks for p in shadowed.predictions] == [p.tasks for p in alone.predictions]
    assert shadowed.shadow is not None and [p.tasks["topic"].label for p in shadowed.shadow] == ["business"] * 3


class Broken:
    """A backend that tokenises and then fails, as a candidate on a bad day does."""

    def __init__(self, real: object) -> None:
        self.info = real.info  # type: ignore[attr-defined]
        self._real = real

    def tokenize(self, texts):  # type: ignore[no-untyped-def]
        return self._real.tokenize(texts)

    def collate(self, ids, truncated):  # type: ignore[no-untyped-def]
        return self._real.collate(ids, truncated)

    def forward(self, batch) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
        raise RuntimeError("out of memory")


def test_a_failing_candidate_costs_the_live_batch_nothing(live: Classifier) -> None:
    route = live.routes["default"]
    broken = live.with_route(type(route)(route.name, tuple(Broken(b) for b in route.backends), route.task_owner))
    result = classify_batch("default", TEXTS, live.tokenize("default", TEXTS), [live] * 3, live, broken)
    assert result.shadow is None and isinstance(result.shadow_error, RuntimeError)
    assert len(result.predictions) == 3


async def test_a_drop_discards_a_candidate_still_loading(tiny_models: dict[str, Path], live: Classifier,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``monitor models drop`` while ``candidate`` loads: the load ends refused and nothing is shadowed."""
    import asyncio
    import threading

    from monitor.metrics import Metrics
    from monitor.shadow import desk as desk_module
    from tests.support.config import daemon_settings

    started, release = threading.Event(), threading.Event()
    real = desk_module.load_candidate

    def slow_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(desk_module, "load_candidate", slow_load)

    async def no_switch(_: Classifier) -> int:
        return 0

    desk = desk_module.ShadowDesk(daemon_settings("127.0.0.1:9", tiny_models), Metrics(), no_switch, "test")
    desk.attach(live)
    loading = asyncio.create_task(desk.load(candidate_spec(tiny_models), via="api"))
    assert await asyncio.to_thread(started.wait, 60)
    assert desk.drop() is True, "a load in progress counts as something to drop"
    release.set()
    with pytest.raises(LineupError) as refused:
        await loading
    assert refused.value.status == 409 and refused.value.field == "candidate"
    assert desk.lineup is not None and desk.lineup.candidate is None and desk.to_json()["candidate"] is None
    assert desk.drop() is False
    # a load after the drop is not affected by it
    monkeypatch.setattr(desk_module, "load_candidate", real)
    loaded = await desk.load(candidate_spec(tiny_models), via="api")
    assert desk.lineup.candidate is loaded
