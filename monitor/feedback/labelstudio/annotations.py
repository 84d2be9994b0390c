"""Finished Label Studio annotations as corrections.

Input is a project's JSON export (a list of tasks, each with its ``annotations``), from a file or
through the API. A task made by ``tasks`` names its message and what the model answered; its
annotation says the right labels, who gave them and when. Per task one annotation counts: the one
marked ground truth, else the latest. Cancelled (skipped) annotations and annotations that choose
nothing count nothing; anything that cannot become a correction is named in ``Conversion.unusable``.
An annotation that confirms the model's answer is a correction too: the label is then known right,
which retraining uses as much as a changed one. Knows nothing of HTTP or Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from monitor.feedback.corrections import TASKS, Correction, InvalidCorrection, parse_correction
from monitor.feedback.labelstudio.tasks import TEXT, data_key

VIA = "label-studio"


class ExportFormatError(ValueError):
    """Not a Label Studio JSON export; the message says what is off."""


@dataclass(slots=True)
class Conversion:
    """Corrections made from an export, and what was left out on the way."""

    corrections: list[Correction] = field(default_factory=list)
    changed: int = 0  # corrections whose labels differ from the model's answer in at least one task
    unannotated: int = 0  # tasks nobody has finished
    cancelled: int = 0  # annotations skipped by their annotator
    empty: int = 0  # annotations that chose no topic or sentiment
    superseded: int = 0  # further annotations of a task that has a ground-truth or later one
    unusable: list[str] = field(default_factory=list)  # "task ID: why"

    def summary(self) -> dict[str, Any]:
        """Counts for a person (and the first few unusable tasks by name)."""
        return {"corrections": len(self.corrections), "changed": self.changed,
                "confirmed": len(self.corrections) - self.changed, "unannotated": self.unannotated,
                "cancelled": self.cancelled, "empty": self.empty, "superseded": self.superseded,
                "unusable": len(self.unusable), "unusable_first": self.unusable[:10]}


def unix_seconds(value: Any) -> float:
    """Label Studio's ISO-8601 times (``...Z`` or with an offset; naive means UTC) as unix seconds."""
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def annotator(completed_by: Any, users: Mapping[int, str]) -> str:
    """Who finished an annotation: the export gives a user id (named through ``users``) or a user object."""
    if isinstance(completed_by, dict):
        for key in ("email", "username"):
            if isinstance(completed_by.get(key), str) and completed_by[key]:
                return str(completed_by[key])
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return users.get(completed_by) or f"label-studio-user-{completed_by}"
    raise ValueError("it names no annotator (completed_by)")


def chosen(result: Any) -> dict[str, str]:
    """Task -> the label an annotation's result chose (Choices regions named after the tasks)."""
    if not isinstance(result, list):
        raise ValueError("its result is not a list")
    labels: dict[str, str] = {}
    for region in result:
        if not isinstance(region, dict) or region.get("from_name") not in TASKS or region.get("type") != "choices":
            continue  # regions of other controls (a comment box, say) are the project's own business
        choices = (region.get("value") or {}).get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
            raise ValueError(f"{region['from_name']} must be exactly one choice, got {choices!r}")
        labels[str(region["from_name"])] = choices[0]
    return labels


def _pick(annotations: list[Any], conversion: Conversion) -> dict[str, Any] | None:
    """The annotation that speaks for a task: ground truth first, then the latest; cancelled ones never."""
    live = []
    for a in annotations:
        if not isinstance(a, dict):
            continue
        if a.get("was_cancelled"):
            conversion.cancelled += 1
        else:
            live.append(a)
    if not live:
        return None
    live.sort(key=lambda a: (bool(a.get("ground_truth")), str(a.get("updated_at") or a.get("created_at") or "")))
    conversion.superseded += len(live) - 1
    return live[-1]


def _correction(task: dict[str, Any], annotation: dict[str, Any], labels: dict[str, str],
                users: Mapping[int, str]) -> Correction:
    data = task.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("message_id"), str):
        raise ValueError("its data has no message_id (was it made by monitor feedback label-studio export?)")
    versions = {t: data[data_key(t, "model")] for t in labels if isinstance(data.get(data_key(t, "model")), str)
                and data[data_key(t, "model")]}
    predicted = {t: data[data_key(t, "predicted")] for t in labels if isinstance(data.get(data_key(t, "predicted")), str)}
    record = {"id": data["message_id"], **labels, "who": annotator(annotation.get("completed_by"), users),
              "at": unix_seconds(annotation.get("updated_at") or annotation.get("created_at")),
              "text": data.get(TEXT), "model_versions": versions, "predicted": predicted}
    try:
        return parse_correction(record, at=0.0, via=VIA)
    except InvalidCorrection as exc:
        raise ValueError(str(exc)) from None


def from_export(tasks: Any, users: Mapping[int, str] | None = None) -> Conversion:
    """Corrections from a Label Studio JSON export (``users``: user id -> email, for ids in the export)."""
    if not isinstance(tasks, list):
        raise ExportFormatError("expected a Label Studio JSON export: a list of tasks")
    conversion = Conversion()
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise ExportFormatError(f"entry {number} is not a task object")
        name = f"task {task.get('id', f'#{number}')}"
        annotation = _pick(task.get("annotations") or [], conversion)
        if annotation is None:
            conversion.unannotated += not any(isinstance(a, dict) and a.get("was_cancelled")
                                              for a in task.get("annotations") or [])
            continue
        try:
            labels = chosen(annotation.get("result"))
            if not labels:
                conversion.empty += 1
                continue
            correction = _correction(task, annotation, labels, users or {})
        except ValueError as exc:
            conversion.unusable.append(f"{name}: {exc}")
            continue
        conversion.corrections.append(correction)
        conversion.changed += correction.labels != {t: correction.predicted.get(t) for t in correction.labels}
    # a message sent for labelling twice: the later word goes last onto the topic, so it is the one kept
    conversion.corrections.sort(key=lambda c: c.at)
    return conversion
