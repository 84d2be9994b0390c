"""One transactional producer per owned partition: what a step produced and the offsets it
consumed are written together, or not at all.

The transactional id names the partition (``<prefix>-<role>-<topic>-<partition>``), not the
process: when a partition moves, its next owner starts a producer with the same id, which fences
the last owner (its late writes fail) and aborts a transaction it left open. That is Kafka's own
fencing and works whatever the pods are called; aiokafka has no per-group-generation fencing
(KIP-447), so one producer per partition is how it is had here.

A step that fails for a passing reason (broker away, coordinator moved) is aborted and its
records stay queued for the next step; a record the broker refuses for good (too large) is
replaced by its stand-in on the dead-letter topic, so one record cannot stop a partition.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import OffsetAndMetadata

from monitor.emit import is_permanent
from monitor.kafka_config import common_kwargs
from monitor.logs import get_logger
from monitor.records import SourcePosition
from monitor.settings import KafkaSettings
from monitor.standin import OutRecord, stand_in

log = get_logger(__name__)
MAX_REQUEST_BYTES = 4 * 1024 * 1024


class Fenced(Exception):
    """Another process owns this partition now: this one must stop writing for it."""


@dataclass(slots=True)
class Pending:
    """A record waiting for its step: where it goes, and where its input came from."""

    record: OutRecord
    partition: int | None = None  # explicit output partition (the changelog); None: by key
    source: SourcePosition | None = None  # for a stand-in, should the broker refuse it for good


@dataclass(slots=True)
class StepResult:
    written: int = 0
    stand_ins: int = 0
    errors: list[str] = field(default_factory=list)


def transactional_id(prefix: str, role: str, topic: str, partition: int) -> str:
    return f"{prefix}-{role}-{topic}-{partition}"


class PartitionWriter:
    """The transactional producer of one owned partition."""

    def __init__(self, settings: KafkaSettings, txn_id: str, timeout_ms: int, dead_letter_topic: str) -> None:
        self.settings = settings
        self.txn_id = txn_id
        self.timeout_ms = timeout_ms
        self.dead_letter_topic = dead_letter_topic
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Start the producer: the broker fences any earlier producer with this id and aborts its open transaction."""
        producer = AIOKafkaProducer(
            transactional_id=self.txn_id, transaction_timeout_ms=self.timeout_ms, acks="all",
            enable_idempotence=True, linger_ms=5, max_batch_size=self.settings.producer_batch_bytes,
            max_request_size=MAX_REQUEST_BYTES, **common_kwargs(self.settings),
        )
        await producer.start()
        self.producer = producer

    async def commit(self, records: list[Pending], offsets: dict[TopicPartition, int], group_id: str) -> StepResult:
        """Write ``records`` and commit ``offsets`` for ``group_id`` in one transaction.

        Returns what was written; raises ``Fenced`` when another process took the partition over,
        and ``KafkaError`` (after aborting) when the step must be retried. ``records`` is edited in
        place: records refused for good are swapped for their stand-ins, so the retry can succeed.
        """
        producer = self.producer
        assert producer is not None, "commit() before start()"
        result = StepResult()
        fenced: BaseException | None = None
        try:
            async with producer.transaction():
                futures = []
                for item in records:
                    topic, key, value, headers = item.record
                    try:
                        futures.append(await producer.send(topic, value=value, key=key, headers=headers,
                                                           partition=item.partition))
                    except Exception as exc:  # noqa: BLE001 - refused before sending (too large): a stand-in goes
                        futures.append(_failed(exc))
                results = await asyncio.gather(*futures, return_exceptions=True)
                refused = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
                if refused:
                    fenced = next((e for _, e in refused if _is_fenced(e)), None)
                    if fenced is not None:
                        raise _Retry(repr(fenced))  # aborting may fail too; reported as Fenced below
                    for i, error in refused:
                        if is_permanent(error) and records[i].source is not None:
                            records[i].record = stand_in(self.dead_letter_topic, records[i].record,
                                                         records[i].source, error)
                            records[i].partition = None
                            result.stand_ins += 1
                            log.error("record refused for good; its stand-in goes in the next step",
                                      error=repr(error)[:300], txn=self.txn_id)
                    raise _Retry(f"{len(refused)} records not written: {sorted({repr(r)[:200] for _, r in refused})[:3]}")
                if offsets:
                    await producer.send_offsets_to_transaction(
                        {tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()}, group_id)
        except (_Retry, KafkaError, AssertionError) as exc:
            # AssertionError: aiokafka will not begin a transaction once its producer hit a fatal error
            # (fenced while a step's sends were in flight): that producer is done, and our ownership too
            if fenced is not None or isinstance(exc, AssertionError) or _is_fenced(exc):
                raise Fenced(f"{self.txn_id}: {fenced or exc!r}") from None
            raise StepFailed(str(exc) if isinstance(exc, _Retry) else repr(exc)) from None
        result.written = len(records)
        return result

    async def stop(self) -> None:
        """Close the producer; idempotent. An open transaction is left for the next owner to abort."""
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError as exc:  # pragma: no cover - closing a producer whose broker left
                log.warning("producer stop failed", error=repr(exc), txn=self.txn_id)


class StepFailed(Exception):
    """A step was aborted for a passing reason; its records and offsets go in the next one."""


class _Retry(Exception):
    pass


def _is_fenced(error: BaseException) -> bool:
    """A send refused because a newer producer took this transactional id over."""
    return isinstance(error, ProducerFenced) or "fenced" in type(error).__name__.lower()


def _failed(exc: BaseException) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future
