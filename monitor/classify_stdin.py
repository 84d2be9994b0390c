"""``monitor classify``: lines or JSON objects on stdin -> one JSON prediction per line on stdout."""

from __future__ import annotations

import json
import time
from typing import IO

from monitor.decode import Decoder
from monitor.models.classifier import Classifier
from monitor.records import DeadLetter, Enriched, Message, RawRecord, SourcePosition
from monitor.settings import Settings


def classify_stream(settings: Settings, stdin: IO[str], stdout: IO[str], batch_size: int) -> int:
    """Classify stdin in batches; malformed input yields an ``error`` line, never a crash."""
    classifier = Classifier.load(settings.models)
    json_decoder = Decoder(settings.input)
    text_decoder = Decoder(settings.input.model_copy(update={"format": "text"}))
    pending: list[Message] = []

    def flush() -> None:
        by_route: dict[str, list[Message]] = {}
        for m in pending:
            by_route.setdefault(classifier.route_for(m.language, m.text), []).append(m)
        results: dict[int, Enriched] = {}
        for route, messages in by_route.items():
            predictions = classifier.forward(classifier.encode(route, [m.text for m in messages]))
            for m, p in zip(messages, predictions):
                results[m.position.offset] = Enriched(m, p, time.time())
        for m in pending:
            out = results[m.position.offset].to_json()
            out.pop("input", None)
            stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
        pending.clear()

    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        raw = RawRecord(SourcePosition("stdin", 0, number), line.rstrip("\n").encode("utf-8"))
        decoder = json_decoder if line.lstrip().startswith("{") else text_decoder
        decoded = decoder.decode(raw)
        if isinstance(decoded, DeadLetter):
            flush()
            stdout.write(json.dumps({"line": number, "error": decoded.reason.value, "detail": decoded.detail}) + "\n")
            continue
        pending.append(decoded)
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return 0
