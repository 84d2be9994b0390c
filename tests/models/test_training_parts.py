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
from monitor.models.training import Cached, class_weights, length_batches, use_amp, warmup_linear


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
