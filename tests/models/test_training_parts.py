"""Pure pieces of training: the learning-rate schedule, class weights, batching, the fast macro-F1."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models.evaluation import metrics
from monitor.models.publish import _macro_f1
from monitor.models import training
from monitor.models.training import (NOT_OTHER_ID, Cached, TaskLoss, class_weights, length_batches, use_amp,
                                     warmup_linear)


@pytest.mark.parametrize(("step", "factor"), [(0, 0.1), (9, 1.0), (10, 1.0), (55, 0.5), (100, 0.0)])
def test_warmup_then_linear_decay(step: int, factor: float) -> None:
    assert warmup_linear(100, 0.1)(step) == pytest.approx(factor)


@pytest.mark.parametrize(("native", "requested", "expected"), [
    ("AMX", None, True), (None, None, False),  # emulated bf16 is slower than fp32: not by default
    (None, True, True), ("AMX", False, False),  # --amp / --no-amp win
])
def test_bf16_autocast_by_default_only_where_the_cpu_computes_bf16(monkeypatch: pytest.MonkeyPatch, native: str | None,
                                                                  requested: bool | None, expected: bool) -> None:
    monkeypatch.setattr(training, "native_bf16", lambda device: native)
    assert use_amp(requested) is expected


def test_class_weights_are_inverse_frequency_with_mean_one() -> None:
    w = class_weights(torch.tensor([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([0.5, 1.5, 0.0])


def test_rows_without_a_topic_of_their_own_weigh_no_class() -> None:
    w = class_weights(torch.tensor([0, 0, 0, 1, NOT_OTHER_ID, NOT_OTHER_ID]), 3)
    assert w.tolist() == pytest.approx([0.5, 1.5, 0.0])


def test_a_not_other_row_is_penalised_for_other_alone() -> None:
    """'Some topic, not other': moving probability between the topics costs nothing, towards other costs."""
    loss = TaskLoss(torch.ones(3), other=2)
    y = torch.tensor([NOT_OTHER_ID])
    topic_a, topic_b = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([[0.0, 4.0, 0.0]])
    assert loss(topic_a, y).item() == pytest.approx(loss(topic_b, y).item())
    p_other = torch.softmax(topic_a, -1)[0, 2].item()
    assert loss(topic_a, y).item() == pytest.approx(-np.log(1 - p_other), rel=1e-5)
    assert loss(torch.tensor([[0.0, 0.0, 4.0]]), y).item() > 3.0
    # labelled rows keep plain cross-entropy, and each row weighs the same in the batch mean
    mixed = loss(torch.cat([topic_a, topic_b]), torch.tensor([0, NOT_OTHER_ID]))
    plain = torch.nn.functional.cross_entropy(topic_a, torch.tensor([0])).item()
    assert mixed.item() == pytest.approx((plain + loss(topic_b, y).item()) / 2, rel=1e-5)


def test_a_not_other_row_with_a_soft_target_is_trained_towards_it() -> None:
    loss = TaskLoss(torch.ones(3), other=2)
    logits, y = torch.tensor([[1.0, 2.0, 0.5], [0.0, 3.0, 1.0]]), torch.tensor([1, NOT_OTHER_ID])
    soft = torch.tensor([[0.0, 0.0, 0.0], [0.8, 0.2, 0.0]])
    plain = torch.nn.functional.cross_entropy(logits[:1], y[:1]).item()
    towards = -(soft[1] * logits[1].log_softmax(-1)).sum().item()
    assert loss(logits, y, soft).item() == pytest.approx((plain + towards) / 2, rel=1e-5)
    # the target's own topic costs least: a row the start filed under topic 0 is pulled back there
    assert loss(torch.tensor([[3.0, 0.0, 0.0]]), y[1:], soft[1:]) < loss(torch.tensor([[0.0, 3.0, 0.0]]), y[1:], soft[1:])


class _TinyStack(torch.nn.Module):
    """Just what ``keep_topics`` uses of a Stack: heads and the upper pass."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.heads = torch.nn.ModuleDict({"topic": torch.nn.Linear(4, 3)})

    def upper(self, h: torch.Tensor, mask: torch.Tensor, start: int) -> dict[str, torch.Tensor]:
        return {"topic": self.heads["topic"](h.sum(1) / mask.sum(1, keepdim=True))}


def test_soft_targets_are_the_starting_heads_topics_without_other() -> None:
    stack = _TinyStack()
    hidden = [torch.randn(n, 4) for n in (3, 5, 2)]
    cached = Cached(hidden, torch.tensor([0, NOT_OTHER_ID, NOT_OTHER_ID]))
    soft = training.keep_topics(stack, cached, "topic", 0, other=2)  # type: ignore[arg-type]
    assert soft[0].tolist() == [0.0, 0.0, 0.0]  # labelled rows need none
    assert soft[1:, 2].tolist() == [0.0, 0.0] and soft[1:].sum(1).tolist() == pytest.approx([1.0, 1.0])
    logits = stack.upper(hidden[1][None], torch.ones(1, 5), 0)["topic"][0, :2]
    assert soft[1, :2].tolist() == pytest.approx(torch.softmax(logits, -1).tolist(), rel=1e-5)


def test_not_other_rows_need_an_other_class_in_their_task() -> None:
    from monitor.models import data

    rows = [data.Example("新闻标题", data.NOT_OTHER)]
    training.check_open_set("topic", data.Splits(data.BBC_TOPICS + ("other",), rows, [], []))
    with pytest.raises(data.DataError, match="task topic: .*add ood-chat"):
        training.check_open_set("topic", data.Splits(data.BBC_TOPICS, rows, [], []))


def test_length_batches_cover_every_row_and_group_similar_lengths() -> None:
    lengths = [random.Random(i).randint(1, 100) for i in range(200)]
    cached = Cached([torch.zeros(n, 2) for n in lengths], torch.zeros(200, dtype=torch.long))
    batches = length_batches(cached, 8, repeats=2, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == sorted(list(range(200)) * 2)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 25  # random batches of 8 would spread ~75


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=60))
def test_fast_macro_f1_matches_the_full_metrics(pairs: list[tuple[int, int]]) -> None:
    y = np.array([a for a, _ in pairs])
    pred = np.array([b for _, b in pairs])
    probs = np.eye(3)[pred]
    assert _macro_f1(y, pred, 3) == pytest.approx(metrics(y.tolist(), probs, ["a", "b", "c"])["macro_f1"])
