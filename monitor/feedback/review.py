"""The review queue: the messages an analyst should look at first.

A message is queued when its labels are uncertain (a small margin between the two most likely
classes of a task) and ranked higher when they matter more: it is an exemplar of a firing alert,
its topic is one an alert fires on, or a candidate model disagrees with the live one. The queue is
bounded; what falls out is the least urgent. Knows nothing of Kafka or HTTP.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Container, Iterable, Sequence

from monitor.records import Alert, Enriched, Prediction

EXEMPLAR_BOOST = 1.0  # an exemplar of a firing alert outranks any merely uncertain message
DISAGREEMENT_BOOST = 1.0
FIRING_TOPIC_BOOST = 0.5
PURGE_EVERY = 1000  # messages observed between sweeps of expired entries


def margin(distribution: dict[str, float]) -> float:
    """The gap between the two most likely classes (1.0 for a single class)."""
    top = heapq.nlargest(2, distribution.values())
    return 1.0 if len(top) < 2 else max(0.0, top[0] - top[1])


@dataclass(slots=True)
class ReviewItem:
    """One message waiting for review, with why it is there."""

    enriched: Enriched
    priority: float
    reasons: list[str] = field(default_factory=list)
    candidate: Prediction | None = None

    def to_json(self, expose_text: bool = True) -> dict[str, Any]:
        """The API's view (text left out when the daemon does not expose message text)."""
        m, tasks = self.enriched.message, self.enriched.prediction.tasks
        candidate = self.candidate.tasks if self.candidate is not None else {}
        return {
            "id": m.id, "text": m.text if expose_text else "", "source": m.source, "language": m.language,
            "event_time": m.event_time, "classified_at": self.enriched.classified_at,
            "priority": round(self.priority, 4), "reasons": list(self.reasons),
            "tasks": {task: {"label": r.label, "score": r.score, "margin": round(margin(r.distribution), 6),
                             "labels": sorted(r.distribution), "model": r.model,
                             **({"candidate": candidate[task].label} if task in candidate else {})}
                      for task, r in tasks.items()},
        }


def uncertainty(enriched: Enriched, candidate: Prediction | None) -> tuple[float, list[str]]:
    """A message's base priority (1 - the smallest margin of its tasks) and the reasons for it."""
    reasons: list[str] = []
    smallest, which = 1.0, ""
    for task, result in enriched.prediction.tasks.items():
        m = margin(result.distribution)
        if m < smallest:
            smallest, which = m, task
    priority = 1.0 - smallest
    if which:
        reasons.append(f"low margin on {which} ({smallest:.2f})")
    if candidate is not None:
        for task, result in enriched.prediction.tasks.items():
            other = candidate.tasks.get(task)
            if other is not None and other.label != result.label:
                priority += DISAGREEMENT_BOOST
                reasons.append(f"candidate model says {task} {other.label}")
                break
    return priority, reasons


class ReviewQueue:
    """The ``max_items`` most urgent recent messages, plus a short memory of recent predictions."""

    def __init__(self, max_items: int, max_age_seconds: float, max_margin: float, recent: int = 4096) -> None:
        self.max_items = max_items
        self.max_age_seconds = max_age_seconds
        self.max_margin = max_margin
        self._heap: list[tuple[float, int, ReviewItem]] = []  # least urgent first
        self._seq = itertools.count()
        self._observed = 0
        self._recent: OrderedDict[str, Enriched] = OrderedDict()
        self._recent_max = recent

    def __len__(self) -> int:
        return len(self._heap)

    def recent(self, message_id: str) -> Enriched | None:
        """A recently classified message, if still remembered."""
        return self._recent.get(message_id)

    def observe(self, batch: Sequence[Enriched], candidates: Sequence[Prediction] | None = None) -> None:
        """Consider a classified batch (``candidates``: a candidate model's predictions, same order)."""
        if not batch:
            return
        recent, limit = self._recent, self._recent_max
        floor = 1.0 - self.max_margin
        for i, enriched in enumerate(batch):
            if limit:
                recent[enriched.message.id] = enriched
                if len(recent) > limit:
                    recent.popitem(last=False)
            candidate = candidates[i] if candidates is not None else None
            priority, reasons = uncertainty(enriched, candidate)
            if priority < floor:
                continue
            if len(self._heap) >= self.max_items and priority <= self._heap[0][0]:
                continue
            self._push(ReviewItem(enriched, priority, reasons, candidate))
        self._observed += len(batch)
        if self._observed >= PURGE_EVERY:
            self._observed = 0
            self.purge(batch[-1].classified_at)

    def _push(self, item: ReviewItem) -> None:
        entry = (item.priority, next(self._seq), item)
        if len(self._heap) < self.max_items:
            heapq.heappush(self._heap, entry)
        else:
            heapq.heapreplace(self._heap, entry)

    def purge(self, now: float) -> None:
        """Drop entries older than ``max_age_seconds``."""
        horizon = now - self.max_age_seconds
        kept = [e for e in self._heap if e[2].enriched.classified_at >= horizon]
        if len(kept) != len(self._heap):
            heapq.heapify(kept)
            self._heap = kept

    def items(self, now: float, firing: Iterable[Alert] = (), corrected: Container[str] = ()) -> list[ReviewItem]:
        """The queue, most urgent first: exemplars of firing alerts ranked up (and added when
        remembered), corrected messages left out."""
        self.purge(now)
        by_id: dict[str, ReviewItem] = {}
        for priority, _, item in self._heap:
            by_id[item.enriched.message.id] = ReviewItem(item.enriched, priority, list(item.reasons), item.candidate)
        firing = list(firing)
        topics = {p.key for a in firing for p in (a.parts or (a,))}
        for alert in firing:
            for part in alert.parts or (alert,):
                for exemplar in part.exemplars:
                    item = by_id.get(exemplar.id)
                    if item is None:
                        enriched = self._recent.get(exemplar.id)
                        if enriched is None:
                            continue  # classified too long ago to show its prediction
                        base, reasons = uncertainty(enriched, None)
                        item = by_id[exemplar.id] = ReviewItem(enriched, base, reasons)
                    if not any(r.startswith("exemplar of") for r in item.reasons):
                        item.priority += EXEMPLAR_BOOST
                        item.reasons.insert(0, f"exemplar of {part.rule} on {part.key}")
        for item in by_id.values():
            if item.enriched.topic_label in topics and not any(r.startswith("exemplar of") for r in item.reasons):
                item.priority += FIRING_TOPIC_BOOST
                item.reasons.append(f"an alert fires on {item.enriched.topic_label}")
        out = [i for i in by_id.values() if i.enriched.message.id not in corrected]
        out.sort(key=lambda i: (-i.priority, -i.enriched.classified_at))
        return out[: self.max_items]
