"""The daemon: the only module that knows every stage. It wires them with bounded queues.

    fetch -> decode -> batch -> tokenise -> infer -> effects (publish, trends, alerts, sinks) -> done
                 \\-> dead letters -> publish -> done
    commit loop: commits what the offset tracker says is done

Tokenisation and inference run in two worker threads, so the event loop keeps polling
Kafka while the CPU works, and the next batch is tokenised while the current one runs.
When too much is in flight the partitions are paused (polling goes on), so slow
inference never makes the consumer miss its poll interval.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from monitor import __version__
from monitor.alerts import AlertEngine, build_rule
from monitor.checkpoint import AppliedOffsets, CheckpointFile
from monitor.batching import Batch, Batcher, estimate_tokens
from monitor.decode import Decoder
from monitor.emit import Emitter, dead_letter_record, enriched_record
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models.classifier import Classifier, EncodedBatch
from monitor.offsets import OffsetTracker
from monitor.records import DeadLetter, Enriched, Message, Prediction
from monitor.server import HealthServer
from monitor.settings import Settings
from monitor.sinks import SinkDispatcher, load_sink
from monitor.sources.kafka import KafkaSource
from monitor.trends import BaselineConfig, TrendConfig, TrendStore

log = get_logger(__name__)
_END = None  # end-of-stream marker passed down the queues when draining


@dataclass(slots=True)
class _Encoded:
    batch: Batch[Message]
    encoded: EncodedBatch
    tokenize_seconds: float


@dataclass(slots=True)
class _Classified:
    batch: Batch[Message]
    predictions: list[Prediction]


class Daemon:
    """Runs the pipeline until ``request_stop``; then drains within the grace period and commits."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, classifier: Classifier | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.classifier = classifier
        self.tracker = OffsetTracker()
        self.decoder = Decoder(settings.input)
        self.source = KafkaSource(
            settings.kafka, self.tracker, self.metrics, settings.shutdown_grace_seconds / 2, self._checkpoint
        )
        self.emitter = Emitter(settings.kafka, self.metrics)
        self.sinks = SinkDispatcher(
            [load_sink(s) for s in settings.sinks], self.metrics, state_dir(settings) / "outbox" / settings.kafka.group_id
        )
        self.trends = TrendStore(trend_config(settings))
        self.alerts = AlertEngine([build_rule(r) for r in settings.rules], settings.alerting, settings.trends.warmup_buckets)
        self.applied = AppliedOffsets()
        self.checkpoint_file = CheckpointFile(state_dir(settings), settings.kafka.group_id)
        self.server = HealthServer(self.metrics, self.readiness, settings.http.host, settings.http.port, self.status)
        self.stopping = asyncio.Event()
        self.models_loaded = False
        self.consuming = False
        b = settings.batch
        self._messages: asyncio.Queue[Message | None] = asyncio.Queue(b.max_in_flight + settings.kafka.max_poll_records)
        self._dead: asyncio.Queue[DeadLetter | None] = asyncio.Queue(b.max_in_flight + settings.kafka.max_poll_records)
        self._batches: asyncio.Queue[Batch[Message] | None] = asyncio.Queue(2)
        self._encoded: asyncio.Queue[_Encoded | None] = asyncio.Queue(2)
        self._classified: asyncio.Queue[_Classified | None] = asyncio.Queue(2)
        self._tokenizer_pool = ThreadPoolExecutor(1, thread_name_prefix="tokenize")
        self._model_pool = ThreadPoolExecutor(1, thread_name_prefix="infer")
        self._batch_ids = 0
        self.http_port: int | None = None

    def readiness(self) -> dict[str, bool]:
        """The checks behind ``/readyz``."""
        return {
            "models_loaded": self.models_loaded,
            "broker_reachable": self.metrics.broker_up._value.get() == 1,  # noqa: SLF001
            "consuming": self.consuming,
        }

    @property
    def display_window(self) -> float:
        """The window shown on dashboards and the status page: the first rule's (5 minutes without rules)."""
        return self.alerts.rules[0].window_seconds if self.alerts.rules else 300.0

    def status(self) -> dict[str, Any]:
        """The status page's data: models, per-topic trend series and windows, firing alerts."""
        window = self.display_window
        topics = []
        for key in self.trends.keys():
            stats = self.trends.window(key, window)
            topics.append({
                "topic": key,
                "window": {"seconds": window, "count": stats.count, "by_sentiment": stats.by_sentiment,
                           "negative_share": round(stats.share("negative"), 4), "mean_sentiment": round(stats.mean_sentiment, 4)},
                "series": self.trends.series(key),
            })
        return {
            "version": __version__,
            "models": self.classifier.describe() if self.classifier is not None else {},
            "watermark": self.trends.watermark,
            "bucket_seconds": self.trends.bucket_seconds,
            "topics": topics,
            "alerts": [a.to_json() for a in self.alerts.firing],
        }

    def request_stop(self) -> None:
        """Stop fetching and start draining (signal handlers call this)."""
        if not self.stopping.is_set():
            log.info("stop requested; draining")
            self.stopping.set()

    async def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        self.http_port = await self.server.start()
        log.info("http endpoint up", metrics=f"http://{self.settings.http.host}:{self.http_port}/metrics")
        tasks: list[asyncio.Task[Any]] = []
        try:
            if not await self._start_stages():
                return 0
            tasks = [
                asyncio.create_task(coro, name=name)
                for name, coro in (
                    ("batch", self._batch_loop()),
                    ("tokenize", self._tokenize_loop()),
                    ("infer", self._infer_loop()),
                    ("effects", self._effects_loop()),
                    ("dead-letters", self._dead_letter_loop()),
                )
            ]
            aux = [asyncio.create_task(self._commit_loop(), name="commit"), asyncio.create_task(self._probe_loop(), name="probe")]
            await self._fetch_loop()
            await self._drain(tasks)
            for task in aux:
                task.cancel()
            await _settle(aux)
            await self.source.commit()
            await self.sinks.drain(max(1.0, self.settings.shutdown_grace_seconds / 4))
            log.info("stopped cleanly", in_flight=self.tracker.in_flight)
            return 0
        finally:
            for task in tasks:
                task.cancel()
            await _settle(tasks)
            await self.sinks.stop()
            await self.source.stop()
            await self.emitter.stop()
            await self.server.stop()
            self._tokenizer_pool.shutdown(wait=False, cancel_futures=True)
            self._model_pool.shutdown(wait=False, cancel_futures=True)

    def _restore(self) -> None:
        state = self.checkpoint_file.load()
        if state is None:
            return
        self.trends.restore(state["trends"])
        self.alerts.lifecycle.restore(state["alerts"])
        self.applied = AppliedOffsets.from_state(state["applied"])
        log.info("trend state restored", path=str(self.checkpoint_file.path), watermark=self.trends.watermark,
                 topics=len(self.trends.baselines), firing=len(self.alerts.firing))

    async def _checkpoint(self, offsets: dict[tuple[str, int], int]) -> None:
        """Save trend and alert state with the offsets about to be committed (called before every commit)."""
        started = time.perf_counter()
        self.applied.advance(offsets)
        state = {"trends": self.trends.to_state(), "alerts": self.alerts.lifecycle.to_state(),
                 "applied": self.applied.to_state(), "saved_at": time.time()}
        await asyncio.get_running_loop().run_in_executor(None, self.checkpoint_file.save, state)
        self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)

    async def _start_stages(self) -> bool:
        loop = asyncio.get_running_loop()
        self._restore()
        if self.classifier is None:
            self.classifier = await loop.run_in_executor(self._model_pool, Classifier.load, self.settings.models)
        self.models_loaded = True
        described = self.classifier.describe()
        self.metrics.build_info.info({"version": __version__, **{f"{r}_{t}": m for r, ts in described.items() for t, m in ts.items()}})
        log.info("models loaded", routes=described)
        await self.sinks.start()
        if not await self.emitter.start(self.stopping) or not await self.source.start(self.stopping):
            return False
        self.consuming = True
        return True

    async def _fetch_loop(self) -> None:
        s = self.settings
        high, low = s.batch.max_in_flight, max(1, s.batch.max_in_flight // 2)
        while not self.stopping.is_set():
            room = max(1, min(s.kafka.max_poll_records, high - self.tracker.in_flight))
            records = await self.source.fetch(timeout_ms=100, max_records=room)
            for raw in records:
                pos = raw.position
                self.tracker.started(pos.topic, pos.partition, pos.offset)
                decoded = self.decoder.decode(raw)
                if isinstance(decoded, DeadLetter):
                    await self._dead.put(decoded)
                else:
                    await self._messages.put(decoded)
            self.metrics.in_flight.set(self.tracker.in_flight)
            self.source.update_lag()
            if self.tracker.in_flight >= high:
                self.source.set_paused(True)
            elif self.tracker.in_flight <= low:
                self.source.set_paused(False)
        self.consuming = False
        await self._messages.put(_END)
        await self._dead.put(_END)

    async def _drain(self, tasks: list[asyncio.Task[Any]]) -> None:
        done, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds * 0.8)
        for task in done:
            if task.exception() is not None:
                log.error("stage failed", stage=task.get_name(), error=repr(task.exception()))
        if pending:
            log.warning("drain timed out; uncommitted work will be redelivered", stages=[t.get_name() for t in pending])

    async def _batch_loop(self) -> None:
        assert self.classifier is not None
        batcher: Batcher[Message] = Batcher(self.settings.batch)
        ended = False
        while not ended:
            deadline = batcher.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            arrived: list[Message | None] = []
            try:
                arrived.append(await asyncio.wait_for(self._messages.get(), timeout))
            except asyncio.TimeoutError:
                pass  # nothing new: the oldest pending batch is due
            while not self._messages.empty():
                arrived.append(self._messages.get_nowait())
            ready: list[Batch[Message]] = []
            for item in arrived:
                if item is _END:
                    ended = True
                    break
                route = self.classifier.route_for(item.language, item.text)
                limit = self.classifier.routes[route].max_length
                ready += batcher.add(route, item, estimate_tokens(item.text, limit), time.monotonic())
            ready += batcher.flush() if ended else batcher.due(time.monotonic())
            for batch in ready:
                await self._batches.put(batch)
        await self._batches.put(_END)

    async def _tokenize_loop(self) -> None:
        assert self.classifier is not None
        loop = asyncio.get_running_loop()
        while (batch := await self._batches.get()) is not _END:
            assert batch is not None
            started = time.perf_counter()
            texts = [m.text for m in batch.items]
            encoded = await loop.run_in_executor(self._tokenizer_pool, self.classifier.encode, batch.route, texts)
            await self._encoded.put(_Encoded(batch, encoded, time.perf_counter() - started))
        await self._encoded.put(_END)

    async def _infer_loop(self) -> None:
        assert self.classifier is not None
        loop = asyncio.get_running_loop()
        while (item := await self._encoded.get()) is not _END:
            assert item is not None
            started = time.perf_counter()
            predictions = await loop.run_in_executor(self._model_pool, self.classifier.forward, item.encoded)
            elapsed = time.perf_counter() - started
            self.metrics.tokenize_seconds.observe(item.tokenize_seconds)
            self.metrics.inference_seconds.labels(item.batch.route).observe(elapsed)
            self.metrics.batch_size.observe(len(item.batch.items))
            self.metrics.batch_tokens.observe(item.encoded.padded_tokens)
            await self._classified.put(_Classified(item.batch, predictions))
        await self._classified.put(_END)

    async def _effects_loop(self) -> None:
        topic = self.settings.kafka.output_topic
        while (item := await self._classified.get()) is not _END:
            assert item is not None
            self._batch_ids += 1
            with structlog.contextvars.bound_contextvars(batch_id=self._batch_ids, route=item.batch.route):
                await self._apply(item, topic)

    async def _apply(self, item: _Classified, topic: str) -> None:
        """Publish, update trends, raise alerts and hand them to sinks; then mark the offsets done."""
        now = time.time()
        enriched = [Enriched(m, p, now) for m, p in zip(item.batch.items, item.predictions)]
        await self.emitter.publish([enriched_record(topic, e) for e in enriched], self._deadline())
        acked = time.time()
        versions: dict[str, str] = {}
        for e in enriched:
            versions.update(e.model_versions)
            self._count(e, item.batch.route, acked)
            self._trend(e)
        alerts = self.alerts.advance(self.trends, versions)
        self.metrics.alerts_muted.inc(self.alerts.lifecycle.muted_notifications)
        self.alerts.lifecycle.muted_notifications = 0
        for alert in alerts:
            self.metrics.alerts.labels(alert.rule, alert.state.value).inc()
            log.info("alert", rule=alert.rule, topic=alert.key, state=alert.state.value, summary=alert.summary,
                     reminder=alert.reminder)
        self._update_gauges()
        await self.sinks.dispatch(alerts)
        for m in item.batch.items:
            self.tracker.done(m.position.topic, m.position.partition, m.position.offset)
        self.source.notify_progress()
        log.debug("batch done", size=len(enriched))

    def _trend(self, e: Enriched) -> None:
        pos = e.message.position
        if self.applied.contains(pos.topic, pos.partition, pos.offset):
            self.metrics.replays_skipped.inc()  # already counted before a restart
            return
        result = self.trends.add(e)
        self.applied.add(pos.topic, pos.partition, pos.offset)
        if result.late:
            self.metrics.late_records.inc()
        elif result.duplicate:
            self.metrics.duplicates.labels(result.key).inc()

    def _count(self, e: Enriched, route: str, acked: float) -> None:
        m = self.metrics
        m.messages_processed.labels(route).inc()
        m.classified.labels(e.topic_label, e.sentiment_label).inc()
        m.e2e_event_seconds.observe(max(0.0, acked - e.message.event_time))
        if e.message.broker_time is not None:
            m.e2e_broker_seconds.observe(max(0.0, acked - e.message.broker_time))
        if e.message.truncated or e.prediction.truncated:
            m.messages_truncated.inc()

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

    async def _dead_letter_loop(self) -> None:
        topic = self.settings.kafka.dead_letter_topic
        ended = False
        while not ended:
            first = await self._dead.get()
            items: list[DeadLetter] = []
            if first is _END:
                break
            items.append(first)  # type: ignore[arg-type]
            while not self._dead.empty() and len(items) < 500:
                nxt = self._dead.get_nowait()
                if nxt is _END:
                    ended = True
                    break
                items.append(nxt)
            await self.emitter.publish([dead_letter_record(topic, d) for d in items], self._deadline())
            for d in items:
                self.metrics.dead_letters.labels(d.reason.value).inc()
                pos = d.raw.position
                self.tracker.done(pos.topic, pos.partition, pos.offset)
                log.warning("dead letter", reason=d.reason.value, detail=d.detail, partition=pos.partition, offset=pos.offset)
            self.source.notify_progress()

    def _deadline(self) -> float | None:
        """While running, publishing retries until the broker is back; while draining, within the grace period."""
        if not self.stopping.is_set():
            return None
        return time.monotonic() + self.settings.shutdown_grace_seconds / 2

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.kafka.commit_interval_seconds)
            await self.source.commit()

    async def _probe_loop(self) -> None:
        """Readiness: ask the cluster for metadata every few seconds."""
        while True:
            producer = self.emitter.producer
            ok = False
            if producer is not None:
                with suppress(Exception):
                    await asyncio.wait_for(producer.client.fetch_all_metadata(), 3.0)
                    ok = True
            self.metrics.broker_up.set(1 if ok else 0)
            self.metrics.ready.set(1 if all(self.readiness().values()) else 0)
            await asyncio.sleep(2.0)


def trend_config(settings: Settings) -> TrendConfig:
    """The trend store's configuration from settings; retention covers the longest rule window."""
    t = settings.trends
    longest = max((r.window_seconds for r in settings.rules), default=0.0)
    return TrendConfig(
        bucket_seconds=t.bucket_seconds,
        allowed_lateness_seconds=t.allowed_lateness_seconds,
        retention_seconds=max(t.retention_seconds, 2 * longest),
        dedup_window_seconds=t.dedup_window_seconds,
        dedup_max_distance=t.dedup_max_distance,
        baseline=BaselineConfig(
            bucket_seconds=t.bucket_seconds, halflife_buckets=t.halflife_buckets,
            share_halflife_buckets=t.share_halflife_buckets, warmup_buckets=t.warmup_buckets,
            profile_after_days=1.0 if t.seasonal_profile else float("inf"),
        ),
    )


def state_dir(settings: Settings) -> Path:
    """Where the trend checkpoint lives."""
    if settings.state.dir is not None:
        return settings.state.dir
    cache = Path(os.environ.get("MONITOR_CACHE_DIR", Path.home() / ".cache" / "textmon"))
    return cache / "state"


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        with suppress(asyncio.CancelledError, Exception):
            await task

