"""Texts that only ever test: the hand-labelled financial sets. Training and validation never see them.

Rows are matched on their normalised text and on their title key, and also on a looser form (no
punctuation, spaces or trailing site names), so a copy that differs only in a suffix such as
"_搜狐财经" is dropped too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from monitor.models.data import HAND_LABELLED as DATA, DataError, Example, Splits, read_texts

FILES = ("fin_sentiment_en.jsonl", "fin_sentiment_zh.jsonl")
_LOOSE = re.compile(r"[\W_]+", re.UNICODE)


def loose(text: str) -> str:
    """Lower case, letters and digits only, cut before a site suffix ("_xxx网"): the near-copy key."""
    head = re.split(r"[_|]|--| - ", text.strip("-_| ."), maxsplit=1)[0]
    return _LOOSE.sub("", head.lower())


def file_keys(names: Iterable[str]) -> frozenset[str]:
    """Loose keys of every text in the named hand-labelled files under ``tests/data``; a missing file is
    an error (training without it could leak or double-label its texts)."""
    out: set[str] = set()
    for name in names:
        path = DATA / name
        if not path.is_file():
            raise DataError(f"{path} is missing: train from a checkout that has tests/data, so the "
                            "hand-labelled financial texts are known to training")
        out.update(loose(t) for t in read_texts(path))
    return frozenset(k for k in out if k)


@lru_cache(maxsize=1)
def keys() -> frozenset[str]:
    """Loose keys of every held-out text; training refuses to run without the files (it could leak them)."""
    return file_keys(FILES)


def is_heldout(text: str, key: str = "") -> bool:
    """True when ``text`` or its title ``key`` is (a near copy of) a held-out test text."""
    held = keys()
    return loose(text) in held or bool(key and loose(key) in held)


def drop(rows: Iterable[Example]) -> tuple[list[Example], int]:
    """Rows that are not held-out texts, and how many were dropped."""
    rows = list(rows)
    kept = [r for r in rows if not is_heldout(r.text, r.key)]
    return kept, len(rows) - len(kept)


def exclude(splits: Splits) -> Splits:
    """Remove held-out texts from the train and validation rows of ``splits`` (test rows stay)."""
    splits.train, n_train = drop(splits.train)
    splits.val, n_val = drop(splits.val)
    if n_train or n_val:
        splits.notes.append(f"{n_train} train / {n_val} val rows dropped as copies of the financial test sets")
    return splits
