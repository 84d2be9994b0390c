"""The example-topic head on synthetic embeddings: it separates topics, its cross-validated estimate
tracks held-out quality, overlapping examples make it multi-label, and counter-examples say 'none'."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.examples.head import OTHER, TopicExamples, macro_f1, train
from monitor.examples.topics import ExampleTopics, TopicDefinitionError
from monitor.settings import ExampleTopicSettings


def cluster(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    x = centre + spread * rng.standard_normal((n, centre.size))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def world() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Three topic centres in 32 dimensions; 20 example vectors and 200 held-out vectors each."""
    rng = np.random.default_rng(7)
    centres = {name: rng.standard_normal(32) for name in ("banking", "crypto", "sport")}
    examples = {n: cluster(rng, c / np.linalg.norm(c), 20, 0.25) for n, c in centres.items()}
    held = {n: cluster(rng, c / np.linalg.norm(c), 200, 0.25) for n, c in centres.items()}
    return examples, held


def as_topics(examples: dict[str, np.ndarray]) -> tuple[list[TopicExamples], dict[str, np.ndarray]]:
    vectors, topics = {}, []
    for name, rows in examples.items():
        texts = tuple(f"{name}-{i}" for i in range(len(rows)))
        vectors.update(zip(texts, rows))
        topics.append(TopicExamples(name, texts))
    return topics, vectors


def test_the_head_separates_topics_and_its_estimate_tracks_held_out_quality(world) -> None:  # type: ignore[no-untyped-def]
    examples, held = world
    topics, vectors = as_topics(examples)
    head, quality = train(topics, vectors, folds=5)
    x = np.concatenate(list(held.values()))
    truth = [n for n, rows in held.items() for _ in rows]
    score = macro_f1([head.topics[i] for i in head.probabilities(x).argmax(1)], truth, list(held))
    assert score > 0.9
    assert abs(quality.macro_f1 - score) < 0.1
    assert set(quality.per_topic) == set(held) and all(0 <= m["threshold"] <= 1 for m in quality.per_topic.values())


def test_overlapping_examples_make_it_multi_label_and_counter_examples_mean_none(world) -> None:  # type: ignore[no-untyped-def]
    examples, held = world
    rng = np.random.default_rng(3)
    # "fintech" texts sit between banking and crypto and are given as examples of both
    mixed = cluster(rng, examples["banking"].mean(0) + examples["crypto"].mean(0), 12, 0.1)
    far = cluster(rng, -examples["sport"].mean(0) - examples["banking"].mean(0) - examples["crypto"].mean(0), 15, 0.1)
    topics, vectors = as_topics(examples)
    shared = tuple(f"fintech-{i}" for i in range(len(mixed)))
    counter = tuple(f"weather-{i}" for i in range(len(far)))
    vectors.update(zip(shared, mixed))
    vectors.update(zip(counter, far))
    topics = [TopicExamples(t.name, t.examples + shared if t.name in ("banking", "crypto") else t.examples,
                            counter if t.name == "sport" else ()) for t in topics]
    head, quality = train(topics, vectors, folds=4)
    both = head.labels(cluster(rng, mixed.mean(0), 20, 0.05))
    assert np.mean([set(x) == {"banking", "crypto"} for x in both]) >= 0.8
    assert quality.counter_example_rejection is not None and quality.counter_example_rejection >= 0.8
    assert np.mean([p == OTHER for p in head.primary(cluster(rng, far.mean(0), 20, 0.05))]) >= 0.8


class VectorsByName:
    """An embedder for the test: every text is named after its topic, and maps to a point near it."""

    def __init__(self, world: dict[str, np.ndarray]) -> None:
        self.world = world

    def embed(self, texts, batch_size=32):  # type: ignore[no-untyped-def]
        return np.stack([self.world[t.split("-")[0]][int(t.split("-")[1]) % 20] for t in texts])

    def vectors(self, texts):  # type: ignore[no-untyped-def]
        return dict(zip(texts, self.embed(texts)))


