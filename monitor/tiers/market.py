"""The market-wide series (``__all__``) in the two-tier layout: one owner, built from closed buckets.

No judge task sees every label, so none counts ``__all__``. Each task publishes every bucket it
closes (its labels' counts) to the aggregates topic, which has one partition and so one owner: the
judge assigned it. The owner sums the tasks' buckets into ``__all__`` and closes a market bucket
once every enriched partition has closed it (the watermark is the minimum over partitions of the
newest bucket each closed; a partition that reports nothing for ``trends.idle_partition_seconds``
stops holding it, as an input partition does). Rules that name ``__all__`` run here, on closed
buckets, and their alerts go to the alerts topic like any other.

Topics defined by example are summed here too: each task's closed bucket carries its part of each
(``by_example``), and the owner adds the parts into the topic's own series, so those topics are
trended and alerted on, on closed buckets, like ``__all__``; the per-label rules (``*``) apply.

Its state goes to changelog partition 0 under keys prefixed ``A``, restored by the next owner.
"""

from __future__ import annotations

from typing import Any

import orjson

from monitor.settings import Settings
from monitor.tiers.task import JudgeTask
from monitor.trends import ALL, Bucket

PREFIX = b"A"


class MarketTask(JudgeTask):
    """``__all__``'s trends and alert lifecycles, from every task's closed buckets."""

    def __init__(self, settings: Settings, enriched_topic: str) -> None:
        super().__init__(0, settings)
        self.store.config.allowed_lateness_seconds = 0.0  # what arrives is closed already
        self.enriched_topic = enriched_topic

    def add_closed(self, values: list[bytes]) -> list[str]:
        """Sum aggregate records (one task's closed bucket each) into ``__all__`` and the topics defined by example."""
        errors = []
        bs = self.store.bucket_seconds
        for value in values:
            try:
                closed = orjson.loads(value)
                index, partition = int(closed["index"]), int(closed["partition"])
                parts = [(ALL, Bucket.from_state(state)) for state in closed["buckets"].values()]
                parts += [(str(topic), Bucket.from_state(state)) for topic, state in closed.get("by_example", {}).items()]
            except (KeyError, TypeError, ValueError, AttributeError, orjson.JSONDecodeError) as exc:
                errors.append(f"not an aggregate record: {exc!r}"[:300])
                continue
            if not all([self.store.merge(key, index, bucket) for key, bucket in parts]):
                self.late += 1
            self.store.advance((self.enriched_topic, partition), (index + 1) * bs)
            self.records += 1
        self.changed = self.changed or bool(values)
        return errors

    def changelog(self) -> list[tuple[bytes, bytes | None]]:
        return [(PREFIX + key, value) for key, value in super().changelog()]

    @classmethod
    def restore_market(cls, settings: Settings, enriched_topic: str, records: dict[bytes, bytes]) -> MarketTask:
        task = cls(settings, enriched_topic)
        restored = JudgeTask.restore(0, settings, {k[len(PREFIX):]: v for k, v in records.items() if k.startswith(PREFIX)})
        task.store, task.engine, task.versions = restored.store, restored.engine, restored.versions
        task.store.config.allowed_lateness_seconds = 0.0
        return task

    def _closed_counts(self, index: int) -> dict[str, Any]:
        return {}


def own_records(records: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Changelog partition 0's records without the market owner's (a judge task restores only its own)."""
    return {k: v for k, v in records.items() if not k.startswith(PREFIX)}
