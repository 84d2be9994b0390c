"""A durable per-sink outbox: alerts are written to disk before delivery and removed after it.

The outbox is the sink's queue: a crash, a slow sink or a failing one loses nothing, and
undelivered alerts are retried after a restart. Memory holds only file names.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from monitor.records import Alert


class Outbox:
    """One folder of JSON files, each a list of alerts, delivered oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.tmp"):
            stale.unlink()

    def put(self, alerts: list[Alert]) -> Path:
        """Persist alerts (fsync + atomic rename) and return the entry's path."""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f"{name}.tmp"
        path = self.directory / f"{name}.json"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump([a.to_json() for a in alerts], handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path

    def read(self, path: Path) -> list[Alert]:
        """The alerts of one entry."""
        return [Alert.from_json(a) for a in json.loads(path.read_text(encoding="utf-8"))]

    def pending(self) -> list[Path]:
        """Entries not yet delivered, oldest first."""
        return sorted(self.directory.glob("*.json"))

    def done(self, path: Path) -> None:
        """Remove a delivered entry."""
        path.unlink(missing_ok=True)
