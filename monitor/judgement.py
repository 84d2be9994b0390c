"""The all-in-one process's judgement: trends, alert rules and their lifecycles over what this
process classifies, checkpointed to ``state.dir`` with the offsets it commits.

    classified batch -> trends (event-time buckets, released in each partition's offset order)
                     -> alert engine (closed buckets always, the open one every 0.2 s at most) -> sinks

The judge tier (``monitor.tiers.judge``) judges the same way over the enriched topic, with its
state in Kafka instead of on disk.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from monitor.alerts import AlertEngine, build_rule
from monitor.alerts.versions import VersionSpans
from monitor.checkpoint import AppliedOffsets, CheckpointFile
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.records import Alert, Enriched, SourcePosition
from monitor.settings import Settings
from monitor.sinks import SinkDispatcher
from monitor.trends import TrendStore
from monitor.trends.order import ReleaseOrder
from monitor.trends.store import TextFeatures, representable
from monitor.wiring import state_dir, trend_config

log = get_logger(__name__)
OPEN_BUCKET_EVERY_SECONDS = 0.2  # how often rules judge the still-open bucket at most (closed ones: always)


class LocalJudgement:
    """Trends and alerts of one process, handed its classified batches in the order they finish."""

    def __init__(self, settings: Settings, metrics: Metrics, sinks: SinkDispatcher) -> None:
        self.metrics = metrics
        self.sinks = sinks
        self.trends = TrendStore(trend_config(settings))
        self.alerts = AlertEngine([build_rule(r) for r in settings.rules], settings.alerting, settings.trends.warmup_buckets)
        self.applied = AppliedOffsets()  # offsets whose records the trends hold (a replay is not counted twice)
        self.order = ReleaseOrder()
        self.checkpoint_file = CheckpointFile(state_dir(settings), settings.kafka.group_id)
        self._evaluated_at = float("-inf")
        self._open_unjudged = False  # records counted since the open bucket was last judged
        self.versions = VersionSpans()  # which model versions classified the messages of which buckets

    @property
    def display_window(self) -> float:
        """The window shown on dashboards and the status page: the first rule's (5 minutes without rules)."""
        return self.alerts.rules[0].window_seconds if self.alerts.rules else 300.0

    def topics(self) -> list[dict[str, Any]]:
        """Each topic's window and series, as the status page shows them."""
        window = self.display_window
        out = []
        for key in self.trends.keys():
            stats = self.trends.window(key, window)
            out.append({
                "topic": key,
                "window": {"seconds": window, "count": stats.count, "by_sentiment": stats.by_sentiment,
                           "negative_share": round(stats.share("negative"), 4), "mean_sentiment": round(stats.mean_sentiment, 4)},
                "series": self.trends.series(key),
            })
        return out

    # -- state ----------------------------------------------------------------------------------
    def restore(self) -> None:
        """Trends, alerts and applied offsets from the last checkpoint, if there is one."""
        state = self.checkpoint_file.load()
        if state is None:
            return
        self.trends.restore(state["trends"])
        self.alerts.restore(state["alerts"])
        self.applied = AppliedOffsets.from_state(state["applied"])
        log.info("trend state restored", path=str(self.checkpoint_file.path), watermark=self.trends.watermark,
                 topics=len(self.trends.baselines), firing=len(self.alerts.firing))

    async def checkpoint(self, offsets: dict[tuple[str, int], int]) -> None:
        """Save trend and alert state with the offsets about to be committed (called before every commit)."""
        started = time.perf_counter()
        self.applied.advance(offsets)
        state = {"trends": self.trends.to_state(), "alerts": self.alerts.to_state(),
                 "applied": self.applied.to_state(), "saved_at": time.time()}
        await asyncio.get_running_loop().run_in_executor(None, self.checkpoint_file.save, state)
        self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)

    # -- records --------------------------------------------------------------------------------
    def expect(self, partitions: list[tuple[str, int]]) -> None:
        """Newly assigned partitions with records waiting hold the trends' watermark until their first is counted."""
        for partition in partitions:
            self.trends.expect(partition)

    def fetched(self, pos: SourcePosition) -> None:
        """A message on its way: its partition's event times are released in offset order from here."""
        self.order.fetched((pos.topic, pos.partition), pos.offset)
        self.trends.expect((pos.topic, pos.partition))

    def skipped(self, pos: SourcePosition, event_time: float) -> None:
        """A fetched message that will not be counted (refused by the tokeniser): its partition's
        watermark must not wait for it."""
        self.order.trended((pos.topic, pos.partition), pos.offset, event_time)

    async def observe(self, enriched: list[Enriched], features: list[TextFeatures]) -> None:
        """Count a classified batch into the trends and judge: buckets that close are judged now; the
        still-open one at most every OPEN_BUCKET_EVERY_SECONDS, and ``loop`` catches up on the last
        batch of a burst.

        Counting before the enriched records are acknowledged is safe: publishing retries until it
        succeeds or the process dies, and after a restart the checkpointed applied offsets keep
        replayed records from being counted twice."""
        if enriched:  # a batch is one route's: its records share their models
            self._saw_versions(enriched)
        self._trend(enriched, features)
        evaluate_open = time.monotonic() - self._evaluated_at >= OPEN_BUCKET_EVERY_SECONDS
        self._open_unjudged = not evaluate_open
        await self._judge(evaluate_open)

    def _saw_versions(self, enriched: list[Enriched]) -> None:
        """Note the buckets the batch's messages fall in under its models' versions."""
        times = [e.message.event_time for e in enriched if representable(e.message.event_time)]
        if times:
            index = self.trends.index
            self.versions.saw(enriched[0].model_versions, index(min(times)), index(max(times)))
            self.versions.forget_before(index(max(times) - self.trends.config.retention_seconds))

    def _trend(self, enriched: list[Enriched], features: list[TextFeatures]) -> None:
        """Count a batch (``features``: each record's, from the tokeniser thread); the watermark follows
        each partition in offset order (``monitor.trends.order``), however batching reordered them."""
        fresh, fresh_features = [], []
        for e, f in zip(enriched, features, strict=True):
            pos = e.message.position
            if self.applied.contains(pos.topic, pos.partition, pos.offset):
                self.metrics.replays_skipped.inc()  # already counted before a restart
            else:
                fresh.append(e)
                fresh_features.append(f)
                self.applied.add(pos.topic, pos.partition, pos.offset)
            self.order.trended((pos.topic, pos.partition), pos.offset, e.message.event_time)
        for result in self.trends.add_batch(fresh, advance=False, features=fresh_features):
            if result.late:
                self.metrics.late_records.inc()
            elif result.duplicate:
                self.metrics.duplicates.labels(result.key).inc()
        for partition, event_time in self.order.release():
            self.trends.advance(partition, event_time)

    # -- judging --------------------------------------------------------------------------------
    async def _judge(self, evaluate_open: bool) -> None:
        """Step the alert engine (closing due buckets; judging the open one when told) and notify."""
        if evaluate_open:
            self._evaluated_at = time.monotonic()
        alerts = self.alerts.advance(self.trends, self.versions, evaluate_open, wall=time.monotonic())
        await self._notify(alerts, evaluate_open)

    async def loop(self) -> None:
        """Judge the open bucket once batches stop coming: the last batch of a burst is never left
        unjudged for longer than OPEN_BUCKET_EVERY_SECONDS."""
        while True:
            await asyncio.sleep(OPEN_BUCKET_EVERY_SECONDS)
            if time.monotonic() - self._evaluated_at >= OPEN_BUCKET_EVERY_SECONDS:
                if self._open_unjudged:
                    await self.judge_unjudged()
                else:  # the stream is quiet: an incident waiting for group_wait goes out on the wall clock
                    due = self.alerts.tick(time.monotonic())
                    if due:
                        await self._notify(due)

    async def judge_unjudged(self) -> None:
        """Judge the open bucket if records were counted since it was last judged."""
        if self._open_unjudged:
            self._open_unjudged = False
            await self._judge(True)

    async def _notify(self, alerts: list[Alert], update_gauges: bool = False) -> None:
        """Count, log and hand notifications to the sinks."""
        self.metrics.alerts_muted.inc(self.alerts.lifecycle.muted_notifications)
        self.alerts.lifecycle.muted_notifications = 0
        for alert in alerts:
            self.metrics.alerts.labels(alert.rule, alert.state.value).inc()
            log.info("alert", rule=alert.rule, topic=alert.key, topics=alert.labels.get("topics", alert.key),
                     state=alert.state.value, summary=alert.summary, reminder=alert.reminder)
        if update_gauges:
            self._update_gauges()
        await self.sinks.dispatch(alerts)

    def _update_gauges(self) -> None:
        if not self.alerts.rules:
            return
        window = self.display_window
        for key in self.trends.keys():
            stats = self.trends.window(key, window)
            self.metrics.window_messages.labels(key).set(stats.count)
            self.metrics.window_negative_share.labels(key).set(stats.share("negative"))
        firing: dict[str, int] = {r.name: 0 for r in self.alerts.rules}
        for alert in self.alerts.firing:
            firing[alert.rule] = firing.get(alert.rule, 0) + 1
        for rule, count in firing.items():
            self.metrics.alerts_active.labels(rule).set(count)
