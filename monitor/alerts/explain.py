"""Why an alert fired, in words an operator can act on: the terms of the window that its topic's
own history makes least expected.

Scored by the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn,
"Fightin' Words", Political Analysis 2008): each term's prior is its frequency in the topic's
history and window together, scaled to as many pseudo-counts as the smaller of the two corpora
holds (at least ``MIN_PRIOR_WEIGHT``), and the difference of
log-odds is divided by its standard error. A rare term seen twice in a window gets a small
z (its variance is large), a common word gets a small difference; what remains is the story.
Stop words never reach here (``monitor.trends.stopwords``).
"""

from __future__ import annotations

import math
from collections import Counter

MIN_PRIOR_WEIGHT = 10.0
MIN_Z = 1.96  # one-sided, about 2.5 %: a term must stand out from its topic's history at least this much


def over_represented(inside: Counter[str], before: Counter[str], top: int = 5, min_count: int = 3) -> tuple[str, ...]:
    """Terms most over-represented in the window versus the history before it (z of the log-odds ratio)."""
    if not inside:
        return ()
    n_in, n_bg = sum(inside.values()), sum(before.values())
    total = n_in + n_bg
    weight = max(MIN_PRIOR_WEIGHT, min(n_in, n_bg))
    scored = []
    for term, count in inside.items():
        if count < min_count:
            continue
        prior = weight * (count + before.get(term, 0)) / total
        a_in, a_bg = count + prior, before.get(term, 0) + prior
        delta = (math.log(a_in / max(n_in + weight - a_in, 1e-9))
                 - math.log(a_bg / max(n_bg + weight - a_bg, 1e-9)))
        z = delta / math.sqrt(1.0 / a_in + 1.0 / a_bg)
        if z >= MIN_Z:
            scored.append((z, term))
    scored.sort(reverse=True)
    return tuple(term for _, term in scored[:top])