def test_definitions_are_checked_and_a_failed_definition_changes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    examples, _ = world
    topics = ExampleTopics(lambda: VectorsByName(examples), folds=3)
    with pytest.raises(TopicDefinitionError, match="counter-examples"):
        topics.define([ExampleTopicSettings(name="banking", examples=[f"banking-{i}" for i in range(12)])])
    assert topics.fitted is None and topics.names() == frozenset()
    first = topics.define([ExampleTopicSettings(name=n, examples=[f"{n}-{i}" for i in range(12)]) for n in ("banking", "sport")])
    assert first.version == 1 and topics.names() == {"banking", "sport"}
    assert topics.classify(["sport-3", "banking-5"]) and topics.classify(["sport-3"])[0][0][0] == "sport"
    assert topics.describe()["quality"]["macro_f1"] > 0.9
    with pytest.raises(TopicDefinitionError, match="distinct examples"):
        topics.define([ExampleTopicSettings(name="crypto", examples=["crypto-1"] * 12)])
    assert topics.names() == {"banking", "sport"} and topics.fitted is first
    with pytest.raises(TopicDefinitionError, match="lone topic"):
        topics.remove("banking")  # sport alone could not learn what it is not
    assert topics.names() == {"banking", "sport"} and topics.fitted is first
    with pytest.raises(KeyError):
        topics.remove("crypto")


def test_near_copies_share_a_fold_so_they_do_not_flatter_the_estimate() -> None:
    """An analyst pastes a story's headline and its lede as two examples: cross-validation that fits
    on one and scores the other would report far more than the topics achieve on new texts."""
    from monitor.examples.head import _folds, stories

    rng = np.random.default_rng(3)
    centres = {name: rng.standard_normal(64) for name in ("rates", "results", "deals")}
    examples: dict[str, np.ndarray] = {}
    held: dict[str, np.ndarray] = {}
    for name, c in centres.items():
        c = c / np.linalg.norm(c)
        stories_ = cluster(rng, c, 10, 0.35)  # hard topics: stories of one topic are barely alike
        twins = stories_ + 0.05 * rng.standard_normal(stories_.shape)  # each story told twice
        examples[name] = np.concatenate([stories_, twins / np.linalg.norm(twins, axis=1, keepdims=True)])
        held[name] = cluster(rng, c, 300, 0.35)
    topics, vectors = as_topics(examples)
    x = np.stack([vectors[t] for topic in topics for t in topic.examples])
    story = stories(x)
    for k in range(3):  # each text and its twin are one story, and share a fold
        for i in range(10):
            assert story[20 * k + i] == story[20 * k + 10 + i]
    y = np.repeat(np.eye(3), 20, axis=0)
    fold = _folds(y, 10, 0, story)
    assert all(fold[20 * k + i] == fold[20 * k + 10 + i] for k in range(3) for i in range(10))

    head, quality = train(topics, vectors, folds=10)
    test = np.concatenate(list(held.values()))
    truth = [name for name, rows in held.items() for _ in rows]
    held_out = macro_f1(head.primary(test), truth, list(held))
    assert quality.macro_f1 <= held_out + 0.05, (quality.macro_f1, held_out)


def test_a_tight_topic_is_not_taken_for_one_story() -> None:
    from monitor.examples.head import stories

    rng = np.random.default_rng(5)
    centre = rng.standard_normal(32)
    tight = cluster(rng, centre / np.linalg.norm(centre), 30, 0.05)  # every pair alike well above 0.6
    assert len(set(stories(tight))) == 30, "thirty distinct examples are not one text copied"


async def test_start_up_applies_stored_changes_to_the_settings_topics_and_falls_back_when_they_cannot(world) -> None:  # type: ignore[no-untyped-def]
    from monitor.examples.api import TopicsApi

    examples, _ = world

    def topic(name: str, n: int = 12) -> ExampleTopicSettings:
        return ExampleTopicSettings(name=name, examples=[f"{name}-{i}" for i in range(n)])

    configured = (topic("banking"), topic("sport"))
    api = TopicsApi(ExampleTopics(lambda: VectorsByName(examples), folds=3))
    # stored: crypto defined, sport removed, banking redefined with more examples; one fit at start-up
    await api.load(configured, {"crypto": topic("crypto"), "sport": None, "banking": topic("banking", 15)})
    fitted = api.topics.fitted
    assert api.topics.names() == {"banking", "crypto"} and fitted is not None and fitted.version == 1
    assert len(api.topics.definitions["banking"].examples) == 15

    # stored changes that leave a lone topic without counter-examples: the settings' topics alone
    api = TopicsApi(ExampleTopics(lambda: VectorsByName(examples), folds=3))
    await api.load(configured, {"sport": None})
    assert api.topics.names() == {"banking", "sport"}

    # a change read back from the log that is already in use is not fitted again
    await api.changed("banking", topic("banking"))
    assert api.topics.fitted is not None and api.topics.fitted.version == 1
    await api.changed("crypto", topic("crypto"))
    assert api.topics.names() == {"banking", "sport", "crypto"} and api.topics.fitted.version == 2
    api.close()
