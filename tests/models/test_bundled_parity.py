"""Each shipped bundle, run through the daemon's loader, reproduces its recorded test metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from monitor.models import data
from monitor.models.base import native_bf16
from monitor.models.bundle import load_bundle
from monitor.models.evaluation import evaluate_rows
from monitor.models.loader import BUNDLED_DIR

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("en-news", "multilingual-news")
TOLERANCE = 0.005  # half a point
# int8 kernels round differently by instruction set (VNNI or AMX against plain AVX2): on an AVX2-only
# CPU the multilingual bundle's topic accuracy came out 0.63 points above the recorded figure and its
# sentiment macro-F1 1.08 below (a model already 10 points down in int8, see its card). On the 87
# hand-labelled Chinese titles a few flips moved its int8 macro-F1 by 4.8 points: the small extra sets
# are compared at fp32 and bf16 only.
INT8_TOLERANCE = 0.015
CPU = torch.device("cpu")


def test_shipped_bundles_are_present_and_small() -> None:
    names = {p.name for p in BUNDLED_DIR.iterdir() if (p / "monitor-model.json").is_file()}
    assert set(SHIPPED) <= names
    weights = sum(f.stat().st_size for f in BUNDLED_DIR.rglob("*.safetensors"))
    assert weights <= 25 * 1024 * 1024, f"{weights / 2**20:.1f} MiB of committed weights"
    for name in SHIPPED:
        manifest = json.loads((BUNDLED_DIR / name / "monitor-model.json").read_text())
        assert manifest["tasks"]["sentiment"]["labels"] == ["negative", "neutral", "positive"]
        assert set(manifest["tasks"]) == {"topic", "sentiment"}
        assert (BUNDLED_DIR / name / "MODEL_CARD.md").is_file()


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize("name", SHIPPED)
def test_recorded_test_metrics_are_reproduced(name: str, precision: str) -> None:
    """At every precision the model card reports (bf16 is the daemon's default on CPUs that compute it natively)."""
    if precision == "bf16" and native_bf16(CPU) is None:
        pytest.skip("bf16 is emulated on this CPU (no AMX or AVX-512 BF16): the test splits would take over ten "
                    "minutes; test_bf16_agrees_with_fp32 checks bf16 here")
    path = BUNDLED_DIR / name
    recorded = json.loads((path / "metrics.json").read_text())
    backend = load_bundle(path, CPU, precision)  # type: ignore[arg-type]
    tolerance = INT8_TOLERANCE if precision == "int8" else TOLERANCE
    checked = 0
    for task, entry in recorded["tasks"].items():
        rows = data.load(entry["data"], seed=entry["seed"], train=False).test
        if entry.get("limit"):
            rows = rows[: entry["limit"]]
        got, want = evaluate_rows(backend, rows, task), entry[precision]
        assert got["digest"] == want["digest"], f"{name}/{task}: the test split changed since recording"
        for key in ("accuracy", "macro_f1"):
            assert abs(got[key] - want[key]) <= tolerance, (name, task, key, got[key], want[key])
        checked += 1
    extras = {} if precision == "int8" else recorded.get("extra", {})  # see INT8_TOLERANCE
    for name, entry in extras.items():
        rows = data.read_rows(REPO / entry["data"])  # recorded relative to the repository root
        task = entry.get("task", name)  # one extra set per task was recorded under the task's name
        got, want = evaluate_rows(backend, rows, task), entry[precision]
        assert got["digest"] == want["digest"]
        assert abs(got["macro_f1"] - want["macro_f1"]) <= tolerance, (name, task, got["macro_f1"], want["macro_f1"])
    assert checked == 2


@pytest.mark.parametrize("name", SHIPPED)
def test_bf16_agrees_with_fp32(name: str) -> None:
    """bf16, native or emulated, gives fp32's labels on a sample of each task's test split (measured: all
    but one of 48 labels the same, probabilities within 0.03)."""
    path = BUNDLED_DIR / name
    recorded = json.loads((path / "metrics.json").read_text())
    fp32, bf16 = load_bundle(path, CPU, "fp32"), load_bundle(path, CPU, "bf16")
    for task, entry in recorded["tasks"].items():
        texts = [r.text for r in data.load(entry["data"], seed=entry["seed"], train=False).test[:32]]
        want, got = (b.forward(b.encode(texts))[task] for b in (fp32, bf16))
        agree = float((want.argmax(1) == got.argmax(1)).mean())
        assert agree >= 0.9, (name, task, agree)
        assert abs(got - want).max() < 0.1, (name, task, float(abs(got - want).max()))
