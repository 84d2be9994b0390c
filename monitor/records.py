"""The nouns every stage speaks: plain, typed, immutable records.

Data flows one way: ``RawRecord`` -> ``Message`` (or ``DeadLetter``) -> ``Prediction`` ->
``Enriched`` -> trends -> ``Alert``. A stage never passes a dict to the next.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a record came from: enough to commit its offset and to log it."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as the source delivered it, before decoding."""

    position: SourcePosition
    value: bytes | None
    key: bytes | None = None
    timestamp_ms: int | None = None  # broker (or replay) timestamp
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message ready for classification."""

    id: str
    text: str
    event_time: float  # unix seconds
    source: str
    language: str | None
    position: SourcePosition
    broker_time: float | None = None
    truncated: bool = False
    consumed_at: float = 0.0
    raw: RawRecord | None = field(default=None, repr=False, compare=False)  # for a dead letter, should a stage refuse it


class DeadLetterReason(str, enum.Enum):
    """Why a record could not be processed; the value is the metric label and header."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    WRONG_TYPE = "wrong_type"
    MISSING_TEXT = "missing_text"
    EMPTY_TEXT = "empty_text"
    NOT_UTF8 = "not_utf8"
    OVERSIZED = "oversized"
    FUTURE_TIME = "future_time"
    PAST_TIME = "past_time"
    TOO_DEEP = "too_deep"
    FIELD_TOO_LONG = "field_too_long"
    UNPUBLISHABLE = "unpublishable"  # the broker refused its output or dead letter for good: a stand-in went instead
    UNPROCESSABLE = "unprocessable"  # decoded, but a later stage raised on this message alone
    EMPTY_VALUE = "empty_value"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that failed decoding, with the reason and a human-readable detail."""

    raw: RawRecord
    reason: DeadLetterReason
    detail: str


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One classification task's outcome for one message."""

    label: str
    score: float
    distribution: dict[str, float]
    model: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """Every task's result for one message (task name -> result), plus token truncation."""

    tasks: dict[str, TaskResult]
    truncated: bool = False
    # the user's topics defined by example that the message belongs to (label, probability), most
    # likely first; trended beside the model's topic (``monitor.examples``)
    example_topics: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Enriched:
    """A message together with its prediction: what is published and what trends consume."""

    message: Message
    prediction: Prediction
    classified_at: float

    @property
    def topic_label(self) -> str:
        """The topic label, or ``"unknown"`` when no topic model ran."""
        result = self.prediction.tasks.get("topic")
        return result.label if result else "unknown"

    @property
    def sentiment_label(self) -> str:
        """The sentiment label, or ``"unknown"`` when no sentiment model ran."""
        result = self.prediction.tasks.get("sentiment")
        return result.label if result else "unknown"

    @property
    def model_versions(self) -> dict[str, str]:
        """Task name -> model version that produced it."""
        return {task: result.model for task, result in self.prediction.tasks.items()}

    def to_json(self) -> dict[str, Any]:
        """The output-topic payload."""
        m = self.message
        return {
            "id": m.id,
            "source": m.source,
            "language": m.language,
            "text": m.text,
            "event_time": m.event_time,
            "broker_time": m.broker_time,
            "consumed_at": m.consumed_at,
            "classified_at": self.classified_at,
            "truncated": m.truncated or self.prediction.truncated,
            "input": {"topic": m.position.topic, "partition": m.position.partition, "offset": m.position.offset},
            "topic": _task_json(self.prediction.tasks.get("topic")),
            "sentiment": _task_json(self.prediction.tasks.get("sentiment")),
            "models": self.model_versions,
            **({"example_topics": [{"label": label, "score": score} for label, score in self.prediction.example_topics]}
               if self.prediction.example_topics else {}),
        }


def _task_json(result: TaskResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "label": result.label,
        "score": result.score,
        "distribution": result.distribution,
        "model": result.model,
    }


class AlertState(str, enum.Enum):
    """Alert lifecycle states, as Alertmanager users know them."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A message that drove an alert."""

    id: str
    snippet: str
    score: float


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert notification: a rule's verdict on one trend key at one moment."""

    rule: str
    key: str  # the trend key (e.g. topic label) the rule evaluated
    state: AlertState
    severity: str
    fingerprint: str
    summary: str
    observed: float
    expected: float
    score: float
    window_seconds: float
    starts_at: float
    ends_at: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    exemplars: tuple[Exemplar, ...] = ()
    model_versions: dict[str, str] = field(default_factory=dict)
    detector: str = ""
    terms: tuple[str, ...] = ()
    reminder: bool = False
    parts: tuple[Alert, ...] = ()  # an incident's alerts (monitor/alerts/incidents.py); empty for a plain alert

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries of the same notification, so receivers can drop repeats: the
        fingerprint, start time and state (and, for an incident, its parts' fingerprints and
        states, so an update that adds an alert is new). A reminder repeats its notification's key."""
        parts = ",".join(sorted(f"{p.fingerprint}:{p.state.value}" for p in self.parts))
        raw = f"{self.fingerprint}|{self.starts_at!r}|{self.state.value}|{parts}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view used by webhook-like sinks."""
        return {
            "idempotency_key": self.idempotency_key,
            "rule": self.rule,
            "key": self.key,
            "state": self.state.value,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "summary": self.summary,
            "observed": self.observed,
            "expected": self.expected,
            "score": self.score,
            "window_seconds": self.window_seconds,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "exemplars": [{"id": e.id, "snippet": e.snippet, "score": e.score} for e in self.exemplars],
            "model_versions": dict(self.model_versions),
            "detector": self.detector,
            "terms": list(self.terms),
            "reminder": self.reminder,
            **({"parts": [p.to_json() for p in self.parts]} if self.parts else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        """Inverse of ``to_json`` (used by the outbox and the Kafka alert topic)."""
        return cls(
            rule=data["rule"], key=data["key"], state=AlertState(data["state"]), severity=data["severity"],
            fingerprint=data["fingerprint"], summary=data["summary"], observed=data["observed"],
            expected=data["expected"], score=data["score"], window_seconds=data["window_seconds"],
            starts_at=data["starts_at"], ends_at=data.get("ends_at"), labels=dict(data.get("labels", {})),
            annotations=dict(data.get("annotations", {})),
            exemplars=tuple(Exemplar(**e) for e in data.get("exemplars", ())),
            model_versions=dict(data.get("model_versions", {})), detector=data.get("detector", ""),
            terms=tuple(data.get("terms", ())), reminder=bool(data.get("reminder", False)),
            parts=tuple(cls.from_json(p) for p in data.get("parts", ())),
        )
