"""Publish errors classified once: passing ones are retried, permanent ones get a bounded stand-in."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from aiokafka import errors

from monitor.emit import is_permanent
from monitor.records import SourcePosition
from monitor.standin import HEAD_BYTES, stand_in


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (errors.MessageSizeTooLargeError(), True),
        (errors.RecordTooLargeError(), True),
        (errors.TopicAuthorizationFailedError(), True),
        (errors.InvalidTopicError(), True),
        (ValueError("value must be bytes"), True),
        (errors.KafkaTimeoutError(), False),  # aiokafka calls it final; it is the broker being away
        (errors.KafkaConnectionError(), False),
        (errors.NotLeaderForPartitionError(), False),
        (errors.RequestTimedOutError(), False),
        (errors.UnknownTopicOrPartitionError(), False),
        (errors.NotEnoughReplicasError(), False),
    ],
)
def test_errors_are_classified(error: BaseException, permanent: bool) -> None:
    assert is_permanent(error) is permanent


def test_a_stand_in_is_bounded_whatever_the_original() -> None:
    value = b"\xff" + b"v" * 5_000_000
    key = b"k" * 1_000_000
    topic, out_key, body, headers = stand_in("dlq", ("out", key, value, [("h", b"x" * 100_000)]),
                                            SourcePosition("in", 2, 77), errors.MessageSizeTooLargeError())
    assert topic == "dlq" and out_key is None and len(body) < 4096
    assert sum(len(v) for _, v in headers) < 1024
    data = orjson.loads(body)
    assert data["size_bytes"] == len(value) and data["key_size_bytes"] == len(key)
    assert data["sha256"] == hashlib.sha256(value).hexdigest()
    assert data["source"] == {"topic": "in", "partition": 2, "offset": 77} and data["meant_for"] == "out"
    assert data["head"].startswith("\ufffdvvv") and len(data["head"]) <= HEAD_BYTES
    assert dict(headers)["textmon.reason"] == b"unpublishable"
