"""Simulate an analyst correcting a model: the first N labelled texts it gets wrong, as corrections.

    python scripts/simulate_analyst.py --model bundled:en-news --task sentiment \
        --labelled tests/data/fin_feedback_en.jsonl --count 100 --out /tmp/fin-loop/corrections.jsonl

Reads the labelled file in its order, predicts each text with the model, and writes a correction
(the feedback topic's JSON, ``monitor.feedback.corrections``) for each text whose predicted label
differs from the hand label, until ``--count`` are written. Deterministic: no sampling, fixed
timestamps (one a minute from ``--start``), analysts taking turns. Never point it at a test set.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from monitor.feedback.corrections import Correction
from monitor.models import heldout
from monitor.models.evaluation import predict
from monitor.models.loader import load_backend


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="bundled:en-news")
    p.add_argument("--task", default="sentiment")
    p.add_argument("--labelled", type=Path, required=True, help="JSON lines with text, label, source")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--who", default="analyst-a,analyst-b", help="comma-separated; they take turns")
    p.add_argument("--start", default="2026-12-01T09:00:00+00:00", help="time of the first correction")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    rows = [json.loads(line) for line in a.labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(heldout.is_heldout(r["text"]) for r in rows):
        raise SystemExit(f"{a.labelled} holds financial test texts: corrections must come from elsewhere")
    backend = load_backend(a.model, task=a.task, device=torch.device("cpu"), precision="fp32")
    labels = backend.info.tasks[a.task]
    probs = predict(backend, [r["text"] for r in rows], a.task)
    who = a.who.split(",")
    start = datetime.fromisoformat(a.start).timestamp()
    version = f"{backend.info.name}@{backend.info.version}"
    written = 0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", encoding="utf-8") as fh:
        for row, prob in zip(rows, probs):
            said = labels[int(prob.argmax())]
            if said == row["label"]:
                continue
            c = Correction(row.get("source") or f"row-{written}", {a.task: row["label"]}, who[written % len(who)],
                           start + 60 * written, row["text"], {a.task: version}, {a.task: said}, "topic")
            fh.write(json.dumps(c.to_json(), ensure_ascii=False) + "\n")
            written += 1
            if written == a.count:
                break
    wrong = sum(labels[int(pr.argmax())] != r["label"] for r, pr in zip(rows, probs))
    print(json.dumps({"labelled": len(rows), "wrong": int(wrong), "written": written, "out": str(a.out),
                      "last": datetime.fromtimestamp(start + 60 * (written - 1), timezone.utc).isoformat()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
