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
