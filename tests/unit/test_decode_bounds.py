"""Decoding bounds: nesting, huge numbers, long ids and sources, event time both ways; nothing raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from monitor.decode import Decoder
from monitor.records import DeadLetter, DeadLetterReason, Message, RawRecord, SourcePosition
from monitor.settings import InputSettings

POS = SourcePosition("news", 1, 42)
BROKER_MS = 1_700_000_000_000


def decode(value: bytes, broker_ms: int | None = BROKER_MS, **settings: object) -> Message | DeadLetter:
    return Decoder(InputSettings(**settings)).decode(RawRecord(POS, value, timestamp_ms=broker_ms))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"text": "a", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", DeadLetterReason.TOO_DEEP),
        (b'{"text": "a", "x": ' + b'{"y": ' * 5_000 + b"1" + b"}" * 5_000 + b"}", DeadLetterReason.TOO_DEEP),
        (b'{"text": "a", "x": ' + b"[" * 40 + b"]" * 40 + b"}", DeadLetterReason.TOO_DEEP),  # under orjson's limit
        (b'{"text": "a", "x": ' + b"9" * 5_000 + b"}", DeadLetterReason.INVALID_JSON),
        (b'{"text": "a", "id": ' + b"9" * 101 + b"}", DeadLetterReason.INVALID_JSON),
        (b'{"text": "a", "id": "' + b"i" * 257 + b'"}', DeadLetterReason.FIELD_TOO_LONG),
        (b'{"text": "a", "timestamp": -1}', DeadLetterReason.PAST_TIME),
        (b'{"text": "a", "timestamp": -1e300}', DeadLetterReason.PAST_TIME),
        (b'{"text": "a", "timestamp": 1697400000}', DeadLetterReason.PAST_TIME),  # 30 days and a bit before
    ],
)
def test_hostile_values_become_dead_letters(value: bytes, reason: DeadLetterReason) -> None:
    result = decode(value, max_message_bytes=10_000_000)
    assert isinstance(result, DeadLetter), result
    assert result.reason is reason, result.detail


def test_text_strings_with_brackets_do_not_count_as_depth() -> None:
    text = "[" * 100 + "{" * 100
    msg = decode(json.dumps({"text": text, "meta": {"a": [1, {"b": 2}]}}).encode())
    assert isinstance(msg, Message) and msg.text == text


def test_the_source_is_cut_to_its_limit_and_the_message_kept() -> None:
    msg = decode(json.dumps({"text": "a", "source": "s" * 1_000}).encode(), max_source_chars=10)
    assert isinstance(msg, Message) and msg.source == "s" * 10


def test_a_message_within_the_past_allowance_is_kept() -> None:
    msg = decode(b'{"text": "a", "timestamp": 1699999000}', max_past_seconds=1_000)
    assert isinstance(msg, Message)
    assert isinstance(decode(b'{"text": "a", "timestamp": 1699998999}', max_past_seconds=1_000), DeadLetter)


def test_without_a_broker_time_history_has_no_lower_bound() -> None:
    """Files replayed by ``monitor backtest`` carry no broker time: old event times are their point."""
    assert isinstance(decode(b'{"text": "a", "timestamp": 1000000000}', broker_ms=None), Message)


def test_an_unexpected_failure_is_an_unprocessable_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_: object) -> object:
        raise MemoryError("simulated")

    monkeypatch.setattr("monitor.decode.parse_time", boom)
    result = decode(b'{"text": "a", "timestamp": 1700000000}')
    assert isinstance(result, DeadLetter) and result.reason is DeadLetterReason.UNPROCESSABLE
    assert "MemoryError" in result.detail


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)
fields = st.fixed_dictionaries(
    {}, optional={"text": json_values | st.text(), "id": json_values, "timestamp": json_values,
                  "source": json_values, "lang": json_values},
)


@given(st.binary(max_size=2_000))
def test_any_bytes_decode_without_raising(value: bytes) -> None:
    assert isinstance(decode(value), (Message, DeadLetter))


@given(fields, json_values, st.integers(min_value=0, max_value=3_000))
def test_any_json_decodes_without_raising(obj: dict[str, object], extra: object, depth: int) -> None:
    body = json.dumps({**obj, "extra": extra}).encode()
    nested = body[:-1] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
    for value in (body, nested):
        result = decode(value)
        assert isinstance(result, (Message, DeadLetter))
        if isinstance(result, Message):
            assert len(result.id) <= 256 and len(result.source) <= 256
