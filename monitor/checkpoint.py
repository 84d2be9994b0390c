"""Trend and alert state, saved together with the offsets it reflects.

Before offsets are committed, the state is written (atomically: temp file, fsync, rename)
with, per partition, the committed floor and the offsets above it already applied. After
a crash, records redelivered below the floor or in the applied set are published again
(at-least-once) but not counted again in trends, and baselines survive the restart.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1


@dataclass(slots=True)
class AppliedOffsets:
    """Offsets whose records were applied to trends, per (topic, partition)."""

    floors: dict[tuple[str, int], int] = field(default_factory=dict)  # everything below was applied
    extra: dict[tuple[str, int], set[int]] = field(default_factory=dict)

    def add(self, topic: str, partition: int, offset: int) -> None:
        self.extra.setdefault((topic, partition), set()).add(offset)

    def contains(self, topic: str, partition: int, offset: int) -> bool:
        key = (topic, partition)
        return offset < self.floors.get(key, -1) or offset in self.extra.get(key, ())

    def advance(self, committed: dict[tuple[str, int], int]) -> None:
        """Raise floors to the committed offsets and drop what they cover."""
        for key, offset in committed.items():
            self.floors[key] = max(offset, self.floors.get(key, 0))
            if key in self.extra:
                self.extra[key] = {o for o in self.extra[key] if o >= self.floors[key]}

    def to_state(self) -> dict[str, Any]:
        keys = set(self.floors) | set(self.extra)
        return {f"{t}\x00{p}": {"floor": self.floors.get((t, p), 0), "extra": sorted(self.extra.get((t, p), ()))}
                for t, p in keys}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AppliedOffsets:
        out = cls()
        for name, entry in state.items():
            topic, _, partition = name.rpartition("\x00")
            key = (topic, int(partition))
            out.floors[key] = entry["floor"]
            out.extra[key] = set(entry["extra"])
        return out


class CheckpointError(Exception):
    """The state file exists but cannot be read; the message says which file and why."""


class CheckpointFile:
    """One gzip-compressed JSON file per consumer group."""

    def __init__(self, directory: Path, group: str) -> None:
        self.path = directory / f"trends-{group}.json.gz"

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none yet."""
        if not self.path.is_file():
            return None
        try:
            with gzip.open(self.path, "rt", encoding="utf-8") as handle:
                state = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read trend checkpoint {self.path}: {exc}; move it away to start fresh") from exc
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{self.path} has format {state.get('format')}, expected {FORMAT}")
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically; safe to call from a worker thread with a state snapshot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = gzip.compress(json.dumps({"format": FORMAT, **state}, separators=(",", ":")).encode(), compresslevel=3)
        # a temporary file of its own: two writers (two members sharing a state folder) never rename each other's
        with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=f"{self.path.name}.", suffix=".tmp",
                                         delete=False) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.path)
