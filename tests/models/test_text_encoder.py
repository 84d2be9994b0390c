"""Token ids the models see: the same as the tokenizer's full encoding, truncation flagged."""

from __future__ import annotations

import pytest

from monitor.models.encoder import BASES, TextEncoder, resolve_base

TEXTS = [
    "Shares of Acme fell 12% after the profit warning",
    "央行宣布下调存款准备金率，市场反应积极",
    "Café owners say the new rules are über-complicated!!",
    "word " * 300,  # over max_length: cut, and flagged
    "",
]


@pytest.mark.parametrize("package", sorted(BASES))
def test_ids_are_the_full_encoding_and_cut_texts_are_flagged(package: str) -> None:
    text = TextEncoder(resolve_base(package), 64)
    ids, truncated = text.ids(TEXTS)
    full = text.tok.encode_batch([text.prepare(t) for t in TEXTS])
    assert ids == [e.ids for e in full]
    assert truncated == [False, False, False, True, False]
    assert len(ids[3]) == 64


@pytest.mark.parametrize("package", sorted(BASES))
def test_padding_finds_the_real_tokens_places_the_graph_reads(package: str) -> None:
    # the bundle hands these to the graph instead of asking torch for them; a wrong place would embed
    # padding as text, or drop a token
    from monitor.models.graph import real_tokens

    text = TextEncoder(resolve_base(package), 64)
    ids, _ = text.ids(TEXTS)
    input_ids, mask, real = text.pad_with_places(ids)
    assert all(a.equal(b) for a, b in zip((input_ids, mask), text.pad(ids)))
    assert real.dtype == real_tokens(mask).dtype
    assert real.tolist() == real_tokens(mask).tolist()
    assert input_ids.flatten()[real].tolist() == [t for row in ids for t in row]
