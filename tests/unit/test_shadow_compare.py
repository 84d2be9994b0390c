"""The comparison of a candidate's labels with the live ones, and the batch sampler: pure arithmetic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.records import Prediction, TaskResult
from monitor.shadow.compare import Comparison, TaskComparison
from monitor.shadow.sampler import BatchSampler

TOPICS = ("business", "politics", "sport")


def prediction(**labels: str) -> Prediction:
    return Prediction(tasks={task: TaskResult(label=label, score=0.9, distribution={label: 0.9}, model=f"{task}@1")
                             for task, label in labels.items()})


def test_agreement_pairs_and_shifts_of_one_batch() -> None:
    live = [prediction(topic="business", sentiment="negative"), prediction(topic="business", sentiment="neutral"),
            prediction(topic="sport", sentiment="neutral"), prediction(topic="politics", sentiment="positive")]
    candidate = [prediction(topic="business", sentiment="negative"), prediction(topic="politics", sentiment="neutral"),
                 prediction(topic="sport", sentiment="negative"), prediction(topic="politics", sentiment="positive")]
    c = Comparison()
    pairs = c.observe(live, candidate)
    assert pairs[("topic", "business", "politics")] == 1 and pairs[("topic", "business", "business")] == 1
    assert pairs[("sentiment", "neutral", "negative")] == 1
    assert sum(pairs.values()) == 8
    assert c.agreement() == {"topic": 0.75, "sentiment": 0.75}
    assert c.tasks["topic"].shifts() == {
        "business": {"live": 2, "candidate": 1, "change": -1},
        "politics": {"live": 1, "candidate": 2, "change": 1},
        "sport": {"live": 1, "candidate": 1, "change": 0},
    }
    as_json = c.to_json()
    assert as_json["messages"] == 4
    assert as_json["tasks"]["topic"]["agreement"] == 0.75
    assert as_json["tasks"]["topic"]["pairs"][0] == {"live": "business", "candidate": "business", "count": 1}


@pytest.mark.parametrize(("pairs", "compared", "agreed", "agreement"), [
    ({}, 0, 0, None),
    ({("a", "a"): 3}, 3, 3, 1.0),
    ({("a", "b"): 3}, 3, 0, 0.0),
    ({("a", "a"): 1, ("a", "b"): 2, ("b", "b"): 1}, 4, 2, 0.5),
])
def test_task_agreement_table(pairs, compared, agreed, agreement) -> None:  # type: ignore[no-untyped-def]
    t = TaskComparison()
    t.pairs.update(pairs)
    assert (t.compared, t.agreed, t.agreement) == (compared, agreed, agreement)


def test_a_task_one_side_does_not_answer_is_not_compared() -> None:
    c = Comparison()
    c.observe([prediction(topic="sport", sentiment="neutral")], [prediction(topic="sport")])
    assert set(c.tasks) == {"topic"}
    assert c.messages == 1


def test_batches_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 live predictions against 1"):
        Comparison().observe([prediction(topic="sport")] * 2, [prediction(topic="sport")])


@given(st.lists(st.tuples(st.sampled_from(TOPICS), st.sampled_from(TOPICS)), max_size=60),
       st.integers(min_value=1, max_value=7))
def test_shifts_add_up_whatever_the_batching(labels: list[tuple[str, str]], size: int) -> None:
    c = Comparison()
    for start in range(0, len(labels), size):
        chunk = labels[start:start + size]
        c.observe([prediction(topic=a) for a, _ in chunk], [prediction(topic=b) for _, b in chunk])
    assert c.messages == len(labels)
    if not labels:
        assert c.agreement() == {}
        return
    t = c.tasks["topic"]
    assert t.compared == len(labels)
    assert t.agreed == sum(a == b for a, b in labels)
    shifts = t.shifts()
    assert sum(s["change"] for s in shifts.values()) == 0  # a message moved out of one class moves into another
    for label, s in shifts.items():
        assert s["live"] == sum(a == label for a, _ in labels)
        assert s["candidate"] == sum(b == label for _, b in labels)
    assert math.isclose(c.agreement()["topic"], t.agreed / len(labels))


@pytest.mark.parametrize(("rate", "offered", "taken"), [(1.0, 10, 10), (0.5, 10, 5), (0.25, 12, 3), (0.1, 100, 10),
                                                        (1 / 3, 9, 3), (0.3, 10, 3)])
def test_the_sampler_takes_its_share_exactly(rate: float, offered: int, taken: int) -> None:
    sampler = BatchSampler(rate)
    picks = [sampler.take() for _ in range(offered)]
    assert sum(picks) == taken
    assert picks[0], "the first batch is taken, so a candidate shows up at once"


@pytest.mark.parametrize("rate", [0.0, -0.5, 1.5])
def test_the_sampler_refuses_a_rate_outside_0_to_1(rate: float) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        BatchSampler(rate)
