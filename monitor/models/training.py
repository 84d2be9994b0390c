"""Fine-tune a shared encoder with one head per task and write a bundle the daemon loads as is.

Only the top ``train_layers`` layers and the heads learn; the frozen lower half runs once per text
and its output is cached, which makes CPU training several times cheaper than a full pass.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from monitor.models import data, heldout, warmstart
from monitor.models.base import native_bf16
from monitor.models.encoder import Stack, TextEncoder, load_base_model, resolve_base
from monitor.models.evaluation import metrics
from monitor.models.ood import OTHER

if TYPE_CHECKING:
    from monitor.feedback.corrections import Correction
    from monitor.models.feedback import FeedbackReport


NOT_OTHER_ID = -1  # label id of a ``data.NOT_OTHER`` row: any class but ``other`` (TaskLoss)


@dataclass(slots=True)
class TrainConfig:
    """Every knob of one training run; saved into the bundle and its model card."""

    base: str
    tasks: dict[str, str]  # task name -> data spec (adapter name or CSV/JSONL path)
    out: Path
    name: str
    version: str = "0.0.0"
    languages: list[str] = field(default_factory=lambda: ["en"])
    epochs: int = 3
    lr: float = 1e-4
    head_lr: float = 1e-3
    batch_size: int = 32
    max_length: int = 128
    train_layers: int = 2
    warmup: float = 0.06
    weight_decay: float = 0.01
    patience: int = 2
    evals_per_epoch: int = 1
    min_share: float = 0.1  # small tasks are repeated to at least this share of the largest per epoch
    seed: int = 13
    limit: int = 0  # >0: use only this many training rows per task (smoke runs)
    threads: int = 2
    checkpoint: Path | None = None
    resume: bool = False
    extra_eval: dict[str, str] = field(default_factory=dict)  # task -> whole-file labelled set
    # bf16 autocast on CPU; None: where the CPU computes bf16 natively (AMX, AVX-512 BF16: ~3x faster
    # than fp32), not where it would be emulated (AVX2 only: several times slower than fp32)
    amp: bool | None = None
    init: str | None = None  # start from this bundle's weights (bundled:NAME or a folder)
    feedback: str | None = None  # where the analysts' corrections came from (a file or kafka:TOPIC)
    feedback_weight: int = 4  # each correction's training row is repeated this many times


@dataclass(slots=True)
class Cached:
    """Lower-layer outputs of one split of one task."""

    hidden: list[torch.Tensor]
    labels: torch.Tensor
    # per row, the distribution over the task's labels that a ``NOT_OTHER`` row is trained towards
    # (``keep_topics``); None: such rows only learn "not other"
    soft: torch.Tensor | None = None


def check_open_set(task: str, sp: data.Splits) -> None:
    """Rows that only say "some topic, not other" (``zh-news``) mean nothing in a task without ``other``."""
    if OTHER not in sp.labels and any(r.label == data.NOT_OTHER for r in sp.train):
        raise data.DataError(f"task {task}: rows labelled 'some topic, not other' (zh-news) need an 'other' "
                             "class in the same task: add ood-chat to its data spec")


def seed_all(seed: int) -> None:
    """Fix every RNG the run touches."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_amp(requested: bool | None) -> bool:
    """bf16 autocast as requested, or by default where the CPU computes bf16 natively."""
    return requested if requested is not None else native_bf16(torch.device("cpu")) is not None


def autocast(enabled: bool) -> torch.autocast:
    """bf16 mixed precision on CPU (weights and optimiser state stay fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


@torch.inference_mode()
def cache_lower(stack: Stack, text: TextEncoder, rows: list[data.Example], stop: int, labels: tuple[str, ...],
                desc: str, amp: bool = False, batch_size: int = 64) -> Cached:
    """Run the frozen layers ``[0, stop)`` once, keeping each text's fp16 states without padding."""
    ids, _ = text.ids([r.text for r in rows])
    order = sorted(range(len(rows)), key=lambda i: len(ids[i]))
    hidden: list[torch.Tensor] = [torch.empty(0)] * len(rows)
    for s in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False):
        idx = order[s : s + batch_size]
        batch, mask = text.pad([ids[i] for i in idx])
        with autocast(amp):
            out = stack.lower(batch, mask, stop)
        for j, i in enumerate(idx):
            hidden[i] = out[j, : len(ids[i])].to(torch.float16).clone()
    index = {lab: k for k, lab in enumerate(labels)}
    index[data.NOT_OTHER] = NOT_OTHER_ID  # check_open_set made sure the task has an ``other`` class
    return Cached(hidden, torch.tensor([index[r.label] for r in rows], dtype=torch.long))


