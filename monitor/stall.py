"""Commit-stall detection: a partition with work to do whose committed offset has not moved.

Retries that cannot end (a publish that waits on something that never comes) show as a
partition with messages in flight, or waiting to be read, whose commits stop. Lag alone
cannot tell that from a large backlog, since a backlog still commits as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """What the source knows of one assigned partition."""

    committed: int | None  # what this process last committed (None: nothing yet)
    pending: bool  # messages in flight, or records past the read position


class CommitStallDetector:
    """Remembers since when each partition has had work without its commit advancing."""

    def __init__(self, threshold_seconds: float) -> None:
        self.threshold_seconds = threshold_seconds
        self._since: dict[tuple[str, int], tuple[int | None, float]] = {}  # -> (committed, since when)

    def observe(self, partitions: dict[tuple[str, int], PartitionProgress], now: float) -> dict[tuple[str, int], float]:
        """Update from the assigned partitions; returns each one's stalled seconds (0 while it is fine)."""
        out: dict[tuple[str, int], float] = {}
        for key, progress in partitions.items():
            last = self._since.get(key)
            if not progress.pending or last is None or last[0] != progress.committed:
                self._since[key] = (progress.committed, now)
                out[key] = 0.0
            else:
                out[key] = now - last[1]
        for gone in set(self._since) - set(partitions):
            del self._since[gone]  # revoked: another member owns it now
        return out

    def stalled(self, seconds: dict[tuple[str, int], float]) -> list[str]:
        """Why readiness fails: one line per partition stalled at least the threshold."""
        return [f"{topic}[{partition}]: no commit for {s:.0f} s with work pending (kafka.commit_stall_seconds="
                f"{self.threshold_seconds:g})" for (topic, partition), s in sorted(seconds.items())
                if s >= self.threshold_seconds]
