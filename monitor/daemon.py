"""The classify pipeline, and the process that runs it: stages wired with bounded queues.

    fetch -> decode -> tokenise -> batch -> infer (N workers) -> effects: publish, and with role
                 \\-> dead letters -> publish -> done           ``all`` judgement -> sinks -> done
    commit loop: commits what the offset tracker says is done

With role ``all`` (the default) the effects stage hands each batch to ``monitor.judgement``
(trends and alerts in this process, checkpointed with the commits); with role ``classify`` the
records are staged and committed with their input offsets (``monitor.tiers.staged``) for the judge
tier (``monitor.tiers.judge``) and sink delivery (``monitor.tiers.deliver``) to take over.

Messages are tokenised as they arrive (a worker thread, chunk by chunk), so the batcher
sorts and cuts by true token counts and batches carry little padding. Inference runs in a
pool of worker threads (``monitor.models.workers``: on CPU one single-threaded worker per
core, each on its own batch), so the event loop keeps polling Kafka while the CPU works.
A batch is cut only when a worker is free (or about to be): idle, a message leaves after
``max_wait_ms``; under load, messages gather into full, length-sorted batches instead of
queueing as small ones. When too much is in flight the partitions are
paused (polling goes on), so slow inference never makes the consumer miss its poll interval.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from monitor import __version__
from monitor.batching import Batch, Batcher
from monitor.decode import Decoder
from monitor.feedback import AnalystDesk
from monitor.emit import Emitter, PublishTimeout, dead_letter_record, enriched_record
from monitor.examples.topics import TopicDefinitionError
from monitor.inference import classify_batch
from monitor.inflight import InFlightLimit
from monitor.judgement import LocalJudgement
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models.base import ModelLoadError, resolve_device
from monitor.models.classifier import Classifier, Tokenized
from monitor.models.workers import WorkerPlan, name_thread, plan_workers
from monitor.offsets import OffsetTracker
from monitor.redact import register_settings
from monitor.records import DeadLetter, DeadLetterReason, Enriched, Message, Prediction
from monitor.server import HealthServer, without_text
from monitor.shadow.api import ShadowApi
from monitor.shadow.desk import ShadowDesk
from monitor.shadow.lineup import LineupError
from monitor.stall import CommitStallDetector
from monitor.settings import Settings
from monitor.sinks import OutboxLimits, SinkDispatcher, load_sink
from monitor.sources.kafka import KafkaSource
from monitor.trends import TrendStore
from monitor.trends.store import TextFeatures
from monitor.wiring import state_dir, trend_config
from monitor.tiers.staged import StagedOutput
from monitor.tiers.writer import Pending

log = get_logger(__name__)
_END = None  # end-of-stream marker passed down the queues when draining
PUBLISHES_IN_FLIGHT = 8  # batches whose records are being written at once
POLL_SECONDS = 0.1  # how long one poll waits for records
SWITCH_WAIT_SECONDS = 30.0  # how long a switch waits for the batches being classified to finish
POISON_STREAK = 8  # messages in a row the tokeniser refuses before that counts as its own failure, not theirs


@dataclass(slots=True)
class _Tokenized:
    message: Message
    route: str
    tokens: Tokenized
    features: TextFeatures  # what trends need from the text, computed next to the tokens, off the event loop
    by: Classifier  # whose tokenisers made ``tokens``: after a switch, the new live models tokenise again


@dataclass(slots=True)
class _Classified:
    batch: Batch[_Tokenized]
    predictions: list[Prediction]
    infer_seconds: float
    padded_tokens: int
    enriched: list[Enriched] = field(default_factory=list)
    shadow: list[Prediction] | None = None  # the candidate's predictions of a sampled batch, never published
    shadow_seconds: float = 0.0
    shadow_error: Exception | None = None
    shadow_by: Classifier | None = None  # the candidate that ran: one replaced meanwhile is not counted


class Daemon:
    """Runs the pipeline until ``request_stop``; then drains within the grace period and commits."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, classifier: Classifier | None = None) -> None:
        self.settings = settings
        register_settings(settings)  # before anything can log: no credential in any log line
        self.metrics = metrics or Metrics()
        self.metrics.role.labels(settings.role).set(1)
        self.classifier = classifier
        self.tracker = OffsetTracker()
        self.decoder = Decoder(settings.input)
        self.classify_only = settings.role == "classify"
        # the classify tier keeps no state: its records are staged and commit with their input offsets
        self.staged = StagedOutput(settings, self.metrics) if self.classify_only else None
        sinks = () if self.classify_only else settings.sinks  # the classify tier raises no alerts
        self.sinks = SinkDispatcher(
            [load_sink(s) for s in sinks], self.metrics, state_dir(settings) / "outbox" / settings.kafka.group_id,
            limits=[OutboxLimits(s.outbox_max_entries, s.outbox_max_age_seconds) for s in sinks],
        )
        # all in one process: trends and alerts here, checkpointed with the commits; the classify tier
        # leaves them to the judge tier
        self.judgement = None if self.classify_only else LocalJudgement(settings, self.metrics, self.sinks)
        j = self.judgement
        # the trends' text features (content terms, near-duplicate fingerprint) are computed beside the
        # tokens; the classify tier ships them in its records, so the judge tier never reads the text
        self.features = j.trends if j else TrendStore(trend_config(settings))
        self.source = KafkaSource(
            settings.kafka, self.tracker, self.metrics, settings.shutdown_grace_seconds / 2,
            j.checkpoint if j else None, on_backlog=j.expect if j else None,
            committer=self._commit_staged if self.classify_only else None,
            on_assigned=self.staged.assign if self.staged else None,
            on_revoked=self.staged.revoke if self.staged else None,
        )
        self.emitter = Emitter(settings.kafka, self.metrics)
        token = settings.http.auth_token
        admin = settings.http.admin_token
        self.server = HealthServer(self.metrics, self.readiness, settings.http.host, settings.http.port, self.status,
                                   token.get_secret_value() if token is not None else None, self.not_ready_because,
                                   admin.get_secret_value() if admin is not None else None,
                                   lambda reason: self.metrics.feedback_refused.labels(reason).inc())
        self.desk = AnalystDesk(settings, self.metrics, self._labels, lambda: j.alerts.firing if j else [])
        self.desk.mount(self.server.app)
        # a candidate in shadow beside the live models, and the switches between them (promote, rollback)
        self.shadow = ShadowDesk(settings, self.metrics, self._switch, __version__)
        ShadowApi(self.shadow).mount(self.server.app)
        self.stalls = CommitStallDetector(settings.kafka.commit_stall_seconds)
        self.stalled: list[str] = []  # partitions whose commits stopped, as readiness explains them
        self.stopping = asyncio.Event()
        self.models_loaded = False
        self.broker_reachable = False  # set by the metadata probe every few seconds
        self.consuming = False
        b = settings.batch
        self.in_flight_limit = InFlightLimit(None if b.max_in_flight == "auto" else b.max_in_flight)
        queued = self.in_flight_limit.ceiling + settings.kafka.max_poll_records
        self._messages: asyncio.Queue[Message | None] = asyncio.Queue(queued)
        self._dead: asyncio.Queue[DeadLetter | None] = asyncio.Queue(queued)
        self._tokenized: asyncio.Queue[list[_Tokenized] | None] = asyncio.Queue()  # bounded by max_in_flight
        self._batches: asyncio.Queue[Batch[_Tokenized] | None] = asyncio.Queue()  # bounded by _slots
        self._tokenizer_pool = ThreadPoolExecutor(1, thread_name_prefix="tokenize", initializer=name_thread,
                                                  initargs=("textmon-tokenize",))
        self._classified: asyncio.Queue[_Classified | None] = asyncio.Queue(2)
        self.plan: WorkerPlan | None = None
        self._model_pool: ThreadPoolExecutor | None = None
        self._slots = asyncio.Semaphore(1)  # batches cut but not yet classified; sized from the plan
        self._batch_ids = 0
        self._poison_streak = 0  # messages in a row the tokeniser refused (its thread only)
        self.failed = False
        self.http_port: int | None = None

    def readiness(self) -> dict[str, bool]:
        """The checks behind ``/readyz``."""
        return {
            "models_loaded": self.models_loaded,
            "broker_reachable": self.broker_reachable,
            "consuming": self.consuming,
            "commits_advancing": not self.stalled,
        }

    def _labels(self) -> dict[str, frozenset[str]]:
        """The labels a correction may name: whatever the loaded models answer."""
        return self.classifier.labels() if self.classifier is not None else {}

    def not_ready_because(self) -> list[str]:
        """What ``/readyz`` says beside the failed checks: the stalled partitions."""
        return self.stalled

    def status(self) -> dict[str, Any]:
        """The status page's data: models, per-topic trend series and windows, firing alerts."""
        j = self.judgement
        return {
            "version": __version__,
            "models": self.classifier.describe() if self.classifier is not None else {},
            "watermark": j.trends.watermark if j else None,
            "bucket_seconds": j.trends.bucket_seconds if j else None,
            "topics": j.topics() if j else [],
            "alerts": [a.to_json() if self.settings.http.expose_text else without_text(a.to_json())
                       for a in (j.alerts.firing if j else [])],
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
                    ("tokenize", self._tokenize_loop()),
                    ("batch", self._batch_loop()),
                    ("classify", self._classify_loop()),
                    ("effects", self._effects_loop()),
                    ("dead-letters", self._dead_letter_loop()),
                )
            ]
            for task in tasks:
                task.add_done_callback(self._stage_ended)
            aux = [asyncio.create_task(self._commit_loop(), name="commit"), asyncio.create_task(self._probe_loop(), name="probe")]
            if self.judgement is not None:
                judge = asyncio.create_task(self.judgement.loop(), name="judge")
                judge.add_done_callback(self._stage_ended)  # a failing rule stops the daemon, as it does in a batch
                aux.append(judge)
            await self._fetch_loop()
            await self._drain(tasks)
            if self.judgement is not None:
                await self.judgement.judge_unjudged()
            for task in aux:
                task.cancel()
            await _settle(aux)
            await self.source.commit()
            await self.sinks.drain(max(1.0, self.settings.shutdown_grace_seconds / 4))
            if self.failed:
                log.error("stopped after a stage failed; uncommitted work will be redelivered", in_flight=self.tracker.in_flight)
                return 1
            log.info("stopped cleanly", in_flight=self.tracker.in_flight)
            return 0
        finally:
            for task in tasks:
                task.cancel()
            await _settle(tasks)
            await self.desk.stop()
            await self.sinks.stop()
            if self.staged is not None:
                await self.staged.stop()
            await self.source.stop()
            await self.emitter.stop()
            await self.server.stop()
            self._tokenizer_pool.shutdown(wait=False, cancel_futures=True)
            if self._model_pool is not None:
                self._model_pool.shutdown(wait=False, cancel_futures=True)

    def _stage_ended(self, task: asyncio.Task[Any]) -> None:
        """A stage that raises stops the daemon (exit 1) instead of silently stalling the pipeline."""
        if task.cancelled() or task.exception() is None:
            return
        if isinstance(task.exception(), PublishTimeout):
            return  # draining with the broker away: the drain reports it, and the work is redelivered
        log.error("stage failed", stage=task.get_name(), error=repr(task.exception()))
        self.failed = True
        self.request_stop()

    async def _start_stages(self) -> bool:
        loop = asyncio.get_running_loop()
        if self.judgement is not None:
            self.judgement.restore()
        # the tokeniser has its own thread and the inference workers own the cores: no extra thread pool
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        m = self.settings.models
        self.plan = plan_workers(resolve_device(m.device), m.workers, m.threads)
        self._model_pool = ThreadPoolExecutor(self.plan.workers, thread_name_prefix="classify",
                                              initializer=self.plan.init_thread)
        # one batch waits for each worker, and one more is ready the moment a worker frees up
        self._slots = asyncio.Semaphore(self.plan.workers + 1)
        if self.classifier is None:
            self.classifier = await loop.run_in_executor(self._model_pool, Classifier.load, m)
            b = self.settings.batch
            warm = await loop.run_in_executor(self._model_pool, self.classifier.warm_up, b.max_size, b.max_tokens)
            self.metrics.warmup_seconds.set(warm.seconds)
            self.metrics.warmup_shapes.set(warm.shapes)
        try:  # the topics by example (the settings', the stored) label the first message fetched, as the models do
            if not await self.desk.load_topics(self.stopping):
                return False
        except TopicDefinitionError as exc:
            raise ModelLoadError(f"example_topics.topics: {exc}") from None
        self.models_loaded = True
        _settle_heap()
        described = self.classifier.describe()
        precision = self.classifier.precision
        self.shadow.attach(self.classifier)  # exports the live models in textmon_build_info
        log.info("models loaded", routes=described, precision=precision, why=self.classifier.precision_reason,
                 workers=self.plan.workers, threads_per_worker=self.plan.threads)
        if m.candidate is not None:
            try:
                await self.shadow.load(m.candidate, via="settings")
            except LineupError as exc:  # a configured candidate that cannot load stops start-up, as a live model does
                raise ModelLoadError(f"models.candidate.{exc}") from None
        await self.sinks.start()
        if not await self.emitter.start(self.stopping) or not await self.source.start(self.stopping):
            return False
        self.consuming = True
        await self.desk.start()
        return True

    async def _fetch_loop(self) -> None:
        s = self.settings
        while not self.stopping.is_set():
            high = self.in_flight_limit.update(self.tracker.completed, time.monotonic())
            low = max(1, high // 2)
            if self.source.paused:
                # nothing is fetched while paused: resume the moment the pipeline has made room, rather
                # than after a poll that waits out its whole timeout for records that cannot come
                await self._wait_for_room(low, POLL_SECONDS)
                if self.tracker.in_flight <= low:
                    self.source.set_paused(False)
            room = max(1, min(s.kafka.max_poll_records, high - self.tracker.in_flight))
            # polled even while paused (without waiting), so the group sees a live member
            records = await self.source.fetch(timeout_ms=0 if self.source.paused else int(POLL_SECONDS * 1000),
                                              max_records=room)
            for raw in records:
                pos = raw.position
                self.tracker.started(pos.topic, pos.partition, pos.offset)
                decoded = self.decoder.decode(raw)
                if isinstance(decoded, DeadLetter):
                    await self._dead.put(decoded)
                else:
                    if self.judgement is not None:
                        self.judgement.fetched(pos)
                    await self._messages.put(decoded)
            self.metrics.in_flight.set(self.tracker.in_flight)
            self.metrics.in_flight_limit.set(high)
            self.source.update_lag()
            if self.tracker.in_flight >= high:
                self.source.set_paused(True)  # resumed at the top of the loop, once there is room
        self.consuming = False
        await self._messages.put(_END)
        await self._dead.put(_END)

    async def _wait_for_room(self, low: int, seconds: float) -> None:
        """Until at most ``low`` messages are in flight, or ``seconds`` pass."""
        deadline = time.monotonic() + seconds
        while self.tracker.in_flight > low and (remaining := deadline - time.monotonic()) > 0:
            await self.source.wait_progress(remaining)

    async def _drain(self, tasks: list[asyncio.Task[Any]]) -> None:
        _, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds * 0.8)
        if pending:
            log.warning("drain timed out; uncommitted work will be redelivered", stages=[t.get_name() for t in pending])

    async def _tokenize_loop(self) -> None:
        """Route and tokenise messages chunk by chunk, as they arrive, off the event loop."""
        assert self.classifier is not None
        loop = asyncio.get_running_loop()
        ended = False
        while not ended:
            chunk: list[Message] = []
            item = await self._messages.get()
            while True:
                if item is _END:
                    ended = True
                    break
                chunk.append(item)
                if self._messages.empty() or len(chunk) >= 1024:
                    break
                item = self._messages.get_nowait()
            if chunk:
                started = time.perf_counter()
                tokenized, refused = await loop.run_in_executor(self._tokenizer_pool, self._tokenize_guarded, chunk)
                self.metrics.tokenize_seconds.observe(time.perf_counter() - started)
                for dead, message in refused:
                    pos = message.position  # trends' watermark must not wait for it
                    if self.judgement is not None:
                        self.judgement.skipped(pos, message.event_time)
                    await self._dead.put(dead)
                self._tokenized.put_nowait(tokenized)
        self._tokenized.put_nowait(_END)

    def _tokenize_guarded(self, chunk: list[Message]) -> tuple[list[_Tokenized], list[tuple[DeadLetter, Message]]]:
        """``_tokenize_sync``; if it raises, each message alone, and the ones that still raise become dead
        letters (a poison message would otherwise stop the daemon, and stop it again after every restart,
        since its offset is never committed). Failures that are not one message's own (every message of a
        chunk failing, or ``POISON_STREAK`` in a row) still stop the daemon, as any stage failure does."""
        try:
            out = self._tokenize_sync(chunk)
            self._poison_streak = 0
            return out, []
        except Exception:  # noqa: BLE001 - which message, if any, is found below
            pass
        tokenized: list[_Tokenized] = []
        refused: list[tuple[DeadLetter, Message]] = []
        for message in chunk:
            try:
                tokenized += self._tokenize_sync([message])
                self._poison_streak = 0
            except Exception as exc:  # noqa: BLE001 - recorded in the dead letter
                self._poison_streak += 1
                if message.raw is None or self._poison_streak >= POISON_STREAK or len(refused) + 1 == len(chunk) > 1:
                    raise
                refused.append((DeadLetter(message.raw, DeadLetterReason.UNPROCESSABLE, f"tokenising failed: {exc!r}"[:500]),
                                message))
                log.warning("message refused by the tokeniser", error=repr(exc), partition=message.position.partition,
                            offset=message.position.offset)
        return tokenized, refused

    def _tokenize_sync(self, chunk: list[Message]) -> list[_Tokenized]:
        """Route and tokenise a chunk, and compute the trends' text features (content terms and
        near-duplicate fingerprint) here too: they would otherwise cost the event loop about as much
        as everything else it does per message."""
        classifier = self.classifier  # one classifier for the chunk, whatever a switch does meanwhile
        assert classifier is not None
        features = self.features.text_features([m.text for m in chunk])
        by_route: dict[str, list[tuple[Message, TextFeatures]]] = {}
        for m, f in zip(chunk, features):
            by_route.setdefault(classifier.route_for(m.language, m.text), []).append((m, f))
        out: list[_Tokenized] = []
        for route, items in by_route.items():
            tokens = classifier.tokenize(route, [m.text for m, _ in items])
            out += [_Tokenized(m, route, t, f, classifier) for (m, f), t in zip(items, tokens)]
        return out

    async def _batch_loop(self) -> None:
        """Cut batches as late as a free worker allows: idle, a message waits at most ``max_wait_ms``;
        under load, arrivals gather (length-sorted) into full batches instead of queueing as small ones."""
        batcher: Batcher[_Tokenized] = Batcher(self.settings.batch)
        ready: deque[Batch[_Tokenized]] = deque()  # cut (full, or due), waiting for a worker
        ended = False
        while ready or len(batcher) or not ended:
            if not ready and not ended:
                deadline = batcher.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    first = await asyncio.wait_for(self._tokenized.get(), timeout)
                except asyncio.TimeoutError:
                    pass  # nothing new: the oldest pending message is due
                else:
                    ended = self._collect(batcher, ready, [first])
                if not (ready or ended or batcher.is_due(time.monotonic())):
                    continue
            await self._slots.acquire()
            if not ended:
                ended = self._collect(batcher, ready, [])  # what arrived while every worker was busy
            if ended:
                ready.extend(batcher.flush())
            elif not ready:
                # due messages go out in as many length-matched batches as there are free workers;
                # the rest wait, and grow, for the next one
                due = sorted(batcher.due(time.monotonic()), key=lambda b: b.oldest)  # oldest first
                ready.extend(due[:1])
                while len(due) > 1 and not self._slots.locked():
                    await self._slots.acquire()
                    self._batches.put_nowait(due.pop(1))
                for batch in due[1:]:
                    batcher.put_back(batch)
            if ready:
                self._batches.put_nowait(ready.popleft())
            else:
                self._slots.release()
        self._batches.put_nowait(_END)

    def _collect(self, batcher: Batcher[_Tokenized], ready: deque[Batch[_Tokenized]],
                 arrived: list[list[_Tokenized] | None]) -> bool:
        """Add ``arrived`` and every queued chunk to the batcher; full batches go to ``ready``. True at the end."""
        while not self._tokenized.empty():
            arrived.append(self._tokenized.get_nowait())
        now = time.monotonic()
        for chunk in arrived:
            if chunk is _END:
                return True
            for item in chunk:
                ready.extend(batcher.add(item.route, item, item.tokens.length, now))
        return False

    async def _classify_loop(self) -> None:
        """Hand each batch to the worker pool; results go on in the order they finish."""
        running: set[asyncio.Task[None]] = set()
        while (batch := await self._batches.get()) is not _END:
            assert batch is not None
            task = asyncio.create_task(self._classify(batch), name="classify-batch")
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(self._stage_ended)
        await asyncio.gather(*running)
        await self._classified.put(_END)

    async def _classify(self, batch: Batch[_Tokenized]) -> None:
        assert self._model_pool is not None and self.classifier is not None
        # the live classifier is read here, on the event loop, where a switch waits for every batch in flight
        live, candidate = self.classifier, self.shadow.pick(batch.route)
        try:
            item = await asyncio.get_running_loop().run_in_executor(self._model_pool, self._classify_sync, batch, live,
                                                                    candidate)
            self.metrics.inference_seconds.labels(batch.route).observe(item.infer_seconds)
            self.metrics.batch_size.observe(len(batch.items))
            self.metrics.batch_tokens.observe(item.padded_tokens)
            await self._classified.put(item)
        finally:
            self._slots.release()

    def _classify_sync(self, batch: Batch[_Tokenized], live: Classifier, candidate: Classifier | None) -> _Classified:
        """Classify one batch with ``live``, and with a sampled ``candidate`` (in a worker thread)."""
        items = batch.items
        texts = [t.message.text for t in items]
        r = classify_batch(batch.route, texts, [t.tokens for t in items], [t.by for t in items], live, candidate)
        if self.desk.example_topics.fitted is not None:  # the user's own topics, trended beside the model's
            started = time.perf_counter()
            try:
                found = self.desk.example_topics.classify(texts)
            except Exception as exc:  # noqa: BLE001 - the models' records go on without the user's topics
                self.metrics.example_topic_errors.inc()
                log.warning("labelling by example failed on a batch; its records carry the models' labels only",
                            error=repr(exc)[:500])
            else:
                r.predictions = [replace(p, example_topics=tuple(hits)) for p, hits in zip(r.predictions, found)]
            r.infer_seconds += time.perf_counter() - started
        return _Classified(batch, r.predictions, r.infer_seconds, r.padded_tokens, shadow=r.shadow,
                           shadow_seconds=r.shadow_seconds, shadow_error=r.shadow_error, shadow_by=candidate)

    async def _switch(self, live: Classifier) -> int:
        """Make ``live`` the live classifier between batches: wait until no batch is being classified
        (every slot held), swap, let batching go on. Returns the last batch classified before it.
        Batches cut later are classified by ``live`` alone, so output records switch version once."""
        taken = 0
        try:
            async with asyncio.timeout(SWITCH_WAIT_SECONDS):
                for _ in range(self.plan.workers + 1 if self.plan is not None else 1):
                    await self._slots.acquire()
                    taken += 1
            self.classifier = live
            return self._batch_ids + self._classified.qsize()  # batches classified but not yet numbered are older
        except TimeoutError:
            raise LineupError("version", f"no batch boundary within {SWITCH_WAIT_SECONDS:.0f} s (is publishing held "
                              "up?); nothing switched, try again", 503) from None
        finally:
            for _ in range(taken):
                self._slots.release()

    async def _effects_loop(self) -> None:
        topic = self.settings.kafka.output_topic
        publishing: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(PUBLISHES_IN_FLIGHT)
        while (item := await self._classified.get()) is not _END:
            assert item is not None
            self._batch_ids += 1
            with structlog.contextvars.bound_contextvars(batch_id=self._batch_ids, route=item.batch.route):
                now = time.time()
                item.enriched = [Enriched(t.message, p, now) for t, p in zip(item.batch.items, item.predictions)]
                if item.shadow_error is not None:
                    self.shadow.failed(item.shadow_error)
                if item.shadow is not None:
                    self.shadow.observe(item.shadow_by, item.enriched, item.shadow, [t.features for t in item.batch.items],
                                        item.infer_seconds, item.shadow_seconds)
                await slots.acquire()
                task = asyncio.create_task(self._apply(item, topic), name="publish")
                publishing.add(task)
                task.add_done_callback(publishing.discard)
                task.add_done_callback(lambda _: slots.release())
                task.add_done_callback(self._stage_ended)
                if self.judgement is not None:
                    self.desk.observe(item.enriched, item.shadow)
                    await self.judgement.observe(item.enriched, [t.features for t in item.batch.items])
        await asyncio.gather(*publishing)

    async def _apply(self, item: _Classified, topic: str) -> None:
        """Publish a batch's enriched records, then mark its offsets done (several batches publish at once)."""
        enriched = item.enriched
        if self.staged is not None:
            for e, t in zip(enriched, item.batch.items):
                pos = e.message.position
                # staged only while in flight here: a copy fetched before a revocation is not sent twice
                if self.tracker.done(pos.topic, pos.partition, pos.offset):
                    self.staged.stage((pos.topic, pos.partition), pos.offset,
                                      Pending(enriched_record(topic, e, t.features), source=pos))
            self._count(enriched, item.batch.route, time.time())
            self.source.notify_progress()
            return
        stand_ins = await self.emitter.publish_or_stand_in(
            [enriched_record(topic, e) for e in enriched], [e.message.position for e in enriched],
            self.settings.kafka.dead_letter_topic, self._deadline())
        self.metrics.dead_letters.labels(DeadLetterReason.UNPUBLISHABLE.value).inc(stand_ins)
        self._count(enriched, item.batch.route, time.time())
        for e in enriched:
            pos = e.message.position
            self.tracker.done(pos.topic, pos.partition, pos.offset)
        self.source.notify_progress()
        log.debug("batch done", size=len(enriched))

    def _count(self, enriched: list[Enriched], route: str, acked: float) -> None:
        """A published batch's metrics: counters once per batch and label pair, latencies per message."""
        m = self.metrics
        m.messages_processed.labels(route).inc(len(enriched))
        for (topic, sentiment), n in Counter((e.topic_label, e.sentiment_label) for e in enriched).items():
            m.classified.labels(topic, sentiment).inc(n)
        event_latency, broker_latency = m.e2e_event_seconds.observe, m.e2e_broker_seconds.observe
        truncated = 0
        for e in enriched:
            message = e.message
            event_latency(max(0.0, acked - message.event_time))
            if message.broker_time is not None:
                broker_latency(max(0.0, acked - message.broker_time))
            truncated += message.truncated or e.prediction.truncated
        if truncated:
            m.messages_truncated.inc(truncated)

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
            # counted once, under the reason it was dead-lettered for, whether it went whole or as a stand-in
            if self.staged is None:
                await self.emitter.publish_or_stand_in(
                    [dead_letter_record(topic, d) for d in items], [d.raw.position for d in items], topic, self._deadline())
            for d in items:
                self.metrics.dead_letters.labels(d.reason.value).inc()
                pos = d.raw.position
                if self.tracker.done(pos.topic, pos.partition, pos.offset) and self.staged is not None:
                    self.staged.stage((pos.topic, pos.partition), pos.offset,
                                      Pending(dead_letter_record(topic, d), source=pos))
                log.warning("dead letter", reason=d.reason.value, detail=d.detail, partition=pos.partition, offset=pos.offset)
            self.source.notify_progress()

    def _deadline(self) -> float | None:
        """While running, publishing retries until the broker is back; while draining, within the grace period."""
        if not self.stopping.is_set():
            return None
        return time.monotonic() + self.settings.shutdown_grace_seconds / 2

    async def _commit_loop(self) -> None:
        every = self.settings.tiers.step_seconds if self.classify_only else self.settings.kafka.commit_interval_seconds
        while True:
            await asyncio.sleep(every)
            await self.source.commit()

    async def _commit_staged(self, offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """The classify tier's commit: each partition's staged records with its offset, in one transaction."""
        assert self.staged is not None
        return await self.staged.commit(offsets)

    async def _probe_loop(self) -> None:
        """Readiness: ask the cluster for metadata every few seconds."""
        while True:
            producer = self.emitter.producer
            ok = False
            if producer is not None:
                with suppress(Exception):
                    await asyncio.wait_for(producer.client.fetch_all_metadata(), 3.0)
                    ok = True
            self.broker_reachable = ok
            self.metrics.broker_up.set(1 if ok else 0)
            self._check_commits()
            self.metrics.ready.set(1 if all(self.readiness().values()) else 0)
            await asyncio.sleep(2.0)


    def _check_commits(self) -> None:
        """Readiness and the metric for partitions whose commits stopped while they had work."""
        seconds = self.stalls.observe(self.source.progress(), time.monotonic())
        for (topic, partition), s in seconds.items():
            self.metrics.commit_stalled.labels(topic, str(partition)).set(s)
        stalled = self.stalls.stalled(seconds)
        if stalled and {line.partition(":")[0] for line in stalled} != {line.partition(":")[0] for line in self.stalled}:
            # once each time the set of stalled partitions changes, not every check
            log.error("commits stalled", partitions=stalled)
        elif self.stalled and not stalled:
            log.info("commits advancing again")
        self.stalled = stalled


def _settle_heap() -> None:
    """Keep what start-up loaded (models, tokenisers, libraries: some 440,000 objects that live as long
    as the process) out of the garbage collector's scans, and collect young objects less often. With
    the defaults, full collections took about 2 % of a core under load and stopped every thread that
    needed the GIL meanwhile. Then hand back to the system the heap that loading freed (the models'
    float32 copies before the cast, tracing, warm-up): about 60 MB that glibc would otherwise keep."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    with suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL(None).malloc_trim(0)


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        with suppress(asyncio.CancelledError, Exception):
            await task