def collate(c: Cached, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad cached states of ``idx`` into (hidden, mask, labels)."""
    width = max(c.hidden[i].shape[0] for i in idx)
    dim = c.hidden[idx[0]].shape[1]
    h = torch.zeros(len(idx), width, dim)
    mask = torch.zeros(len(idx), width, dtype=torch.long)
    for j, i in enumerate(idx):
        n = c.hidden[i].shape[0]
        h[j, :n] = c.hidden[i].float()
        mask[j, :n] = 1
    return h, mask, c.labels[idx]


def length_batches(c: Cached, batch_size: int, repeats: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length rows (bucketing cuts padding, shuffling keeps SGD honest)."""
    idx = [i for _ in range(repeats) for i in range(len(c.hidden))]
    rng.shuffle(idx)
    batches: list[list[int]] = []
    chunk = batch_size * 20
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: c.hidden[i].shape[0])
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def class_weights(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse-frequency weights, normalised to mean 1 (absent classes get 0); rows without a class of
    their own (``NOT_OTHER_ID``) count for none."""
    counts = torch.bincount(labels[labels >= 0], minlength=n).float()
    w = torch.where(counts > 0, counts.sum() / (n * counts.clamp(min=1)), torch.zeros_like(counts))
    return w / w[counts > 0].mean()


@torch.no_grad()
def score(stack: Stack, c: Cached, task: str, start: int, labels: tuple[str, ...], amp: bool = False,
          bs: int = 128) -> dict[str, Any]:
    """Metrics of ``task`` on cached rows (eval mode, no dropout)."""
    stack.eval()
    order = sorted(range(len(c.hidden)), key=lambda i: c.hidden[i].shape[0])
    probs = np.zeros((len(order), len(labels)), dtype=np.float32)
    for s in range(0, len(order), bs):
        idx = order[s : s + bs]
        h, mask, _ = collate(c, idx)
        with autocast(amp):
            logits = stack.upper(h, mask, start)[task]
        probs[idx] = torch.softmax(logits.float(), -1).numpy()
    return metrics(c.labels.tolist(), probs, labels)


class TaskLoss(nn.Module):
    """Class-weighted cross-entropy, where a row labelled ``NOT_OTHER_ID`` ("one of the topics, whichever")
    is trained towards its soft target where it has one (``keep_topics``: cross-entropy against it), and
    otherwise penalised only for the probability it gives ``other``: -log(1 - p(other)). Each row weighs
    the same in the batch mean whichever kind it is."""

    def __init__(self, weight: torch.Tensor, other: int | None) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.other = other

    def forward(self, logits: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None = None) -> torch.Tensor:
        known = y >= 0
        total = logits.new_zeros(())
        if known.any():
            total = total + nn.functional.cross_entropy(logits[known], y[known], weight=self.weight) * known.sum()
        if soft is not None and not known.all():
            total = total - (soft[~known] * logits[~known].log_softmax(-1)).sum()
        elif self.other is not None and not known.all():
            logp = logits[~known].log_softmax(-1)
            rest = torch.cat([logp[:, : self.other], logp[:, self.other + 1 :]], dim=1).logsumexp(-1)
            total = total - rest.sum()
        return total / len(y)


@torch.no_grad()
def keep_topics(stack: Stack, c: Cached, task: str, start: int, other: int, amp: bool = False, bs: int = 128
                ) -> torch.Tensor:
    """Soft targets for the ``NOT_OTHER`` rows: the starting model's own distribution over the topics
    with ``other`` taken out. "Not other" alone says nothing about which topic, and trained on it the
    rows drift towards the topic that already has most of them (Chinese news titles went to politics);
    the soft target keeps what the starting head knew of them while ``other`` is learnt elsewhere."""
    stack.eval()
    rows = [i for i in range(len(c.hidden)) if int(c.labels[i]) == NOT_OTHER_ID]
    soft = torch.zeros(len(c.hidden), len(stack.heads[task].bias))
    for s in range(0, len(rows), bs):
        idx = rows[s : s + bs]
        h, mask, _ = collate(c, idx)
        with autocast(amp):
            logits = stack.upper(h, mask, start)[task].float()
        logits[:, other] = float("-inf")
        soft[idx] = torch.softmax(logits, -1)
    return soft


def warmup_linear(total: int, warmup: float) -> Callable[[int], float]:
    """LR multiplier: linear warm-up over ``warmup`` of the steps, then linear decay to zero."""
    w = max(1, int(total * warmup))
    return lambda step: (step + 1) / w if step < w else max(0.0, (total - step) / max(1, total - w))


def trainable_state(stack: Stack) -> dict[str, torch.Tensor]:
    """Copies of every parameter that learns."""
    return {n: p.detach().clone() for n, p in stack.named_parameters() if p.requires_grad}


def train(cfg: TrainConfig, corrections: Sequence[Correction] | None = None) -> dict[str, Any]:
    """Run training; returns the best state, the splits and a record of the run for the card.

    ``corrections`` (analysts' latest, one per message id) become extra training rows of the tasks
    they correct (``monitor.models.feedback``); the record's ``feedback`` says which and what was dropped.
    """
    torch.set_num_threads(cfg.threads)
    seed_all(cfg.seed)
    amp = use_amp(cfg.amp)
    t0 = time.monotonic()
    splits = {task: heldout.exclude(data.load(spec, seed=cfg.seed)) for task, spec in cfg.tasks.items()}
    extra: dict[str, list[data.Example]] = {}
    report: FeedbackReport | None = None
    if corrections is not None:  # against every test and validation row, before the limit cuts them
        from monitor.models.feedback import fold

        extra, report = fold(corrections, splits, cfg.feedback_weight, cfg.feedback or "")
    for task, sp in splits.items():
        data.check_no_overlap(sp)
        check_open_set(task, sp)
        if cfg.limit:
            sp.train, sp.val, sp.test = sp.train[: cfg.limit], sp.val[: cfg.limit], sp.test[: cfg.limit]
        if extra.get(task) and report is not None:  # after the limit, which is for the source data only
            sp.train += extra[task]
            sp.notes.append(f"{report.rows[task]} analysts' corrections x{cfg.feedback_weight}")
    init = warmstart.read_init(cfg.init) if cfg.init else None
    if init is not None and init.base != cfg.base:
        raise data.DataError(f"--init {cfg.init} is trained on base {init.base}, not --base {cfg.base}")
    spec = resolve_base(cfg.base, init.manifest.get("prefix") if init else None)
    stack = Stack(load_base_model(spec), {t: len(sp.labels) for t, sp in splits.items()})
    start = max(0, stack.n_layers - cfg.train_layers)
    first_adapted = min(start, init.first_layer(stack.n_layers)) if init else start
    # the bundle stores deltas against the pip-installed base: keep it for every layer that may change
    base_state = {n: p.detach().clone() for n, p in stack.bert.named_parameters()
                  if (m := warmstart.LAYER.match(n)) and int(m.group(1)) >= first_adapted}
    init_notes = warmstart.apply_init(init, stack.bert, stack.heads, {t: sp.labels for t, sp in splits.items()}
                                      ) if init else []
    for p in stack.bert.parameters():
        p.requires_grad_(False)
    for layer in stack.bert.encoder.layer[start:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    text = TextEncoder(spec, cfg.max_length)
    stack.eval()
    train_c = {t: cache_lower(stack, text, sp.train, start, sp.labels, f"cache {t}/train", amp) for t, sp in splits.items()}
    for t, c in train_c.items():  # NOT_OTHER rows keep their topics where the starting head knows every one
        known = set(init.manifest["tasks"].get(t, {}).get("labels", ())) if init else set()
        if (c.labels == NOT_OTHER_ID).any() and set(splits[t].labels) - {OTHER} <= known:
            c.soft = keep_topics(stack, c, t, start, splits[t].labels.index(OTHER), amp)
            splits[t].notes.append("rows without a topic label: trained towards the starting head's topics, not other")
    val_c = {t: cache_lower(stack, text, sp.val, start, sp.labels, f"cache {t}/val", amp) for t, sp in splits.items()}
    cache_s = time.monotonic() - t0

    largest = max(len(c.hidden) for c in train_c.values())
    repeats = {t: max(1, math.ceil(cfg.min_share * largest / max(1, len(c.hidden)))) for t, c in train_c.items()}
    rng = random.Random(cfg.seed)
    steps_per_epoch = sum(math.ceil(len(c.hidden) * repeats[t] / cfg.batch_size) for t, c in train_c.items())
    total = steps_per_epoch * cfg.epochs
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm" in n  # noqa: E731
    enc = [(n, p) for n, p in stack.bert.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in enc if not no_decay(n)], "lr": cfg.lr, "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in enc if no_decay(n)], "lr": cfg.lr, "weight_decay": 0.0},
        {"params": list(stack.heads.parameters()), "lr": cfg.head_lr, "weight_decay": cfg.weight_decay},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_linear(total, cfg.warmup))
    losses = {t: TaskLoss(class_weights(c.labels, len(splits[t].labels)),
                          splits[t].labels.index(OTHER) if OTHER in splits[t].labels else None)
              for t, c in train_c.items()}
    best_score, best_state, history, first_epoch, stale = -1.0, trainable_state(stack), [], 0, 0
    ckpt = cfg.checkpoint / "checkpoint.pt" if cfg.checkpoint else None
    if cfg.resume and ckpt and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        stack.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        best_score, best_state, history = state["best_score"], state["best_state"], state["history"]
        first_epoch, stale = state["epoch"], state["stale"]
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])

    for epoch in range(first_epoch, cfg.epochs):
        plan = [(t, b) for t, c in train_c.items() for b in length_batches(c, cfg.batch_size, repeats[t], rng)]
        rng.shuffle(plan)
        eval_at = {round(len(plan) * (k + 1) / cfg.evals_per_epoch) for k in range(cfg.evals_per_epoch)}
        bar = tqdm(plan, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch")
        ema, seen, tick = None, 0, time.monotonic()
        for step, (task, idx) in enumerate(bar, start=1):
            stack.train()
            h, mask, y = collate(train_c[task], idx)
            with autocast(amp):
                logits = stack.upper(h, mask, start)[task]
            soft = train_c[task].soft
            loss = losses[task](logits.float(), y, None if soft is None else soft[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
            opt.step()
            sched.step()
            ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
            seen += len(idx)
            bar.set_postfix(loss=f"{ema:.4f}", ex_s=f"{seen / max(1e-6, time.monotonic() - tick):.0f}")
            if step in eval_at:
                val = {t: score(stack, val_c[t], t, start, splits[t].labels, amp) for t in splits}
                mean_f1 = float(np.mean([m["macro_f1"] for m in val.values()]))
                history.append({"epoch": epoch + 1, "step": step, "loss": ema,
                                **{f"val_{t}_macro_f1": m["macro_f1"] for t, m in val.items()}})
                bar.write(f"epoch {epoch + 1} step {step}: val macro-F1 " +
                          " ".join(f"{t}={m['macro_f1']:.4f}" for t, m in val.items()))
                if mean_f1 > best_score:
                    best_score, best_state, stale = mean_f1, trainable_state(stack), 0
                else:
                    stale += 1
        bar.close()
        if ckpt:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": trainable_state(stack), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "best_score": best_score, "best_state": best_state,
                        "history": history, "epoch": epoch + 1, "stale": stale, "rng": rng.getstate(),
                        "torch_rng": torch.get_rng_state()}, ckpt)
        if stale >= cfg.patience:
            break
    stack.load_state_dict(best_state, strict=False)
    params = dict(stack.bert.named_parameters())
    deltas = {n: params[n].detach() - base for n, base in base_state.items()}
    return {"stack": stack, "deltas": deltas, "splits": splits, "spec": spec, "history": history,
            "best_val_macro_f1": best_score, "train_seconds": time.monotonic() - t0,
            "cache_seconds": cache_s, "first_trained_layer": first_adapted, "repeats": repeats,
            "feedback": report, "init": init.describe() if init else None, "init_notes": init_notes}
