"""Review-queue items as Label Studio tasks, and the labelling config they are annotated with.

A task's ``data`` holds the text, the message id and what the live model answered with which
version (flat keys, so Label Studio's data manager shows them as columns); its one prediction holds
the same answers as pre-selected Choices with their scores, so an annotator confirms or changes them.
The config has one Choices block per task (``topic``, ``sentiment``) whose values are the labels the
daemon knows. Knows nothing of HTTP: input is ``GET /api/review``'s JSON, however it was fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from xml.sax.saxutils import quoteattr

from monitor.feedback.corrections import TASKS

TEXT = "text"  # the name of the config's Text object, and the data key it shows


class ReviewFormatError(ValueError):
    """The review queue's JSON is not what ``GET /api/review`` returns; the message says what is off."""


@dataclass(slots=True)
class TaskBatch:
    """Tasks made from a review queue, the config to annotate them with, and the items left out and why."""

    tasks: list[dict[str, Any]]
    config: str
    labels: dict[str, list[str]]
    skipped: list[str] = field(default_factory=list)  # "message ID: why"


def data_key(task: str, what: str) -> str:
    """The task data key holding the model's ``what`` (``predicted``, ``model``, ``score``) for ``task``."""
    return f"{task}_{what}"


def labelling_config(labels: Mapping[str, list[str]]) -> str:
    """A Label Studio labelling config: the text, then one single-choice block per task."""
    lines = ["<View>", f'  <Text name="{TEXT}" value="${TEXT}"/>']
    for task in TASKS:
        values = labels.get(task) or []
        if not values:
            continue
        lines.append(f'  <Header value="{task.capitalize()}"/>')
        lines.append(f'  <Choices name="{task}" toName="{TEXT}" choice="single" showInline="true">')
        lines.extend(f"    <Choice value={quoteattr(v)}/>" for v in values)
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def to_task(item: Mapping[str, Any]) -> dict[str, Any]:
    """One review item as a Label Studio task with the live model's answers pre-selected."""
    data: dict[str, Any] = {TEXT: item["text"], "message_id": item["id"]}
    for key in ("source", "language", "priority"):
        if item.get(key) is not None:
            data[key] = item[key]
    data["reasons"] = "; ".join(item.get("reasons") or [])
    result, models, scores = [], [], []
    for task in TASKS:
        answer = (item.get("tasks") or {}).get(task)
        if not answer:
            continue
        data[data_key(task, "predicted")] = answer["label"]
        data[data_key(task, "model")] = answer.get("model", "")
        data[data_key(task, "score")] = answer.get("score")
        if answer.get("candidate"):
            data[data_key(task, "candidate")] = answer["candidate"]
        score = float(answer.get("score") or 0.0)
        result.append({"from_name": task, "to_name": TEXT, "type": "choices",
                       "value": {"choices": [answer["label"]]}, "score": score})
        models.append(answer.get("model", ""))
        scores.append(score)
    task_json: dict[str, Any] = {"data": data}
    if result:
        # the weakest answer scores the whole pre-annotation: Label Studio sorts and filters by it
        task_json["predictions"] = [{"model_version": " + ".join(dict.fromkeys(m for m in models if m)) or "live",
                                     "score": min(scores), "result": result}]
    return task_json


def from_review(review: Any) -> TaskBatch:
    """Tasks and config from ``GET /api/review``'s JSON (``{"items": [...], "labels": {...}}``)."""
    if not isinstance(review, dict) or not isinstance(review.get("items"), list):
        raise ReviewFormatError("expected the JSON of GET /api/review: an object with an 'items' list")
    labels: dict[str, set[str]] = {t: set(v) for t, v in (review.get("labels") or {}).items()
                                   if t in TASKS and isinstance(v, list)}
    tasks, skipped = [], []
    for number, item in enumerate(review["items"], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("tasks"), dict):
            raise ReviewFormatError(f"item {number} is not a review item (it needs 'id' and 'tasks')")
        if not isinstance(item.get("text"), str) or not item["text"].strip():
            skipped.append(f"message {item['id']}: no text (the daemon hides it unless http.expose_text is on)")
            continue
        for task, answer in item["tasks"].items():
            if task in TASKS and isinstance(answer, dict) and isinstance(answer.get("label"), str):
                # the model's own classes, and its answer, are always choices
                labels.setdefault(task, set()).update([answer["label"], *(answer.get("labels") or [])])
        tasks.append(to_task(item))
    ordered = {t: sorted(labels[t]) for t in TASKS if labels.get(t)}
    return TaskBatch(tasks, labelling_config(ordered), ordered, skipped)
