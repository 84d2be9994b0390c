"""What is dead-lettered in place of a record the broker refuses for good (too large, not allowed).

The stand-in is bounded whatever the original was: the reason, where the input came from, the
original's size and SHA-256, and its first kilobyte, so an operator can find and judge it without
the dead-letter topic refusing it for the same reason.
"""

from __future__ import annotations

import hashlib

import orjson

from monitor.records import DeadLetterReason, SourcePosition

HEAD_BYTES = 1024
OutRecord = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers


def stand_in(topic: str, original: OutRecord, source: SourcePosition, error: BaseException) -> OutRecord:
    """A small dead-letter record that describes ``original``, which could not be written to its topic."""
    out_topic, key, value, _ = original
    detail = f"{type(error).__name__}: {str(error)[:300]}"
    body = {
        "reason": DeadLetterReason.UNPUBLISHABLE.value,
        "detail": detail,
        "meant_for": out_topic,
        "source": {"topic": source.topic, "partition": source.partition, "offset": source.offset},
        "size_bytes": len(value),
        "key_size_bytes": len(key) if key is not None else None,
        "sha256": hashlib.sha256(value).hexdigest(),
        "head": value[:HEAD_BYTES].decode("utf-8", "replace"),
    }
    headers = [
        ("textmon.reason", DeadLetterReason.UNPUBLISHABLE.value.encode()),
        ("textmon.detail", detail.encode()),
        ("textmon.source.topic", source.topic.encode()),
        ("textmon.source.partition", str(source.partition).encode()),
        ("textmon.source.offset", str(source.offset).encode()),
    ]
    return (topic, None, orjson.dumps(body), headers)
