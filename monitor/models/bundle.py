"""Load a model bundle (a folder with ``monitor-model.json``) as a ``Backend``.

A bundle holds no full encoder: it names a pip-installed base, carries fp16 weight *deltas* for
the layers it fine-tuned (added to the base at load time) and one linear head per task.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from monitor.models.base import Encoded, ModelInfo, ModelLoadError, Precision
from monitor.models.bert import load_bert
from monitor.models.encoder import Stack, TextEncoder, resolve_base
from monitor.models.graph import DenseShapes, eager_runner, real_tokens, traced_runner

MANIFEST = "monitor-model.json"
FORMAT = 1


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed ``monitor-model.json``, checked for the fields the loader needs."""
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{file} is missing or not JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{file}: format {manifest.get('format')!r} is not {FORMAT}; upgrade textmon")
    for key in ("name", "version", "base", "max_length", "tasks"):
        if key not in manifest:
            raise ModelLoadError(f"{file}: required field {key!r} is missing")
    return manifest


def build_stack(path: Path, manifest: dict[str, Any]) -> tuple[Stack, TextEncoder]:
    """Base encoder + merged adapter deltas + heads, in fp32 on CPU."""
    from safetensors.torch import load_file

    spec = resolve_base(manifest["base"]["package"], manifest.get("prefix"))
    bert = load_bert(spec.folder)
    if manifest.get("adapter"):
        deltas = load_file(str(path / manifest["adapter"]))
        params = dict(bert.named_parameters())
        unknown = sorted(set(deltas) - set(params))
        if unknown:
            raise ModelLoadError(f"{path}: adapter names weights the base lacks ({unknown[:3]}); wrong base?")
        with torch.no_grad():
            for name, delta in deltas.items():
                if params[name].shape != delta.shape:
                    raise ModelLoadError(f"{path}: adapter shape mismatch for {name}; wrong base?")
                params[name].add_(delta.float())
    tasks = manifest["tasks"]
    stack = Stack(bert, {t: len(v["labels"]) for t, v in tasks.items()}, manifest.get("pooling", "mean"))
    for task, spec_t in tasks.items():
        weights = load_file(str(path / spec_t["weights"]))
        head: nn.Linear = stack.heads[task]  # type: ignore[assignment]
        try:
            head.load_state_dict({"weight": weights[f"{task}.weight"], "bias": weights[f"{task}.bias"]})
        except (KeyError, RuntimeError) as exc:
            raise ModelLoadError(f"{path}: head weights for task {task!r} are missing or mis-shaped") from exc
    return stack.eval(), TextEncoder(spec, int(manifest["max_length"]))


def apply_precision(stack: Stack, device: torch.device, precision: Precision) -> Stack:
    """fp32 as is; bf16 casts the whole stack; int8 = dynamic quantisation of Linear layers (CPU only)."""
    if precision == "int8":
        if device.type != "cpu":
            raise ModelLoadError("int8 is dynamic CPU quantisation; use bf16 or fp32 on CUDA")
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            # torch announces the deprecation of quantised tensor creation; this is still its supported CPU path
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated",
                                    category=DeprecationWarning)
            return quantize_dynamic(stack, {nn.Linear}, dtype=torch.qint8)
    stack = stack.to(device)
    return stack.to(torch.bfloat16) if precision == "bf16" else stack


class BundleBackend:
    """A shared encoder with several heads: one forward pass answers every task."""

    def __init__(self, path: Path, device: torch.device, precision: Precision, trace: bool = True) -> None:
        manifest = read_manifest(path)
        stack, self.text = build_stack(path, manifest)
        self.device, self.precision = device, precision
        stack = apply_precision(stack, device, precision)
        # what its dense layers build per row count, for the warm-up to build ahead (None: nothing to build)
        self.dense_shapes = DenseShapes.of(stack)
        # int8's dynamically quantised layers stay eager: their measured accuracy is the eager one's
        runner = traced_runner(stack, device, str(manifest["name"])) if trace and precision != "int8" else None
        self.traced = runner is not None
        self.run = runner or eager_runner(stack)
        # the eager modules, for code that inspects or converts them (load with trace=False); a traced
        # graph holds what it runs, its dense layers on prepacked copies (bf16 on CPU), so keeping the
        # modules too would hold those weights twice (60 MB for the two shipped bundles)
        self.stack: Stack | None = None if self.traced else stack
        self.manifest = manifest
        self.info = ModelInfo(
            name=str(manifest["name"]),
            version=str(manifest["version"]),
            tasks={t: tuple(v["labels"]) for t, v in manifest["tasks"].items()},
            max_length=int(manifest["max_length"]),
            languages=tuple(manifest.get("languages", ())),
            path=str(path),
        )

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Normalise and tokenise, truncating to ``max_length`` and flagging cuts."""
        return self.text.ids(texts)

    def collate(self, ids: Sequence[Sequence[int]], truncated: Sequence[bool]) -> Encoded:
        """Pad into one batch."""
        input_ids, mask, real = self.text.pad_with_places(ids)
        return Encoded(input_ids=input_ids, attention_mask=mask, truncated=list(truncated), real=real)

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Tokenise and pad."""
        return self.collate(*self.tokenize(texts))

    def forward(self, batch: Encoded) -> dict[str, np.ndarray]:
        """Probabilities per task, float32 ``[batch, labels]``."""
        if len(batch) == 0:
            return {t: np.zeros((0, len(l)), dtype=np.float32) for t, l in self.info.tasks.items()}
        # every torch call from Python lets go of the GIL and must take it back, behind the event loop
        # when it is busy: the CPU path makes as few as it can (no-op moves skipped, softmax in the graph)
        with torch.inference_mode():
            ids, mask = batch.input_ids, batch.attention_mask
            # where the mask is, before any copy to the device (no device sync); found while padding, in
            # numpy, unless the batch was built elsewhere
            real = batch.real if batch.real is not None else real_tokens(mask)
            if ids.device != self.device:
                ids, mask, real = ids.to(self.device), mask.to(self.device), real.to(self.device)
            probs = self.run(ids, mask, real)
            if self.device.type != "cpu":
                return {t: v.cpu().numpy() for t, v in probs.items()}
            return {t: v.numpy() for t, v in probs.items()}


def load_bundle(path: Path, device: torch.device, precision: Precision, trace: bool = True) -> BundleBackend:
    """Load the bundle at ``path`` on ``device`` in ``precision`` (``trace``: run it as a TorchScript graph)."""
    return BundleBackend(Path(path), device, precision, trace)
