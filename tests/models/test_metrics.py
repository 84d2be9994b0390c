"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.models.evaluation import ece, metrics


def one_hot(pred: list[int], n: int, conf: float = 1.0) -> np.ndarray:
    p = np.full((len(pred), n), (1 - conf) / (n - 1) if n > 1 else 0.0)
    p[np.arange(len(pred)), pred] = conf
    return p


def test_per_class_and_averages() -> None:
    # true:  a a a b b c ; pred: a a b b c c
    m = metrics([0, 0, 0, 1, 1, 2], one_hot([0, 0, 1, 1, 2, 2], 3), ["a", "b", "c"])
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    pc = m["per_class"]
    assert (pc["a"]["precision"], pc["a"]["recall"]) == (pytest.approx(1.0), pytest.approx(2 / 3))
    assert (pc["b"]["precision"], pc["b"]["recall"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert (pc["c"]["precision"], pc["c"]["recall"]) == (pytest.approx(0.5), pytest.approx(1.0))
    f1 = [0.8, 0.5, 2 / 3]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert m["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)


def test_absent_class_is_left_out_of_macro_average() -> None:
    m = metrics([0, 1], one_hot([0, 1], 3), ["a", "b", "c"])
    assert m["macro_f1"] == pytest.approx(1.0)
    assert m["per_class"]["c"]["support"] == 0


def test_ece() -> None:
    y = np.array([0, 0, 1, 1])
    assert ece(one_hot([0, 0, 1, 1], 2), y) == pytest.approx(0.0)
    # always 90% confident, right half the time -> gap 0.4
    assert ece(one_hot([0, 1, 0, 1], 2, conf=0.9), y) == pytest.approx(0.4)
