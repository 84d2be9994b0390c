"""Temperature scaling: the fitted temperature undoes a known over-confidence."""

from __future__ import annotations

import numpy as np

from monitor.models.calibration import fit_temperature
from monitor.models.evaluation import ece


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_recovers_the_temperature_that_made_logits_overconfident() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, size=(4000, 3))
    y = np.array([rng.choice(3, p=p) for p in _softmax(true_logits)])
    sharp = true_logits * 3.0  # an over-confident model: same ranking, logits three times too large
    t = fit_temperature(sharp, y)
    assert 2.6 < t < 3.4
    assert ece(_softmax(sharp / t), y) < ece(_softmax(sharp), y)


def test_temperature_leaves_the_arg_max_alone() -> None:
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2]])
    t = fit_temperature(logits, np.array([0, 1]))
    assert (np.argmax(logits / t, 1) == np.argmax(logits, 1)).all()
