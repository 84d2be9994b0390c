"""Whatever text a valid JSON record carries, the stages after decoding can take it: tokenising for
both shipped bases, trends' text features and the published record. A text that one of them
refused would stop the daemon, and stop it again on every restart (the message is redelivered)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from monitor.decode import Decoder
from monitor.emit import enriched_record
from monitor.models.encoder import BASES, TextEncoder, resolve_base
from monitor.records import Enriched, Message, Prediction, RawRecord, SourcePosition
from monitor.settings import InputSettings
from monitor.trends.store import TrendStore

ENCODERS = {package: TextEncoder(resolve_base(package), 64) for package in sorted(BASES)}
DECODER = Decoder(InputSettings())
TRENDS = TrendStore()

# UTF-16 code units as JSON escapes: lone and swapped surrogate halves included, which no UTF-8
# producer can write but a JSON producer that escapes UTF-16 text can
code_units = st.lists(st.one_of(st.integers(0, 0xFFFF), st.integers(0xD800, 0xDFFF)), max_size=40)


def record(units: list[int]) -> bytes:
    escaped = "".join(f"\\u{u:04x}" for u in units)
    return f'{{"id": "x{escaped}", "text": "news {escaped}", "source": "s{escaped}"}}'.encode()


@settings(max_examples=300, deadline=None)
@given(code_units, st.text(max_size=40))
def test_a_decoded_message_passes_every_later_stage(units: list[int], plain: str) -> None:
    for value in (record(units), json.dumps({"text": "news " + plain}).encode()):
        msg = DECODER.decode(RawRecord(SourcePosition("news", 0, 1), value, timestamp_ms=1_700_000_000_000))
        assert isinstance(msg, Message)
        for encoder in ENCODERS.values():
            ids, _ = encoder.ids([msg.text])
            assert ids[0]
        assert TRENDS.text_features([msg.text])
        published = orjson.loads(enriched_record("out", Enriched(msg, Prediction(tasks={}), 0.0))[2])
        assert published["id"] == msg.id and published["text"] == msg.text


@pytest.mark.parametrize("package", sorted(BASES))
def test_both_halves_of_an_escaped_pair_still_make_the_emoji(package: str) -> None:
    msg = DECODER.decode(RawRecord(SourcePosition("news", 0, 1), b'{"text": "up \\ud83d\\ude80"}', timestamp_ms=0))
    assert isinstance(msg, Message) and msg.text == "up \U0001f680"
    assert ENCODERS[package].ids([msg.text])[0][0]
