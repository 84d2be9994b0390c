"""How a candidate's predictions differ from the live model's on the same messages.

Per task: how many messages both answered, on how many they agree, and the pairs (live label ->
candidate label) with their counts, from which each class's shift follows (how many messages
the candidate would put in a class, against the live model). Pure arithmetic: knows nothing of
models, Kafka or metrics.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from monitor.records import Prediction

Pair = tuple[str, str, str]  # (task, live label, candidate label)


@dataclass(slots=True)
class TaskComparison:
    """One task's agreement and live -> candidate label counts."""

    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def compared(self) -> int:
        """Messages both models answered for this task."""
        return sum(self.pairs.values())

    @property
    def agreed(self) -> int:
        """Messages given the same label by both."""
        return sum(n for (live, candidate), n in self.pairs.items() if live == candidate)

    @property
    def agreement(self) -> float | None:
        """The share of compared messages labelled alike; None before any."""
        compared = self.compared
        return self.agreed / compared if compared else None

    def shifts(self) -> dict[str, dict[str, int]]:
        """Per class: messages the live model gives it, messages the candidate would, and the change."""
        live: Counter[str] = Counter()
        candidate: Counter[str] = Counter()
        for (a, b), n in self.pairs.items():
            live[a] += n
            candidate[b] += n
        return {label: {"live": live[label], "candidate": candidate[label], "change": candidate[label] - live[label]}
                for label in sorted(set(live) | set(candidate))}

    def to_json(self) -> dict[str, Any]:
        """The API's view: counts, agreement, the disagreeing pairs (most frequent first) and shifts."""
        agreement = self.agreement
        return {
            "compared": self.compared, "agreed": self.agreed,
            "agreement": round(agreement, 6) if agreement is not None else None,
            "pairs": [{"live": a, "candidate": b, "count": n} for (a, b), n in
                      sorted(self.pairs.items(), key=lambda kv: (-kv[1], kv[0]))],
            "shifts": self.shifts(),
        }


@dataclass(slots=True)
class Comparison:
    """Every task's comparison, over the messages both models classified since the candidate loaded."""

    tasks: dict[str, TaskComparison] = field(default_factory=dict)
    messages: int = 0

    def observe(self, live: Sequence[Prediction], candidate: Sequence[Prediction]) -> Counter[Pair]:
        """Count one batch (the same messages, in the same order); returns its (task, live, candidate)
        pairs, for metrics. A task only one side answers is not compared."""
        if len(live) != len(candidate):
            raise ValueError(f"{len(live)} live predictions against {len(candidate)} of the candidate")
        batch: Counter[Pair] = Counter()
        for a, b in zip(live, candidate):
            for task, result in a.tasks.items():
                other = b.tasks.get(task)
                if other is not None:
                    batch[(task, result.label, other.label)] += 1
        for (task, a_label, b_label), n in batch.items():
            self.tasks.setdefault(task, TaskComparison()).pairs[(a_label, b_label)] += n
        self.messages += len(live)
        return batch

    def agreement(self) -> dict[str, float]:
        """Task -> agreement ratio, for the tasks compared so far."""
        return {task: ratio for task, c in self.tasks.items() if (ratio := c.agreement) is not None}

    def to_json(self) -> dict[str, Any]:
        """The API's view of every task."""
        return {"messages": self.messages, "tasks": {task: c.to_json() for task, c in sorted(self.tasks.items())}}
