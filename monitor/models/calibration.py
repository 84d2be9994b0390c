"""Temperature scaling of a bundle's heads, so a score means a probability (the trends average scores).

One temperature per task, fitted on the validation split (never test) by minimising the negative
log-likelihood, then folded into the linear head (weight / T, bias / T): the daemon needs no change
and the arg-max, hence accuracy, is untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.models import data
from monitor.models.bundle import load_bundle
from monitor.models.evaluation import ece, predict

HEADS = "heads.safetensors"


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T > 0 minimising NLL of softmax(logits / T); a golden-section search on log T (NLL is
    unimodal in T for fixed logits, and this needs no optimiser state)."""
    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(60):
        if nll(c) < nll(d):
            b, d = d, c
            c = b - g * (b - a)
        else:
            a, c = c, d
            d = a + g * (b - a)
    return float(np.exp((a + b) / 2))


def calibrate(out: Path, splits: dict[str, data.Splits], tasks: list[str]) -> dict[str, Any]:
    """Fit and fold a temperature per task into ``out``'s heads; returns T and validation ECE before/after."""
    from safetensors.torch import load_file, save_file

    backend = load_bundle(out, torch.device("cpu"), "fp32")
    heads = load_file(str(out / HEADS))
    record: dict[str, Any] = {}
    for task in tasks:
        sp = splits[task]
        y = np.array([sp.labels.index(r.label) for r in sp.val])
        probs = predict(backend, [r.text for r in sp.val], task)
        # log-probabilities are logits up to a per-row constant, which softmax ignores
        logits = np.log(np.clip(probs, 1e-12, 1.0))
        t = fit_temperature(logits, y)
        z = logits / t
        after = np.exp(z - z.max(1, keepdims=True))
        after /= after.sum(1, keepdims=True)
        heads[f"{task}.weight"] = heads[f"{task}.weight"] / t
        heads[f"{task}.bias"] = heads[f"{task}.bias"] / t
        record[task] = {"temperature": round(t, 4), "val_ece_before": ece(probs, y), "val_ece_after": ece(after, y)}
    save_file(heads, str(out / HEADS))
    return record
