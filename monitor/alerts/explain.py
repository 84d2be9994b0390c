"""Why an alert fired, in words an operator can act on: over-represented terms against the baseline."""

from __future__ import annotations

import math
from collections import Counter


def over_represented(inside: Counter[str], before: Counter[str], top: int = 5, min_count: int = 2) -> tuple[str, ...]:
    """Terms most over-represented in the window versus the history before it (smoothed log-odds ratio)."""
    if not inside:
        return ()
    n_in, n_bg = sum(inside.values()), sum(before.values())
    vocab = len(set(inside) | set(before)) or 1
    prior = 0.5
    scored = []
    for term, count in inside.items():
        if count < min_count:
            continue
        p_in = (count + prior) / (n_in + prior * vocab)
        p_bg = (before.get(term, 0) + prior) / (n_bg + prior * vocab)
        score = math.log(p_in / p_bg) * math.sqrt(count)
        if score > 0:
            scored.append((score, term))
    scored.sort(reverse=True)
    return tuple(term for _, term in scored[:top])
