"""The judge tier: per-label trends, baselines and alert lifecycles over the enriched topic.

    enriched (keyed by label) -> one JudgeTask per owned partition -> every step_seconds, per task,
    one transaction: changelog changes + closed buckets (aggregates) + alerts + consumed offset

On assignment a partition's producer starts first (fencing the last owner, aborting what it left
open), then its task is restored from changelog partition *n*; only then is the partition read.
On revocation each task commits a last step, then is dropped. A process that finds itself fenced
stops (exit 1): another owns its partitions, and the state it holds is stale.

Watermarks: the classify tier releases each input partition's records in offset order, so a task
sees, per input partition, the records of its labels in order. Its watermark is the minimum over
input partitions of the newest event time counted, each partition holding it for at most
``trends.idle_partition_seconds`` of wall time after its last record: a classify replica that
stalls holds the buckets open that long, after which its records count as late.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from monitor import __version__
from monitor.connect import start_with_backoff
from monitor.judgement import OPEN_BUCKET_EVERY_SECONDS
from monitor.kafka_config import common_kwargs
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.redact import register_settings
from monitor.server import HealthServer, without_text
from monitor.settings import Settings
from monitor.tiers.market import MarketTask, own_records
from monitor.tiers.task import JudgeTask
from monitor.tiers.writer import Fenced, PartitionWriter, Pending, StepFailed, transactional_id

log = get_logger(__name__)
MARKET = -1  # the task key of the market-wide owner (aggregates partition 0); enriched partitions are >= 0
MAX_RECORDS = 20_000  # per fetch


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.judge.release([self.judge.key_of(tp) for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.judge.take([self.judge.key_of(tp) for tp in assigned])


class Judge:
    """Runs the judge tier until ``request_stop``."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        register_settings(settings)
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.metrics.role.labels("judge").set(1)
        self.topic = settings.kafka.output_topic
        self.aggregates = settings.tiers.aggregates_topic
        self.enriched_partitions = 0
        self.group = f"{settings.kafka.group_id}-judge"
        self.tasks: dict[int, JudgeTask] = {}
        self.writers: dict[int, PartitionWriter] = {}
        self.unsent: dict[int, list[Pending]] = {}  # a failed step's records, sent first by the next
        self.consumer: AIOKafkaConsumer | None = None
        # the rebalance listener runs beside the loop: a step and a change of ownership never interleave
        self.owning = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.failed = False
        self.consuming = False
        self.sources: list[tuple[str, int]] = []
        token = settings.http.auth_token
        self.server = HealthServer(self.metrics, self.readiness, settings.http.host, settings.http.port, self.status,
                                   token.get_secret_value() if token is not None else None, lambda: [])
        self.http_port: int | None = None

    def key_of(self, tp: TopicPartition) -> int:
        """A task's key: its enriched partition, or MARKET for the aggregates topic's one partition."""
        return MARKET if tp.topic == self.aggregates else tp.partition

    def _tp(self, key: int) -> TopicPartition:
        return TopicPartition(self.aggregates, 0) if key == MARKET else TopicPartition(self.topic, key)

    def readiness(self) -> dict[str, bool]:
        return {"consuming": self.consuming, "models_loaded": True, "broker_reachable": self.consuming,
                "commits_advancing": not self.failed}

    def status(self) -> dict[str, Any]:
        """The status page's data, over the labels this judge owns."""
        topics, firing = [], []
        for task in self.tasks.values():
            store = task.store
            window = task.engine.rules[0].window_seconds if task.engine.rules else 300.0
            for key in store.keys():
                stats = store.window(key, window)
                topics.append({"topic": key, "partition": task.partition,
                               "window": {"seconds": window, "count": stats.count, "by_sentiment": stats.by_sentiment,
                                          "negative_share": round(stats.share("negative"), 4),
                                          "mean_sentiment": round(stats.mean_sentiment, 4)},
                               "series": store.series(key)})
            firing += [a.to_json() if self.settings.http.expose_text else without_text(a.to_json())
                       for a in task.engine.firing]
        partitions = [{"partition": p, "watermark": t.store.watermark, "last_closed": t.store.last_closed,
                       "sources": {f"{topic}-{part}": e for (topic, part), e in t.store.source_times().items()},
                       "records": t.records, "late": t.late}
                      for p, t in sorted(self.tasks.items())]
        return {"version": __version__, "role": "judge", "partitions": partitions, "topics": topics, "alerts": firing}

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stop requested; committing the last step")
            self.stopping.set()

    # -- ownership ----------------------------------------------------------------------------
    async def take(self, partitions: list[int]) -> None:
        """Fence the last owner of each partition, restore its task from the changelog."""
        async with self.owning:
            await self._take(partitions)

    async def _take(self, partitions: list[int]) -> None:
        s = self.settings
        partitions = sorted(partitions)  # the market owner first: its writer settles changelog partition 0
        prefix = s.tiers.transactional_id_prefix or s.kafka.group_id
        for p in partitions:
            if p in self.tasks:
                continue
            started = time.perf_counter()
            tp = self._tp(p)
            writer = PartitionWriter(s.kafka, transactional_id(prefix, "judge", tp.topic, tp.partition),
                                     s.tiers.transaction_timeout_ms, s.kafka.dead_letter_topic)
            await writer.start()  # aborts a transaction the last owner left open, so the changelog is settled
            records = await self._read_changelog(max(p, 0))
            task: JudgeTask
            if p == MARKET:
                task = MarketTask.restore_market(s, self.topic, records)
                task.expect_sources([(self.topic, n) for n in range(self.enriched_partitions)])
            else:
                records = own_records(records)
                task = JudgeTask.restore(p, s, records) if records else JudgeTask(p, s)
                task.expect_sources(self.sources)
            assert self.consumer is not None
            committed = await self.consumer.committed(tp)
            task.next_offset = committed or 0  # what the restored state has counted up to
            self.tasks[p], self.writers[p] = task, writer
            seconds = time.perf_counter() - started
            self.metrics.judge_restore_seconds.observe(seconds)
            log.info("partition taken", partition=p, restored_keys=len(records), labels=task.store.keys(),
                     watermark=task.store.watermark, seconds=round(seconds, 3))
        self.metrics.judge_tasks.set(len(self.tasks))

    async def release(self, partitions: list[int]) -> None:
        """Commit a last step for each partition, then drop its task."""
        async with self.owning:
            owned = [p for p in partitions if p in self.tasks]
            if not owned:
                return
            await self._step(owned)
            await self._drop(owned)
            log.info("partitions released", partitions=owned)

    async def _drop(self, partitions: list[int]) -> None:
        for p in partitions:
            self.tasks.pop(p, None)
            self.unsent.pop(p, None)
            writer = self.writers.pop(p, None)
            if writer is not None:
                await writer.stop()
        self.metrics.judge_tasks.set(len(self.tasks))

    async def _read_changelog(self, partition: int) -> dict[bytes, bytes]:
        """Changelog partition ``partition``, compacted in memory: the latest value per key.

        Read with ``read_committed`` up to the partition's high watermark, not its last stable offset:
        another producer's open transaction on the partition (the market-wide owner shares partition 0,
        a dead process's may linger until fenced) would otherwise end the read early, before records
        already committed behind it, and the state would be older than the offsets it resumes from."""
        tp = TopicPartition(self.settings.tiers.changelog_topic, partition)
        kwargs = common_kwargs(self.settings.kafka)
        probe = AIOKafkaConsumer(enable_auto_commit=False, isolation_level="read_uncommitted", **kwargs)
        reader = AIOKafkaConsumer(enable_auto_commit=False, isolation_level="read_committed",
                                  auto_offset_reset="earliest", **kwargs)
        await probe.start()
        await reader.start()
        try:
            end = (await probe.end_offsets([tp]))[tp]
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
            out: dict[bytes, bytes] = {}
            deadline = time.monotonic() + self.settings.tiers.transaction_timeout_ms / 1000 + 10.0
            while await reader.position(tp) < end:
                if time.monotonic() > deadline:
                    raise KafkaError(f"changelog partition {partition} not readable to offset {end} in time "
                                     f"(a transaction left open past tiers.transaction_timeout_ms?)")
                batches = await reader.getmany(tp, timeout_ms=500, max_records=50_000)
                for record in batches.get(tp, []):
                    if record.key is None:
                        continue
                    if record.value is None:
                        out.pop(record.key, None)
                    else:
                        out[record.key] = record.value
            return out
        finally:
            await reader.stop()
            await probe.stop()

    # -- the loop -----------------------------------------------------------------------------
    async def run(self) -> int:
        self.http_port = await self.server.start()
        try:
            if not await self._start():
                return 0
            await self._loop()
            await self.step(sorted(self.tasks))
            return 1 if self.failed else 0
        finally:
            consumer, self.consumer = self.consumer, None
            if consumer is not None:
                await consumer.stop()
            for writer in self.writers.values():
                await writer.stop()
            await self.server.stop()

    async def _start(self) -> bool:
        s = self.settings

        async def join() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                group_id=self.group, enable_auto_commit=False, auto_offset_reset="earliest",
                isolation_level="read_committed", max_poll_interval_ms=s.kafka.max_poll_interval_ms,
                # enriched records come in bulk from many classifiers: large fetches, one round trip for many
                max_partition_fetch_bytes=16 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
                fetch_min_bytes=s.kafka.fetch_min_bytes, fetch_max_wait_ms=s.kafka.fetch_max_wait_ms,
                session_timeout_ms=s.kafka.session_timeout_ms, heartbeat_interval_ms=max(1000, s.kafka.session_timeout_ms // 3),
                **common_kwargs(s.kafka))
            try:
                await consumer.start()
                # the input partitions a fresh task waits for (each holds the watermark until it reports)
                cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - aiokafka has no public call
                self.sources = [(t, p) for t in s.kafka.input_topics for p in sorted(cluster.partitions_for_topic(t) or ())]
                self.enriched_partitions = len(cluster.partitions_for_topic(self.topic) or ())
                if not self.sources or not self.enriched_partitions:
                    raise KafkaError(f"no partitions found for the input topics {list(s.kafka.input_topics)} "
                                     f"or for {self.topic}")
            except BaseException:
                await consumer.stop()
                raise
            consumer.subscribe([self.topic, self.aggregates], listener=_Rebalance(self))
            return consumer

        consumer = await start_with_backoff(join, s.kafka, "judge consumer", self.stopping)
        if consumer is None:
            return False
        self.consumer = consumer
        self.consuming = True
        log.info("judge started", topic=self.topic, group=self.group, input_partitions=len(self.sources))
        return True

    async def _loop(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        last_step = last_open = time.monotonic()
        while not self.stopping.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=MAX_RECORDS)
            touched = set()
            for tp, records in batches.items():
                key = self.key_of(tp)
                task = self.tasks.get(key)
                if not records:
                    continue
                if task is None:
                    # fetched while its partition changed hands (the rebalance listener runs beside this
                    # loop): read them again once a task owns the partition, never pass over them
                    with suppress(KafkaError, AssertionError, ValueError):
                        consumer.seek(tp, records[0].offset)
                    continue
                # records fetched before the partition last changed hands may come back: the restored
                # state holds them already
                values = [r.value for r in records if r.value is not None and r.offset >= task.next_offset]
                task.next_offset = max(task.next_offset, records[-1].offset + 1)
                if isinstance(task, MarketTask):
                    errors = task.add_closed(values)
                else:
                    errors = task.add(values)
                    self.metrics.judge_records.inc(len(records))
                touched.add(key)
                for error in errors[:3]:
                    log.warning("enriched record left out", partition=tp.partition, error=error)
            now = time.monotonic()
            evaluate_open = now - last_open >= OPEN_BUCKET_EVERY_SECONDS
            if evaluate_open:
                last_open = now
            for p, task in self.tasks.items():
                if p == MARKET:
                    if p in touched:
                        task.judge(False)  # closed buckets only: the market's open bucket is never known
                elif p in touched or evaluate_open:
                    task.judge(evaluate_open)
            if now - last_step >= self.settings.tiers.step_seconds:
                last_step = now
                await self.step(sorted(self.tasks))
                self._gauges()

    def _gauges(self) -> None:
        lags = [t.watermark_lag() for t in self.tasks.values() if t.store.watermark]
        self.metrics.judge_watermark_lag.set(max(lags, default=0.0))
        for task in self.tasks.values():  # per task: one that moved away takes none of the others' count with it
            if task.late > task.late_reported:
                self.metrics.late_records.inc(task.late - task.late_reported)
                task.late_reported = task.late


    async def step(self, partitions: list[int]) -> None:
        """For each partition: its changes, closed buckets and alerts, with its consumed offset, in one transaction."""
        async with self.owning:
            await self._step(partitions)

    async def _step(self, partitions: list[int]) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        t = self.settings.tiers
        await asyncio.gather(*(self._step_one(p, consumer, t.changelog_topic, t.aggregates_topic, t.alerts_topic)
                               for p in partitions if p in self.tasks))

    async def _step_one(self, p: int, consumer: AIOKafkaConsumer, changelog: str, aggregates: str, alerts: str) -> None:
        task = self.tasks[p]
        tp = self._tp(p)
        try:
            offset = await consumer.position(tp)
        except (KafkaError, AssertionError, KeyError):
            return  # not assigned any more: the rebalance listener releases it
        records = self.unsent.pop(p, [])
        changes = task.changelog()
        records += [Pending((changelog, k, v, []), partition=max(p, 0)) for k, v in changes]  # type: ignore[arg-type]
        records += [Pending((aggregates, str(p).encode(), orjson.dumps(c), [])) for c in task.closed if c]
        raised = task.alerts
        for alert in raised:
            records.append(Pending((alerts, alert.fingerprint.encode(), orjson.dumps(alert.to_json()),
                                    [("textmon.idempotency_key", alert.idempotency_key.encode())])))
        task.closed, task.alerts = [], []
        started = time.perf_counter()
        try:
            await self.writers[p].commit(records, {tp: offset}, self.group)
        except Fenced as exc:
            # the partition moved without a revocation reaching us (a session that expired): its new
            # owner carries on from the last committed step; what this process holds for it is stale
            log.warning("partition taken over by another judge; dropping its task", partition=p, error=str(exc)[:300])
            await self._drop([p])
            with suppress(KafkaError, AssertionError, ValueError):
                consumer.pause(tp)  # until the group takes it from us; its records are the new owner's
            return
        except StepFailed as exc:
            self.unsent[p] = _latest_per_changelog_key(records, changelog)  # bounded by the keys, however long it fails
            self.metrics.commits.labels("failed").inc()
            log.warning("step failed; retrying with the next one", partition=p, error=str(exc)[:300])
            return
        self.metrics.judge_step_seconds.observe(time.perf_counter() - started)
        self.metrics.judge_changelog_records.inc(len(changes))
        self.metrics.commits.labels("ok").inc()
        for alert in raised:
            self.metrics.alerts.labels(alert.rule, alert.state.value).inc()
            log.info("alert", rule=alert.rule, topic=alert.key, state=alert.state.value, summary=alert.summary,
                     reminder=alert.reminder, partition=p)


def _latest_per_changelog_key(records: list[Pending], changelog: str) -> list[Pending]:
    """A failed step's records for the next one: of changelog records only the latest per key (the
    topic is compacted, so the others would only be overwritten), everything else as it was."""
    latest: dict[bytes, int] = {}
    for i, item in enumerate(records):
        topic, key = item.record[0], item.record[1]
        if topic == changelog and key is not None:
            latest[key] = i
    return [item for i, item in enumerate(records)
            if item.record[0] != changelog or item.record[1] is None or latest[item.record[1]] == i]
