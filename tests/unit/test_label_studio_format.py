"""Review items as Label Studio tasks, and a Label Studio JSON export as corrections."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from monitor.feedback.labelstudio.annotations import ExportFormatError, from_export, unix_seconds
from monitor.feedback.labelstudio.tasks import ReviewFormatError, from_review

ITEM = {"id": "m1", "text": "Bank misses bond payment", "source": "wire", "language": "en", "priority": 0.9,
        "reasons": ["low margin on topic (0.10)"],
        "tasks": {"topic": {"label": "business", "score": 0.41, "labels": ["business", "sport"], "model": "t@1"},
                  "sentiment": {"label": "neutral", "score": 0.5, "labels": ["negative", "neutral", "positive"],
                                "model": "s@2"}}}


def test_a_review_item_becomes_a_task_with_the_models_answers_preselected():
    batch = from_review({"items": [ITEM, {**ITEM, "id": "m2", "text": ""}], "labels": {"topic": ["politics"]}})
    [task] = batch.tasks
    assert task["data"]["text"] == ITEM["text"] and task["data"]["message_id"] == "m1"
    assert task["data"]["topic_model"] == "t@1" and task["data"]["sentiment_predicted"] == "neutral"
    [prediction] = task["predictions"]
    assert prediction["score"] == 0.41 and prediction["model_version"] == "t@1 + s@2"
    assert {r["from_name"]: r["value"]["choices"] for r in prediction["result"]} == {"topic": ["business"],
                                                                                     "sentiment": ["neutral"]}
    assert batch.skipped == ["message m2: no text (the daemon hides it unless http.expose_text is on)"]
    assert batch.labels == {"topic": ["business", "politics", "sport"], "sentiment": ["negative", "neutral", "positive"]}
    root = ET.fromstring(batch.config)
    assert {b.get("name"): [c.get("value") for c in b] for b in root.iter("Choices")} == batch.labels


def test_labels_are_escaped_in_the_config():
    item = {**ITEM, "tasks": {"topic": {"label": 'M&A "deals"', "score": 0.3, "model": "t@1"}}}
    root = ET.fromstring(from_review({"items": [item]}).config)
    assert [c.get("value") for c in root.iter("Choice")] == ['M&A "deals"']


@pytest.mark.parametrize("review", [[], {"items": "x"}, {"items": [{"text": "no id"}]}])
def test_what_is_not_a_review_queue_is_refused(review: Any):
    with pytest.raises(ReviewFormatError):
        from_review(review)


def annotation(result: list[dict[str, Any]], at: str = "2026-12-01T10:00:00Z", **more: Any) -> dict[str, Any]:
    return {"completed_by": 7, "result": result, "was_cancelled": False, "created_at": at, "updated_at": at, **more}


def choice(task: str, *labels: str) -> dict[str, Any]:
    return {"from_name": task, "to_name": "text", "type": "choices", "value": {"choices": list(labels)}}


def task(number: int, *annotations: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, Any]:
    made = from_review({"items": [{**ITEM, "id": f"m{number}"}]}).tasks[0]
    return {"id": number, "data": made["data"] if data is None else data, "annotations": list(annotations)}


def test_an_export_becomes_corrections_and_says_what_it_left_out():
    export = [
        task(1, annotation([choice("topic", "business"), choice("sentiment", "neutral")])),  # confirmed
        task(2, annotation([choice("topic", "sport")], "2026-12-01T10:00:00Z"),
             annotation([choice("topic", "politics")], "2026-12-01T11:00:00Z")),  # the later one speaks
        task(3, annotation([choice("sentiment", "negative")], ground_truth=True),
             annotation([choice("sentiment", "positive")], "2026-12-02T00:00:00Z")),  # ground truth wins
        task(4, annotation([], was_cancelled=True)),
        task(5, annotation([{"from_name": "comment", "type": "textarea", "value": {"text": ["hm"]}}])),
        task(6),
        task(7, annotation([choice("topic", "sport", "business")])),
        task(8, annotation([choice("topic", "sport")]), data={"text": "no message id"}),
        task(9, annotation([choice("topic", "sport")], completed_by=None)),
    ]
    done = from_export(export, {7: "ana@example.com"})
    by_id = {c.message_id: c for c in done.corrections}
    assert set(by_id) == {"m1", "m2", "m3"}
    assert by_id["m1"].labels == {"topic": "business", "sentiment": "neutral"} and by_id["m1"].who == "ana@example.com"
    assert by_id["m1"].model_versions == {"topic": "t@1", "sentiment": "s@2"} and by_id["m1"].via == "label-studio"
    assert by_id["m2"].labels == {"topic": "politics"} and by_id["m2"].predicted == {"topic": "business"}
    assert by_id["m2"].at == unix_seconds("2026-12-01T11:00:00+00:00")
    assert by_id["m3"].labels == {"sentiment": "negative"}
    assert done.summary() == {
        "corrections": 3, "changed": 2, "confirmed": 1, "unannotated": 1, "cancelled": 1, "empty": 1, "superseded": 2,
        "unusable": 3, "unusable_first": [
            "task 7: topic must be exactly one choice, got ['sport', 'business']",
            "task 8: its data has no message_id (was it made by monitor feedback label-studio export?)",
            "task 9: it names no annotator (completed_by)"]}


def test_an_annotator_is_named_by_id_when_the_export_has_no_email():
    done = from_export([task(1, annotation([choice("topic", "sport")]))])
    assert done.corrections[0].who == "label-studio-user-7"


@pytest.mark.parametrize("export", [{"tasks": []}, ["not a task"]])
def test_what_is_not_an_export_is_refused(export: Any):
    with pytest.raises(ExportFormatError):
        from_export(export)
