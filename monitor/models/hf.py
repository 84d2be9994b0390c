"""A backend over a plain Hugging Face ``*ForSequenceClassification`` folder: one task."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from monitor.models.base import Encoded, ModelInfo, ModelLoadError, Precision, pad_rows

hf_logging.disable_progress_bar()  # progress bars belong in a terminal, not in the daemon's JSON log


class HFBackend:
    """One sequence-classification model; its ``id2label`` gives the labels of ``task``."""

    def __init__(self, path: Path, task: str, device: torch.device, precision: Precision) -> None:
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} is not a Hugging Face model folder (no config.json)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the model in {path}: {exc}") from exc
        model.eval()
        self.device = device
        self.dtype = torch.float32
        if precision == "int8":
            if device.type != "cpu":
                raise ModelLoadError("precision int8 (dynamic quantisation) runs on CPU only; use bf16 on CUDA")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        elif precision == "bf16":
            model = model.to(torch.bfloat16)
            self.dtype = torch.bfloat16
        self.model = model.to(device)
        config = model.config
        labels = tuple(str(config.id2label[i]).lower() for i in range(config.num_labels))
        max_len = min(int(getattr(config, "max_position_embeddings", 512)), int(self.tokenizer.model_max_length or 512))
        version = str(getattr(config, "textmon_version", None) or path.name)
        self.info = ModelInfo(
            name=path.name, version=version, tasks={task: labels}, max_length=max_len, path=str(path)
        )
        self._task = task

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Tokenise once without truncation, then cut (keeping the closing special token)."""
        ids = self.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
        limit = self.info.max_length
        truncated = [len(row) > limit for row in ids]
        sep = self.tokenizer.sep_token_id
        rows = [(row[: limit - 1] + [sep] if sep is not None else row[:limit]) if cut else row for row, cut in zip(ids, truncated)]
        return rows, truncated

    def collate(self, ids: Sequence[Sequence[int]], truncated: Sequence[bool]) -> Encoded:
        """Right-pad into one batch."""
        input_ids, mask = pad_rows(ids, self.tokenizer.pad_token_id or 0)
        return Encoded(input_ids, mask, list(truncated))

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Tokenise and pad."""
        return self.collate(*self.tokenize(texts))

    def forward(self, batch: Encoded) -> dict[str, np.ndarray]:
        """Probabilities for the one task."""
        with torch.inference_mode():
            logits = self.model(
                input_ids=batch.input_ids.to(self.device), attention_mask=batch.attention_mask.to(self.device)
            ).logits
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return {self._task: probs.astype(np.float32)}
