"""A durable per-sink outbox: alerts are written to disk before delivery and removed after it.

The outbox is the sink's queue: a crash, a slow sink or a failing one loses nothing, and
undelivered alerts are retried after a restart. Memory holds only file names. It is bounded
in age and entries (``overdue``): a sink that is down for good must not keep every alert on
disk and retry them all forever.
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

    def overdue(self, max_entries: int, max_age_seconds: float, now: float | None = None) -> dict[str, list[Path]]:
        """Entries past the limits, oldest first: ``expired`` (older than ``max_age_seconds``) and
        ``overflow`` (beyond the newest ``max_entries``). The caller reports and removes them."""
        pending = self.pending()
        cutoff_ns = int(((time.time() if now is None else now) - max_age_seconds) * 1e9)
        expired = [p for p in pending if _written_ns(p) < cutoff_ns]
        kept = pending[len(expired):]
        return {"expired": expired, "overflow": kept[: max(0, len(kept) - max_entries)]}

    def done(self, path: Path) -> None:
        """Remove a delivered entry."""
        path.unlink(missing_ok=True)


def _written_ns(path: Path) -> int:
    """When an entry was written: its name begins with the wall-clock time in nanoseconds."""
    try:
        return int(path.name.split("-", 1)[0])
    except ValueError:
        return 0  # not ours: oldest, so it goes first
