"""The traced encoder graph computes what the eager forward pass computes, for every batch shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monitor.models.base import native_bf16
from monitor.models.bundle import load_bundle
from monitor.models.graph import GraphStack
from monitor.models.loader import BUNDLED_DIR

TEXTS = [
    "Stocks slide as bank fraud probe widens",
    "Cup final goes to penalties",
    "央行宣布降准，银行股领涨",
    "The prime minister called a general election after a long and bitter leadership contest " * 6,
    "ok",
]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
@pytest.mark.parametrize("name", ["en-news", "multilingual-news"])
def test_traced_graph_matches_eager_forward_on_every_shape(name: str, precision: str) -> None:
    traced = load_bundle(BUNDLED_DIR / name, torch.device("cpu"), precision)  # type: ignore[arg-type]
    eager = load_bundle(BUNDLED_DIR / name, torch.device("cpu"), precision, trace=False)  # type: ignore[arg-type]
    assert traced.traced and not eager.traced
    assert traced.stack is None  # the graph holds what it runs; the eager modules would double the weights
    tolerance = 0.02 if precision == "bf16" else 1e-4
    # one trace serves batches of other sizes and widths: single, padded, truncated, repeated
    for texts in (TEXTS[:1], TEXTS, TEXTS[3:], TEXTS * 7):
        batch = traced.encode(texts)
        got, want = traced.forward(batch), eager.forward(batch)
        for task in want:
            assert got[task].shape == (len(texts), len(traced.info.tasks[task]))
            assert np.abs(got[task] - want[task]).max() <= tolerance, (task, len(texts))
            assert (got[task].argmax(1) == want[task].argmax(1)).all()


@pytest.mark.parametrize("trace", [True, False])
def test_a_message_gets_the_same_probabilities_whatever_shares_its_batch(trace: bool) -> None:
    """The dense layers skip padding: a headline batched with a long post, or alone, scores the same."""
    bundle = load_bundle(BUNDLED_DIR / "multilingual-news", torch.device("cpu"), "fp32", trace=trace)
    alone = [bundle.forward(bundle.encode([text])) for text in TEXTS]
    together = bundle.forward(bundle.encode(TEXTS))
    for i, single in enumerate(alone):
        for task, probs in single.items():
            assert np.abs(together[task][i] - probs[0]).max() <= 1e-5, (task, TEXTS[i])


def test_int8_stays_eager() -> None:
    assert not load_bundle(BUNDLED_DIR / "en-news", torch.device("cpu"), "int8").traced


@pytest.mark.skipif(native_bf16(torch.device("cpu")) is None, reason="this CPU has no bf16 matrix instructions for oneDNN")
def test_bf16_dense_layers_run_on_prepacked_weights() -> None:
    """Prepacking is a fallback-on-failure path: without this check, losing it would only show as a slower benchmark."""
    bundle = load_bundle(BUNDLED_DIR / "en-news", torch.device("cpu"), "bf16", trace=False)  # type: ignore[arg-type]
    assert bundle.stack is not None
    graph = GraphStack(bundle.stack)
    layers = len(bundle.stack.bert.encoder.layer)
    assert sum(name is not None for names in graph.packed for name in names) == 6 * layers
    fp32 = load_bundle(BUNDLED_DIR / "en-news", torch.device("cpu"), "fp32", trace=False).stack
    assert fp32 is not None
    assert not any(name for names in GraphStack(fp32).packed for name in names)
