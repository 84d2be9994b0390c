"""Classification metrics (numpy only) and running a backend over labelled rows."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from monitor.models.base import Backend
from monitor.models.data import Example


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """``[true, predicted]`` counts."""
    out = np.zeros((n, n), dtype=np.int64)
    np.add.at(out, (y_true, y_pred), 1)
    return out


def ece(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins."""
    if len(y_true) == 0:
        return 0.0
    conf = probs.max(1)
    correct = (probs.argmax(1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def metrics(y_true: Sequence[int], probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1, macro and weighted averages, accuracy, confusion matrix, ECE."""
    yt = np.asarray(y_true, dtype=np.int64)
    yp = probs.argmax(1) if len(yt) else np.zeros(0, dtype=np.int64)
    cm = confusion(yt, yp, len(labels))
    tp = np.diag(cm).astype(np.float64)
    pred_n, true_n = cm.sum(0).astype(np.float64), cm.sum(1).astype(np.float64)
    prec = np.divide(tp, pred_n, out=np.zeros_like(tp), where=pred_n > 0)
    rec = np.divide(tp, true_n, out=np.zeros_like(tp), where=true_n > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    support = true_n
    present = support > 0
    weights = support / support.sum() if support.sum() else support
    return {
        "n": int(len(yt)),
        "accuracy": float(tp.sum() / max(len(yt), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * weights).sum()),
        "macro_precision": float(prec[present].mean()) if present.any() else 0.0,
        "macro_recall": float(rec[present].mean()) if present.any() else 0.0,
        "ece": ece(probs, yt),
        "per_class": {lab: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(support[i])} for i, lab in enumerate(labels)},
        "labels": list(labels),
        "confusion": cm.tolist(),
    }


def split_digest(rows: Sequence[Example]) -> str:
    """A fingerprint of a split (texts and labels, in order), so a parity check knows it has the same rows."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r.text.encode("utf-8"))
        h.update(b"\x1f")
        h.update(r.label.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()[:16]


def predict(backend: Backend, texts: Sequence[str], task: str, batch_size: int = 64) -> np.ndarray:
    """Probabilities for ``task`` over ``texts``, batched in length order for speed."""
    n_labels = len(backend.info.tasks[task])
    out = np.zeros((len(texts), n_labels), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        probs = backend.forward(backend.encode([texts[i] for i in idx]))[task]
        out[idx] = probs
    return out


def evaluate_rows(backend: Backend, rows: Sequence[Example], task: str, batch_size: int = 64
                  ) -> dict[str, Any]:
    """Run ``backend`` on labelled rows and score ``task``; labels must be in the model's label set."""
    labels = backend.info.tasks[task]
    index = {lab: i for i, lab in enumerate(labels)}
    missing = sorted({r.label for r in rows} - set(index))
    if missing:
        raise ValueError(f"labels {missing} are not among the model's {task} labels {list(labels)}")
    probs = predict(backend, [r.text for r in rows], task, batch_size)
    result = metrics([index[r.label] for r in rows], probs, labels)
    result["digest"] = split_digest(rows)
    return result


def format_report(task: str, m: dict[str, Any]) -> str:
    """A human-readable table of one task's metrics."""
    lines = [f"{task}: n={m['n']} accuracy={m['accuracy']:.4f} macro-F1={m['macro_f1']:.4f} "
             f"weighted-F1={m['weighted_f1']:.4f} ECE={m['ece']:.4f}",
             f"  {'label':<14}{'P':>8}{'R':>8}{'F1':>8}{'n':>7}"]
    for lab, c in m["per_class"].items():
        lines.append(f"  {lab:<14}{c['precision']:>8.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}{c['support']:>7}")
    lines.append("  confusion (rows true, cols predicted): " + str(m["confusion"]))
    return "\n".join(lines)
