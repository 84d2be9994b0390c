"""Analysts' corrections folded into training rows: which ones count, how often, and what was left out.

A correction becomes one training row per task it corrects, repeated ``weight`` times, unless it
cannot be trusted to leave the measurements honest: its text is (a near copy of) a held-out financial
test text, or of a test or validation row of the task's data; or a later correction says something
else about the same text. Each dropped correction is counted under its reason for the model card.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from monitor.feedback.corrections import Correction
from monitor.models import heldout
from monitor.models.data import Example, Splits, normalise_text

DEFAULT_WEIGHT = 4  # a correction is rare and chosen where the model was wrong: count it as a few rows

TASK_NOT_TRAINED = "corrects a task this run does not train"
UNKNOWN_LABEL = "names a label the task does not have"
HELD_OUT = "text is a financial test text or its near copy"
EVAL_COPY = "text is a test or validation row of the task's data, or its near copy"
LATER = "same text corrected again later"


@dataclass(slots=True)
class FeedbackReport:
    """What the corrections gave a run: rows per task, who and when, and what was dropped and why."""

    source: str
    weight: int
    read: int = 0  # latest corrections read (one per message id)
    superseded: int = 0  # older corrections of the same message id, or withdrawn ones
    invalid: list[str] = field(default_factory=list)  # unreadable topic records
    used: int = 0  # corrections that gave at least one row
    rows: dict[str, int] = field(default_factory=dict)  # task -> corrections used for it
    who: dict[str, int] = field(default_factory=dict)
    first_at: float | None = None
    last_at: float | None = None
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> (correction, task) pairs dropped

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``feedback`` entry."""
        return {"source": self.source, "weight": self.weight, "read": self.read, "used": self.used,
                "rows_per_task": dict(self.rows), "who": dict(self.who),
                "from": _iso(self.first_at), "to": _iso(self.last_at), "superseded": self.superseded,
                "invalid_records": len(self.invalid), "dropped": dict(self.dropped)}


def _iso(at: float | None) -> str | None:
    return None if at is None else dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="seconds")


def fold(corrections: Sequence[Correction], splits: dict[str, Splits], weight: int, source: str = ""
         ) -> tuple[dict[str, list[Example]], FeedbackReport]:
    """Training rows per task from the latest corrections (one per message id), and the report."""
    if weight < 1:
        raise ValueError(f"feedback weight must be at least 1, got {weight}")
    report = FeedbackReport(source, weight, read=len(corrections))
    dropped: Counter[str] = Counter()
    evaluated = {task: {heldout.loose(r.text) for r in sp.test + sp.val} - {""} for task, sp in splits.items()}
    chosen: dict[tuple[str, str], tuple[float, int, Correction, str]] = {}  # (task, text) -> latest word
    for order, c in enumerate(corrections):
        text = normalise_text(c.text)
        for task, label in c.labels.items():
            if task not in splits:
                dropped[TASK_NOT_TRAINED] += 1
            elif label not in splits[task].labels:
                dropped[UNKNOWN_LABEL] += 1
            elif heldout.is_heldout(text):
                dropped[HELD_OUT] += 1
            elif heldout.loose(text) in evaluated[task]:
                dropped[EVAL_COPY] += 1
            else:
                key = (task, text)
                if key in chosen:
                    dropped[LATER] += 1
                    if (c.at, order) < chosen[key][:2]:
                        continue
                chosen[key] = (c.at, order, c, label)
    rows: dict[str, list[Example]] = {task: [] for task in splits}
    used: dict[str, Correction] = {}
    for (task, text), (_, _, c, label) in sorted(chosen.items(), key=lambda kv: kv[1][:2]):
        rows[task] += [Example(text, label, key=f"feedback:{c.message_id}")] * weight
        report.rows[task] = report.rows.get(task, 0) + 1
        used[c.message_id] = c
    report.used = len(used)
    report.who = dict(sorted(Counter(c.who for c in used.values()).items(), key=lambda kv: (-kv[1], kv[0])))
    if used:
        report.first_at = min(c.at for c in used.values())
        report.last_at = max(c.at for c in used.values())
    report.dropped = dict(dropped)
    return rows, report


def card_lines(report: FeedbackReport) -> list[str]:
    """The model card's section on the corrections a run folded in."""
    r = report.to_json()
    who = ", ".join(f"{name} ({n})" for name, n in report.who.items()) or "nobody"
    per_task = ", ".join(f"{t} {n}" for t, n in report.rows.items()) or "none"
    lines = ["## Analysts' corrections", "",
             f"Source: `{report.source}`. {report.read} latest corrections read (one per message id; "
             f"{report.superseded} older or withdrawn ones superseded, {len(report.invalid)} unreadable records "
             f"skipped); **{report.used} used**, each a training row repeated {report.weight} times "
             f"(per task: {per_task}).",
             f"From: {who}. Time range: {r['from'] or '-'} to {r['to'] or '-'}.", ""]
    if report.dropped:
        lines += ["Dropped (correction and task pairs):", ""]
        lines += [f"- {n}: {reason}" for reason, n in sorted(report.dropped.items(), key=lambda kv: -kv[1])]
    else:
        lines.append("None dropped.")
    return lines + [""]
