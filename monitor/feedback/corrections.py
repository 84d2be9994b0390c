"""Analysts' corrections: the record, its JSON form on the feedback topic, and the latest per message.

Knows nothing of Kafka or HTTP: ``monitor.feedback.log`` reads and writes the topic,
``monitor.feedback.api`` takes corrections from analysts; both hand ``Correction`` records here.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping

TASKS = ("topic", "sentiment")
MAX_ID_CHARS = 256
MAX_WHO_CHARS = 128
MAX_TEXT_CHARS = 20_000
VIAS = ("api", "topic", "label-studio")  # how a correction came in: the daemon's API, any producer, an import


class InvalidCorrection(ValueError):
    """A correction that cannot be accepted; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Correction:
    """The right labels for one message, who said so and when, and what the model had said.

    ``labels`` maps a task (``topic``, ``sentiment``) to the correct label; at least one is set.
    ``model_versions`` names the model that answered each corrected task (``name@version``), and
    ``predicted`` what it answered, when known.
    """

    message_id: str
    labels: dict[str, str]
    who: str
    at: float  # unix seconds
    text: str
    model_versions: dict[str, str] = field(default_factory=dict)
    predicted: dict[str, str] = field(default_factory=dict)
    via: str = "topic"  # one of VIAS: how it came in

    def to_json(self) -> dict[str, Any]:
        """The feedback topic's record value (keyed by ``message_id``)."""
        return {"id": self.message_id, **{t: self.labels.get(t) for t in TASKS}, "who": self.who, "at": self.at,
                "text": self.text, "model_versions": dict(self.model_versions), "predicted": dict(self.predicted),
                "via": self.via}


def _string(data: Mapping[str, Any], key: str, limit: int, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidCorrection(f"{key!r} must be a non-empty string")
    if len(value) > limit:
        raise InvalidCorrection(f"{key!r} is longer than {limit} characters")
    return value


def _string_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidCorrection(f"{key!r} must map task names to strings")
    return {k: v[:256] for k, v in value.items() if k in TASKS}


def parse_correction(data: Any, *, at: float, via: str, key: str | None = None,
                     labels: Mapping[str, frozenset[str]] | None = None) -> Correction:
    """A ``Correction`` from JSON data (an API body or a topic record); raises ``InvalidCorrection``.

    ``at`` is used when the data carries no time; ``key`` (the record key) must equal the id when
    both are present; ``labels`` (task -> known labels) rejects labels no model or topic knows.
    """
    if not isinstance(data, dict):
        raise InvalidCorrection("a correction is a JSON object")
    message_id = _string(data, "id", MAX_ID_CHARS)
    assert message_id is not None
    if key is not None and key != message_id:
        raise InvalidCorrection(f"record key {key[:64]!r} is not the correction's id {message_id[:64]!r}")
    corrected: dict[str, str] = {}
    for task in TASKS:
        label = _string(data, task, 64, required=False)
        if label is None:
            continue
        if labels is not None and label not in labels.get(task, frozenset()):
            known = ", ".join(sorted(labels.get(task, frozenset()))) or "none"
            raise InvalidCorrection(f"{task} {label!r} is not a known label (known: {known})")
        corrected[task] = label
    if not corrected:
        raise InvalidCorrection("a correction needs 'topic' and/or 'sentiment'")
    who = _string(data, "who", MAX_WHO_CHARS)
    text = _string(data, "text", MAX_TEXT_CHARS)
    when = data.get("at", at)
    if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(when) or when < 0:
        raise InvalidCorrection("'at' must be unix seconds")
    assert who is not None and text is not None
    return Correction(message_id, corrected, who, float(when), text, _string_map(data, "model_versions"),
                      _string_map(data, "predicted"), via)


def decode_record(key: bytes | None, value: bytes | None, *, at: float,
                  labels: Mapping[str, frozenset[str]] | None = None) -> Correction | None:
    """A feedback topic record: a correction, or None for a tombstone (the correction withdrawn)."""
    if value is None:
        return None
    try:
        data = json.loads(value)
        text_key = key.decode("utf-8") if key is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidCorrection(f"not UTF-8 JSON: {exc}") from None
    # what the API or an import wrote says so; anything else was produced straight to the topic
    via = data["via"] if isinstance(data, dict) and data.get("via") in VIAS else "topic"
    return parse_correction(data, at=at, via=via, key=text_key, labels=labels)


def encode_record(correction: Correction) -> tuple[bytes, bytes]:
    """Key and value for the feedback topic."""
    return correction.message_id.encode("utf-8"), json.dumps(correction.to_json(), ensure_ascii=False).encode("utf-8")


class CorrectionBook:
    """The latest correction per message id, as the feedback topic says, bounded in size.

    Records of one id share a partition, so the higher offset is the later word; a record applied
    twice (read back after the API applied it on its acknowledgement) changes nothing.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._latest: OrderedDict[str, tuple[int, Correction]] = OrderedDict()
        self._withdrawn: dict[str, int] = {}  # id -> offset of its tombstone, so an older record does not revive it

    def __len__(self) -> int:
        return len(self._latest)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._latest

    def get(self, message_id: str) -> Correction | None:
        """The latest correction of a message, if any."""
        entry = self._latest.get(message_id)
        return entry[1] if entry else None

    def apply(self, message_id: str, offset: int, correction: Correction | None) -> bool:
        """Record what the topic holds at ``offset`` for ``message_id`` (None: withdrawn); False if stale."""
        seen = self._latest.get(message_id)
        newest = max(seen[0] if seen else -1, self._withdrawn.get(message_id, -1))
        if offset <= newest:
            return False
        if correction is None:
            self._latest.pop(message_id, None)
            self._withdrawn[message_id] = offset
            if len(self._withdrawn) > self.max_entries:
                self._withdrawn.pop(next(iter(self._withdrawn)))
            return True
        self._withdrawn.pop(message_id, None)
        self._latest.pop(message_id, None)
        self._latest[message_id] = (offset, correction)
        while len(self._latest) > self.max_entries:
            self._latest.popitem(last=False)  # the oldest word goes first; the topic still has it
        return True

    def latest(self, limit: int | None = None) -> list[Correction]:
        """Corrections, most recently applied first."""
        out = [c for _, c in reversed(self._latest.values())]
        return out if limit is None else out[:limit]
