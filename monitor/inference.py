"""One batch through the live models, and through a candidate's too when it is sampled.

Runs in an inference worker thread. The whole batch is classified by the one live classifier it
is given, so its records name one version. Messages tokenised by other models (before a switch)
are tokenised again by the live ones. The candidate tokenises and classifies the same texts on its
own; its failure is reported, never raised: shadow must not cost the live output anything but time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from monitor.models.classifier import Classifier, Tokenized
from monitor.records import Prediction


@dataclass(slots=True)
class BatchResult:
    """The live predictions of a batch, and the candidate's when it ran."""

    predictions: list[Prediction]
    infer_seconds: float
    padded_tokens: int
    retokenized: int = 0  # messages tokenised again because other models had tokenised them
    shadow: list[Prediction] | None = None
    shadow_seconds: float = 0.0
    shadow_error: Exception | None = None


def classify_batch(route: str, texts: Sequence[str], tokens: Sequence[Tokenized], tokenized_by: Sequence[Classifier],
                   live: Classifier, candidate: Classifier | None = None) -> BatchResult:
    """Classify ``texts`` (tokenised as ``tokens`` by ``tokenized_by``) with ``live``, and with ``candidate``."""
    started = time.perf_counter()
    current = list(tokens)
    stale = [i for i, by in enumerate(tokenized_by) if by.routes[route] is not live.routes[route]]
    if stale:
        for i, t in zip(stale, live.tokenize(route, [texts[i] for i in stale])):
            current[i] = t
    encoded = live.collate(route, current)
    result = BatchResult(live.forward(encoded), 0.0, encoded.padded_tokens, len(stale))
    done = time.perf_counter()
    result.infer_seconds = done - started
    if candidate is not None:
        try:
            result.shadow = candidate.forward(candidate.encode(route, texts))
        except Exception as exc:  # noqa: BLE001 - the shadow desk counts and logs it
            result.shadow_error = exc
        result.shadow_seconds = time.perf_counter() - done
    return result
