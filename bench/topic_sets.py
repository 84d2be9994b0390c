"""The topic sets that topics defined by example are measured on: an example pool to draw from and
a held-out set to score, kept apart by article.

``bbc``: BBC's five sections (train split as the pool, test split held out). ``fin-en``: the
financial taxonomy labelled by hand in ``tests/data/fin_topic_en.jsonl``; ``fin-zh``: its Chinese
counterpart in ``tests/data/fin_topic_zh.jsonl`` (both described in ``tests/data/FIN_TOPIC.md``).
Knows nothing of encoders or heads: it hands out texts and labels.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from monitor.models.data import BBC_TOPICS, Example, bbc

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
FIN_FILES = {"fin-en": "fin_topic_en.jsonl", "fin-zh": "fin_topic_zh.jsonl"}
FIN_TOPICS = {"fin-en": ("economy", "results", "deals", "legal", "energy"),
              "fin-zh": ("banking", "markets", "property", "fraud", "economy", "companies")}
SPLITS = ("examples", "held_out")


@dataclass(frozen=True, slots=True)
class Labelled:
    """One text, its topics (empty: none of them, ``other``) and the article it comes from."""

    text: str
    topics: tuple[str, ...]
    article: str


@dataclass(frozen=True, slots=True)
class TopicSet:
    """Topics, the texts examples are drawn from, and the held-out texts to score."""

    name: str
    topics: tuple[str, ...]
    pool: tuple[Labelled, ...]
    held_out: tuple[Labelled, ...]
    description: str

    def candidates(self, topic: str) -> list[Labelled]:
        """Pool texts that belong to ``topic`` alone: the clear examples a user would give."""
        return [x for x in self.pool if x.topics == (topic,)]

    def draw(self, topic: str, n: int, seed: int, one_per_article: bool = False) -> tuple[str, ...]:
        """``n`` example texts for ``topic``, the same for the same seed; with ``one_per_article``
        never a headline and its own lede together (they would leak across cross-validation folds)."""
        found = self.candidates(topic)
        rng = random.Random(f"{seed}-{topic}")
        if not one_per_article and len(found) >= n:
            return tuple(x.text for x in rng.sample(found, n))  # the draw BBC's figures were measured with
        rng.shuffle(found)
        if one_per_article:
            seen: set[str] = set()
            found = [x for x in found if not (x.article in seen or seen.add(x.article))]  # type: ignore[func-returns-value]
        if len(found) < n:
            raise ValueError(f"{self.name}: only {len(found)} examples of {topic!r} to draw from "
                             f"(one per article: {one_per_article}); ask for --per-topic {len(found)} or fewer")
        return tuple(x.text for x in found[:n])


def article(source: str) -> str:
    """The article a text comes from: its source without the ``#headline`` / ``#lede`` part."""
    return source.split("#", 1)[0]


def load_fin(name: str) -> TopicSet:
    """A hand-labelled financial topic set from ``tests/data``."""
    path = DATA / FIN_FILES[name]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    topics = FIN_TOPICS[name]
    by_split: dict[str, list[Labelled]] = {s: [] for s in SPLITS}
    for row in rows:
        unknown = set(row["topics"]) - set(topics)
        if unknown or row["split"] not in by_split:
            raise ValueError(f"{path}: {row['source']} has topics {row['topics']} / split {row['split']!r}; "
                             f"known topics are {topics}, splits {SPLITS}")
        by_split[row["split"]].append(Labelled(row["text"], tuple(row["topics"]), article(row["source"])))
    return TopicSet(name, topics, tuple(by_split["examples"]), tuple(by_split["held_out"]),
                    f"{path.name}, labelled by hand; held out: its held_out split")


def load_bbc() -> TopicSet:
    """BBC's five sections: the train split is the pool, the test split (317 articles) held out."""
    splits = bbc()

    def one(e: Example) -> Labelled:
        return Labelled(e.text, (e.label,), e.text)  # one text per article

    return TopicSet("bbc", tuple(BBC_TOPICS), tuple(map(one, splits.train)), tuple(map(one, splits.test)),
                    "BBC sections; held out: BBC test split")


def load(name: str) -> TopicSet:
    """A topic set by name: ``bbc`` or one of ``FIN_FILES``."""
    return load_bbc() if name == "bbc" else load_fin(name)
