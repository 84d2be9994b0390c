"""The contract between the daemon and a model backend.

A *backend* is one encoder with one or more classification heads (tasks). The daemon
calls ``tokenize``, ``collate`` and ``forward`` from worker threads, never from the event
loop, so all may block. Tokenising comes first, message by message as they arrive, so the
batcher knows every message's true token count and cuts batches with little padding.

Two backends exist:
- ``monitor.models.hf``: a plain Hugging Face ``*ForSequenceClassification`` folder
  (``config.json`` with ``id2label``); one task, named in settings.
- ``monitor.models.bundle``: a folder with ``monitor-model.json``: a shared encoder
  (pip-installed base, optional adapter deltas merged at load time) with several heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence

import numpy as np
import torch

Precision = Literal["fp32", "bf16", "int8"]
DeviceName = Literal["auto", "cpu", "cuda"]


class ModelLoadError(Exception):
    """A model folder could not be loaded; the message names the folder and the fix."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a backend offers: its name, version, tasks and labels, and token limit."""

    name: str
    version: str
    tasks: dict[str, tuple[str, ...]]  # task name -> labels in logit order
    max_length: int
    languages: tuple[str, ...] = ()
    path: str = ""


@dataclass(slots=True)
class Encoded:
    """A tokenised batch: tensors on CPU, plus which inputs were cut to ``max_length``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    truncated: list[bool]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    # the real tokens' places in ``input_ids.flatten()`` (int64), found while padding; None: not computed
    real: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class Backend(Protocol):
    """An encoder with heads. Implementations must be safe to call from one worker thread."""

    info: ModelInfo

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Normalise and tokenise: token ids per text (cut to ``info.max_length``) and which were cut."""
        ...

    def collate(self, ids: Sequence[Sequence[int]], truncated: Sequence[bool]) -> Encoded:
        """Pad tokenised texts into one batch."""
        ...

    def encode(self, texts: Sequence[str]) -> Encoded:
        """``collate(*tokenize(texts))``."""
        ...

    def forward(self, batch: Encoded) -> dict[str, np.ndarray]:
        """Return, per task, a float32 array ``[len(batch), len(labels)]`` of probabilities."""
        ...


def pad_rows(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token rows to the longest: ``(input_ids, attention_mask)``, both int64."""
    input_ids, mask, _ = padded_rows(ids, pad_id)
    return input_ids, mask


def padded_rows(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``pad_rows``, and the real tokens' places in the flattened batch (int64), read off the mask
    while it is a numpy array: in torch that takes three calls, each of which lets go of the GIL and
    must take it back (up to the 5 ms switch interval behind a busy event loop)."""
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
    width = max(1, int(lengths.max(initial=0)))
    mask = np.arange(width) < lengths[:, None]
    out = np.full((len(ids), width), pad_id, dtype=np.int64)
    if len(ids):
        out[mask] = np.fromiter((t for r in ids for t in r), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(out), torch.from_numpy(mask.astype(np.int64)), torch.from_numpy(np.flatnonzero(mask))


def resolve_device(device: DeviceName) -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' was requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(device)


def native_bf16(device: torch.device) -> str | None:
    """What computes bf16 natively on ``device`` (``AMX``, ``AVX-512 BF16``, or the CUDA device's
    name), or None. Without it bf16 is emulated: on a CPU with only AVX2 it runs slower than fp32."""
    if device.type == "cuda":
        # without including_emulation=False, a pre-Ampere card (T4, V100) counts as supporting bf16
        return torch.cuda.get_device_name(device) if torch.cuda.is_bf16_supported(including_emulation=False) else None
    cpu = getattr(torch, "cpu", None)
    for name, probe in (("AMX", "_is_amx_tile_supported"), ("AVX-512 BF16", "_is_avx512_bf16_supported")):
        try:
            if getattr(cpu, probe)():
                return name
        except (AttributeError, RuntimeError):  # an older build without the probe
            continue
    return None
