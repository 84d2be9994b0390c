"""The detector contract, the context it reads, and plugin discovery."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.trends import TopicBaseline, WindowStats

ENTRY_POINT_GROUP = "monitor.detectors"


@dataclass(frozen=True, slots=True)
class DetectionContext:
    """What a detector may read: the window, the baseline's expectation for it, and the baseline itself."""

    key: str
    window: WindowStats
    expected_count: float
    baseline: TopicBaseline
    store_age: int  # buckets the whole store has closed (for emerging topics)
    warmup_buckets: int
    closed: bool = True  # False while judging the still-open bucket: stateful detectors must not accumulate
    latest: WindowStats | None = None  # the newest bucket alone: what a sequential statistic adds, once
    latest_expected: float | None = None  # the baseline's expectation for ``latest`` (its elapsed part, if open)


@dataclass(frozen=True, slots=True)
class Detection:
    """A detector's verdict: ``score`` compares with the rule threshold; the values explain it."""

    breached: bool
    score: float
    observed: float
    expected: float
    summary: str


@runtime_checkable
class Detector(Protocol):
    """Judges windows. ``params`` are validated when the rule is loaded, not at first use."""

    name: ClassVar[str]

    def detect(self, ctx: DetectionContext) -> Detection:
        """Read one window; must be cheap (called for every topic at every closed bucket)."""
        ...


class DetectorParams(BaseModel):
    """Base for detector parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DetectorConfigError(Exception):
    """A detector could not be found or rejected its parameters; the message names the rule."""


def load_detector(rule: str, name: str, params: dict[str, Any]) -> Detector:
    """Find detector ``name`` (entry point or ``module:Class``) and build it with validated params."""
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise DetectorConfigError(f"rule '{rule}': cannot import detector {name}: {exc}") from exc
    else:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
            raise DetectorConfigError(f"rule '{rule}': no detector {name!r}; installed: {known}")
        factory = found[0].load()
    try:
        detector = factory(**params)
    except (ValidationError, TypeError) as exc:
        raise DetectorConfigError(f"rule '{rule}': detector {name!r} rejected its params: {exc}") from exc
    if not isinstance(detector, Detector):
        raise DetectorConfigError(f"rule '{rule}': {name} has no detect() method")
    return detector
