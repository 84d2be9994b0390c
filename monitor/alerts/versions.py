"""Which model versions classified the messages of which buckets, so that an alert names every
version behind its window, also across a switch (``monitor models promote`` mid-window).

Each distinct set of versions (task -> ``name@version``) keeps the span of bucket indices its
messages fell in. An alert over buckets ``first..last`` names, per task, every version whose span
overlaps them, oldest first, joined by `` + ``; with one version, as almost always, just that one.
Kept in memory only: after a restart (or a judge task's move) an alert names the versions seen
since, which is the versions that classified what was counted since.
"""

from __future__ import annotations

SEPARATOR = " + "


class VersionSpans:
    """Model versions by the buckets their messages fell in."""

    def __init__(self) -> None:
        # versions -> the runs of buckets their messages fell in, [first, last] each; a set of versions
        # that comes back after others ran (a rollback) starts a new run instead of covering theirs
        self._spans: dict[tuple[tuple[str, str], ...], list[list[int]]] = {}
        self._current: tuple[dict[str, str], list[list[int]]] | None = None
        self.latest: dict[str, str] = {}  # the versions of the last message seen

    def saw(self, versions: dict[str, str], first: int, last: int) -> None:
        """Messages classified by ``versions`` fell in buckets ``first..last``."""
        current = self._current
        if current is None or current[0] != versions:
            runs = self._spans.setdefault(tuple(sorted(versions.items())), [])
            self._current = current = (dict(versions), runs)
            self.latest = current[0]
        runs = current[1]
        for run in reversed(runs):  # the latest run, as a rule
            if first <= run[1] + 1 and last >= run[0] - 1:
                if first < run[0]:
                    run[0] = first
                if last > run[1]:
                    run[1] = last
                return
        runs.append([first, last])

    def within(self, first: int, last: int) -> dict[str, str]:
        """Task -> the versions that classified messages in buckets ``first..last`` (the latest when
        none is known there)."""
        hits = sorted((run[0], key) for key, runs in self._spans.items() for run in runs
                      if run[0] <= last and run[1] >= first)
        if not hits:
            return dict(self.latest)
        found: dict[str, list[str]] = {}
        for _, key in hits:
            for task, version in key:
                names = found.setdefault(task, [])
                if version not in names:
                    names.append(version)
        return {task: SEPARATOR.join(names) for task, names in found.items()}

    def forget_before(self, first: int) -> None:
        """Drop the runs that ended before bucket ``first`` (past retention)."""
        current = self._current[1] if self._current is not None else None
        for key in list(self._spans):
            runs = self._spans[key]
            runs[:] = [run for run in runs if run[1] >= first]
            if not runs and runs is not current:
                del self._spans[key]
