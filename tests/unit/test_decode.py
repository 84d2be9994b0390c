"""Decoding: every malformed input becomes a dead letter with the right reason; good input maps fields."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from monitor.decode import Decoder, parse_time
from monitor.emit import enriched_record
from monitor.records import DeadLetter, DeadLetterReason, Enriched, Message, Prediction, RawRecord, SourcePosition
from monitor.settings import InputSettings

POS = SourcePosition("news", 1, 42)


def decode(value: bytes | None, **settings: object) -> Message | DeadLetter:
    return Decoder(InputSettings(**settings)).decode(RawRecord(POS, value, timestamp_ms=1_700_000_000_000))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, DeadLetterReason.EMPTY_VALUE),
        (b"", DeadLetterReason.EMPTY_VALUE),
        (b"{oops", DeadLetterReason.INVALID_JSON),
        (b'"just a string"', DeadLetterReason.NOT_AN_OBJECT),
        (b'{"title": "x"}', DeadLetterReason.MISSING_TEXT),
        (b'{"text": ["a"]}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": "a", "id": 1.5}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": "a", "timestamp": "soon"}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": "a", "timestamp": NaN}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": "a", "timestamp": 1e400}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": "a", "timestamp": 1700003601}', DeadLetterReason.FUTURE_TIME),  # 3,601 s after the broker's time
        (b'{"text": "a", "timestamp": "2286-11-20T17:46:40Z"}', DeadLetterReason.FUTURE_TIME),
        (b'{"text": "a", "lang": 7}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": " \\n "}', DeadLetterReason.EMPTY_TEXT),
        (b'{"text": "\xff"}', DeadLetterReason.NOT_UTF8),
        (b'{"text": "' + b"a" * 200 + b'"}', DeadLetterReason.OVERSIZED),
    ],
)
def test_malformed_input_is_dead_lettered_with_its_reason(value: bytes | None, reason: DeadLetterReason) -> None:
    result = decode(value, max_message_bytes=100)
    assert isinstance(result, DeadLetter)
    assert result.reason is reason
    assert result.detail


def test_json_fields_are_mapped_by_configured_names() -> None:
    value = json.dumps({"body": "央行宣布降息", "uid": 7, "ts": "2023-11-14T21:04:05Z", "feed": "wire", "language": "ZH"})
    msg = decode(value.encode(), text_field="body", id_field="uid", time_field="ts", source_field="feed", language_field="language")
    assert isinstance(msg, Message)
    assert (msg.id, msg.text, msg.source, msg.language) == ("7", "央行宣布降息", "wire", "zh")
    assert msg.event_time == 1699995845.0
    assert msg.broker_time == 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected_id"),
    [
        (b'{"text": "a", "id": 1180591620717411303424}', "1180591620717411303424"),  # an integer beyond 64 bits
        (b'{"text": "a", "id": "x", "price": NaN}', "x"),  # NaN, which strict JSON parsers refuse
        (b'{"text": "a \\ud83d", "id": "y"}', "y"),  # a lone surrogate escape
    ],
)
def test_json_the_standard_library_accepts_is_accepted(value: bytes, expected_id: str) -> None:
    msg = decode(value)
    assert isinstance(msg, Message)
    assert msg.id == expected_id


def test_an_emoji_cut_in_half_is_replaced_so_the_record_can_be_published() -> None:
    msg = decode(b'{"text": "Rates up \\ud83d", "id": "cut\\ude00", "source": "chat"}')
    assert isinstance(msg, Message)
    assert (msg.text, msg.id) == ("Rates up \ufffd", "cut\ufffd")
    record = Enriched(msg, Prediction(tasks={}), 0.0)
    assert json.loads(enriched_record("out", record)[2])["text"] == "Rates up \ufffd"


@pytest.mark.parametrize("sign", [b"", b"-"])
def test_an_integer_time_no_float_can_hold_is_refused(sign: bytes) -> None:
    result = decode(b'{"text": "a", "timestamp": ' + sign + b"1" + b"0" * 400 + b"}")
    assert isinstance(result, DeadLetter) and result.reason is DeadLetterReason.INVALID_JSON
    assert "digits" in result.detail


def test_an_event_time_within_the_future_allowance_is_kept() -> None:
    msg = decode(b'{"text": "a", "timestamp": 1700003000}')  # 50 minutes after the broker's time
    assert isinstance(msg, Message) and msg.event_time == 1_700_003_000.0
    late = decode(b'{"text": "a", "timestamp": 1699000000}')  # 12 days before it: trends decide what is late
    assert isinstance(late, Message) and late.event_time == 1_699_000_000.0


def test_missing_id_and_time_fall_back_to_position_and_broker_time() -> None:
    msg = decode(b'{"text": "hello"}')
    assert isinstance(msg, Message)
    assert msg.id == "news-1-42"
    assert msg.event_time == 1_700_000_000.0


def test_text_mode_takes_the_whole_value() -> None:
    msg = decode("  plain headline \n".encode(), format="text")
    assert isinstance(msg, Message) and msg.text == "plain headline"


def test_over_long_text_is_truncated_and_flagged_not_dropped() -> None:
    msg = decode(json.dumps({"text": "word " * 100}).encode(), max_text_chars=50)
    assert isinstance(msg, Message)
    assert msg.truncated and len(msg.text) == 50


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1_700_000_000, 1_700_000_000.0), (1_700_000_000_500, 1_700_000_000.5), ("2026-01-01T00:00:00+08:00", 1767196800.0),
     ("2026-01-01T00:00:00", 1767225600.0), ("nope", None), (True, None), (None, None)],
)
def test_parse_time(value: object, expected: float | None) -> None:
    assert parse_time(value) == expected


@given(st.binary(max_size=300))
def test_decoder_never_raises_on_arbitrary_bytes(value: bytes) -> None:
    result = decode(value)
    assert isinstance(result, (Message, DeadLetter))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300)
@given(st.fixed_dictionaries(
    {"text": st.one_of(st.text(min_size=1).filter(str.strip), json_values)},
    optional={"id": json_values, "timestamp": json_values, "source": json_values, "lang": json_values},
))
def test_decoder_never_raises_on_any_json_object(obj: dict[str, object]) -> None:
    value = json.dumps(obj).encode()  # NaN and Infinity as Python's encoder writes them
    result = decode(value)
    assert isinstance(result, (Message, DeadLetter))
    if isinstance(result, Message):
        assert result.event_time == result.event_time and abs(result.event_time) < float("inf")
