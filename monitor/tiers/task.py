"""One enriched partition's judgement: its labels' trends, baselines and alert lifecycles, and the
changelog that lets another process carry on with them.

Enriched records are keyed by topic label, so every label lives in exactly one partition and a
task holds whole labels. A task never counts the market-wide key (``__all__``): no partition
sees the whole market; the aggregate owner (``monitor.tiers.market``) builds it from every
task's closed buckets. Topics defined by example cut across the model's labels, so they are
built the same way: a task counts its part of each (under ``PART``) and publishes it with its
closed buckets; the owner sums the parts.

The changelog is incremental, keyed so that compaction keeps exactly the current state:

* ``m``: the task's clock and learning (watermark, newest closed bucket, per-input-partition
  event times, every label's baseline, the alert lifecycles), rewritten after a step that changed it;
* ``b<key>\\x00<index>``: one retained bucket, rewritten when counted into, deleted (a tombstone)
  when it falls out of retention;
* ``d<index>\\x00<n>``: fingerprints the near-duplicate index remembered in one bucket, in
  chunks that are only ever appended, deleted when they leave the duplicate window.

A step writes these with the offsets it consumed, in one transaction, so the state restored on
another process is exactly the state after the last committed offset.
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from monitor.alerts import AlertEngine, build_rule
from monitor.alerts.versions import VersionSpans
from monitor.records import Alert
from monitor.settings import Settings
from monitor.trends import Bucket, TopicBaseline, TrendStore
from monitor.trends.store import ALL, DUPLICATE, LATE, PART, SNIPPET_CHARS, Changes, Observed
from monitor.wiring import trend_config

META = b"m"
STARVED_SECONDS = 1.0  # a task that received nothing for longer was starved, not left behind by one partition


class EnrichedRecordError(ValueError):
    """An enriched record the judge cannot read (not written by the classify tier)."""


def observe(value: bytes) -> tuple[Observed, list[str], int | None, dict[str, str]]:
    """Decode a classify-tier enriched record into what trends need (no ``Enriched`` is built)."""
    try:
        body = orjson.loads(value)
        sentiment = body.get("sentiment")
        topic = body.get("topic")
        trend = body["trend"]
        source = body["input"]
        dist = sentiment["distribution"] if sentiment else None
        # this partition's part of each topic defined by example that the message belongs to
        parts = tuple(dict.fromkeys(PART + str(t["label"]) for t in body.get("example_topics") or ()
                                    if t["label"] != ALL))
        obs = Observed(
            topic["label"] if topic else "unknown", float(body["event_time"]),
            sentiment["label"] if sentiment else "unknown",
            dist.get("positive", 0.0) - dist.get("negative", 0.0) if dist is not None else None,
            float(sentiment["score"]) if sentiment else 0.0, str(body["id"]), str(body["text"])[:SNIPPET_CHARS],
            (str(source["topic"]), int(source["partition"])), parts,
        )
        return obs, trend["terms"], trend["fingerprint"], body.get("models") or {}
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        raise EnrichedRecordError(f"not a classify-tier enriched record: {exc!r}"[:300]) from None


class JudgeTask:
    """Trends and alert lifecycles for the labels of one enriched partition."""

    def __init__(self, partition: int, settings: Settings) -> None:
        self.partition = partition
        config = trend_config(settings)
        config.market_wide = False
        self.store = TrendStore(config)
        self.store.changes = Changes()
        self.engine = AlertEngine([build_rule(r) for r in settings.rules], settings.alerting,
                                  settings.trends.warmup_buckets, grouped=False)
        self.versions = VersionSpans()  # which model versions classified the records of which buckets
        self.chunks: dict[int, list[bytes]] = {}  # bucket index -> its fingerprint chunks' changelog keys
        self.changed = False  # the meta record is due
        self.alerts: list[Alert] = []  # notifications raised since the last step
        self.closed: list[dict[str, Any]] = []  # closed buckets' counts, for the market-wide owner
        self.records = 0
        self.next_offset = 0  # the next enriched offset this task counts (the judge drops older copies)
        self._last_add: float | None = time.monotonic()
        self.late = 0
        self.late_reported = 0  # of ``late``, what textmon_late_records_total already counts
        self.duplicates = 0

    # -- the flow ----------------------------------------------------------------------------
    def add(self, values: list[bytes]) -> list[str]:
        """Count a fetched run of enriched records (in partition order); returns errors for those unread."""
        errors: list[str] = []
        now = time.monotonic()
        if self._last_add is not None and now - self._last_add > STARVED_SECONDS:
            self.store.pause_idle_clock(now - self._last_add)
        self._last_add = now
        # each input partition's newest time moves the watermark once per run, not per record: buckets
        # close only in ``judge``, after the run, so the outcome is the same
        newest: dict[tuple[str, int], float] = {}
        count, versions, width = self.store.count_observed, self.versions, self.store.config.bucket_seconds
        seen: tuple[dict[str, str] | None, int | None] = (None, None)  # the last versions and bucket noted
        for value in values:
            try:
                obs, terms, fp, models = observe(value)
            except EnrichedRecordError as exc:
                errors.append(str(exc))
                continue
            outcome = count(obs, terms, fp, False)
            if newest.get(obs.partition, -math.inf) < obs.event_time:
                newest[obs.partition] = obs.event_time
            self.records += 1
            if outcome == LATE:
                self.late += 1
            elif outcome == DUPLICATE:
                self.duplicates += 1
            if models and outcome != LATE:  # counted: its bucket was classified by these versions
                i = int(obs.event_time // width)
                if i != seen[1] or models != seen[0]:
                    versions.saw(models, i, i)
                    seen = (models, i)
        for partition, t in newest.items():
            self.store.advance(partition, t)
        self.changed = self.changed or bool(values)
        return errors

    def judge(self, evaluate_open: bool) -> list[Alert]:
        """Close due buckets and evaluate (the open one when told); notifications wait for the step."""
        before = len(self.store.changes.closed) if self.store.changes else 0
        alerts = self.engine.advance(self.store, self.versions, evaluate_open, wall=time.monotonic())
        if self.store.last_closed is not None:
            kept = int(self.store.config.retention_seconds / self.store.config.bucket_seconds)
            self.versions.forget_before(self.store.last_closed - kept)
        closed = self.store.changes.closed[before:] if self.store.changes else []
        for index in closed:
            self.closed.append(self._closed_counts(index))
        if alerts or closed:
            self.changed = True
        self.alerts += alerts
        return alerts

    def _closed_counts(self, index: int) -> dict[str, Any]:
        """A closed bucket for the market-wide owner: the labels' counts (summed into ``__all__``) and
        this partition's parts of the topics defined by example (each summed into its topic)."""
        buckets, parts = {}, {}
        for k, by_index in self.store.buckets.items():
            if index in by_index:
                if k.startswith(PART):
                    parts[k[len(PART):]] = by_index[index].to_state()
                else:
                    buckets[k] = by_index[index].to_state()
        return {"partition": self.partition, "index": index, "buckets": buckets,
                **({"by_example": parts} if parts else {})}

    # -- the changelog -----------------------------------------------------------------------
    def changelog(self) -> list[tuple[bytes, bytes | None]]:
        """The changes since the last call, as (key, value) records; a value of None deletes the key."""
        changes = self.store.changes
        assert changes is not None
        out: list[tuple[bytes, bytes | None]] = []
        for key, index in sorted(changes.buckets):
            bucket = self.store.buckets.get(key, {}).get(index)
            if bucket is not None:
                out.append((_bucket_key(key, index), orjson.dumps(bucket.to_state())))
        for key, index in changes.pruned:
            out.append((_bucket_key(key, index), None))
        by_index: dict[int, list[tuple[float, int]]] = {}
        for t, fp in changes.fingerprints:
            by_index.setdefault(self.store.index(t), []).append((t, fp))
        for index, entries in sorted(by_index.items()):
            keys = self.chunks.setdefault(index, [])
            key = b"d%d\x00%d" % (index, len(keys))
            keys.append(key)
            out.append((key, orjson.dumps(entries)))
        horizon = self.store.index(self.store.watermark - self.store.config.dedup_window_seconds) - 1
        for index in [i for i in self.chunks if i < horizon]:
            out += [(key, None) for key in self.chunks.pop(index)]
        if self.changed:
            out.append((META, orjson.dumps(self._meta())))
        self.store.changes = Changes()
        self.changed = False
        return out

    def _meta(self) -> dict[str, Any]:
        s = self.store
        return {
            "watermark": s.watermark, "last_closed": s.last_closed, "age": s.age,
            "sources": [[t, p, e] for (t, p), e in s.source_times().items()],
            "baselines": {k: b.to_state() for k, b in s.baselines.items()},
            "alerts": self.engine.to_state(), "versions": self.versions.latest,
        }

    @classmethod
    def restore(cls, partition: int, settings: Settings, records: dict[bytes, bytes]) -> JudgeTask:
        """A task from its changelog's compacted content (the latest value per key, deletions applied)."""
        task = cls(partition, settings)
        store = task.store
        meta = records.get(META)
        if meta is not None:
            m = orjson.loads(meta)
            store.watermark, store.last_closed, store.age = m["watermark"], m["last_closed"], m["age"]
            store.restore_source_times({(t, p): e for t, p, e in m["sources"]})
            store.baselines = {k: TopicBaseline.from_state(b) for k, b in m["baselines"].items()}
            task.engine.restore(m["alerts"])
            task.versions.latest = dict(m.get("versions") or {})
        chunks: list[tuple[int, int, bytes, bytes]] = []
        for key, value in records.items():
            if key.startswith(b"b"):
                label, _, index = key[1:].rpartition(b"\x00")
                store.buckets.setdefault(label.decode(), {})[int(index)] = Bucket.from_state(orjson.loads(value))
            elif key.startswith(b"d"):
                index, _, n = key[1:].partition(b"\x00")
                chunks.append((int(index), int(n), key, value))
        for index, _, key, value in sorted(chunks):
            task.chunks.setdefault(index, []).append(key)
            for t, fp in orjson.loads(value):
                store.dedup.remember(fp, t)
        store.changes = Changes()
        return task

    def expect_sources(self, partitions: list[tuple[str, int]]) -> None:
        """A fresh task waits (bounded) for every input partition before its first bucket closes."""
        if self.store.last_closed is None:
            for partition in partitions:
                self.store.expect(partition)

    def watermark_lag(self) -> float:
        """Wall clock minus the event-time watermark (0 before anything was counted)."""
        w = self.store.watermark
        return max(0.0, time.time() - w) if w and math.isfinite(w) else 0.0


def _bucket_key(key: str, index: int) -> bytes:
    return b"b" + key.encode() + b"\x00" + str(index).encode()
