"""The latest corrections, read once: from the feedback topic to its end, or from a JSON-lines file.

For retraining and export, not for the daemon (``monitor.feedback.log`` follows the topic for ever).
Either source yields the same ``Snapshot``: the latest correction per message id, and what was left out
on the way. A file is written by people, so a bad line is an error naming it; a bad record on the topic
is skipped and counted, as the daemon skips it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from monitor.compacted import from_beginning, reached
from monitor.feedback.corrections import Correction, CorrectionBook, InvalidCorrection, decode_record, parse_correction
from monitor.kafka_config import common_kwargs
from monitor.settings import KafkaSettings

UNBOUNDED = 2**62  # a snapshot keeps every id; the topic is its only bound


class SnapshotError(Exception):
    """Corrections could not be read; the message names the file line or the topic and what to do."""


@dataclass(slots=True)
class Snapshot:
    """The latest correction per message id (oldest first), where they came from and what was left out."""

    source: str
    corrections: list[Correction]
    superseded: int = 0  # records replaced by a later one of the same id, or withdrawn
    invalid: list[str] = field(default_factory=list)  # "partition P offset O: why", topic only


def _snapshot(source: str, book: CorrectionBook, records: int, invalid: list[str]) -> Snapshot:
    latest = list(reversed(book.latest()))
    return Snapshot(source, latest, records - len(latest), invalid)


def read_file(path: Path) -> Snapshot:
    """Corrections from JSON lines (the feedback topic's JSON); a later line of the same id wins."""
    if not path.is_file():
        raise SnapshotError(f"corrections file {path} does not exist")
    book = CorrectionBook(UNBOUNDED)
    records = 0
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or "at" not in data:
                    raise InvalidCorrection("'at' (unix seconds) is missing" if isinstance(data, dict)
                                            else "a correction is a JSON object")
                correction = parse_correction(data, at=0.0, via=str(data.get("via") or "file"))
            except json.JSONDecodeError as exc:
                raise SnapshotError(f"{path} line {number}: not JSON ({exc.msg})") from None
            except InvalidCorrection as exc:
                raise SnapshotError(f"{path} line {number}: {exc}") from None
            records += 1
            book.apply(correction.message_id, number, correction)
    if not records:
        raise SnapshotError(f"{path} holds no corrections")
    return _snapshot(str(path), book, records, [])


async def read_topic(kafka: KafkaSettings, topic: str, timeout: float = 60.0) -> Snapshot:
    """Read the feedback topic from its beginning to the end it had when we started, without a group."""
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                **common_kwargs(kafka))
    try:
        await consumer.start()
        if topic not in await consumer.topics():  # asking for a missing topic's partitions would create it
            raise SnapshotError(f"feedback topic {topic!r} does not exist on {kafka.bootstrap_servers}")
        ends = await from_beginning(consumer, topic)
        book = CorrectionBook(UNBOUNDED)
        records, invalid = 0, []
        deadline = time.monotonic() + timeout
        while not await reached(consumer, ends):
            if time.monotonic() > deadline:
                raise SnapshotError(f"feedback topic {topic!r} was not read to its end within {timeout:.0f} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, batch in batches.items():
                for r in batch:
                    if r.offset >= ends[tp]:
                        continue  # written after we started: the next run takes it
                    at = r.timestamp / 1000.0 if r.timestamp else time.time()
                    try:
                        correction = decode_record(r.key, r.value, at=at)
                    except InvalidCorrection as exc:
                        invalid.append(f"partition {tp.partition} offset {r.offset}: {exc}")
                        continue
                    key = correction.message_id if correction else (r.key or b"").decode("utf-8", "replace")
                    records += correction is not None
                    book.apply(key, r.offset, correction)
        return _snapshot(f"kafka:{topic}", book, records, invalid)
    finally:
        await consumer.stop()


def read(source: str, kafka: KafkaSettings | None = None) -> Snapshot:
    """``kafka:TOPIC`` (needs ``kafka``) or a file path."""
    if source.startswith("kafka:"):
        topic = source.split(":", 1)[1]
        if not topic or kafka is None:
            raise SnapshotError(f"{source!r}: name the topic (kafka:TOPIC) and give the Kafka settings")
        try:
            return asyncio.run(read_topic(kafka, topic))
        except (KafkaError, OSError) as exc:
            raise SnapshotError(f"cannot read feedback topic {topic!r} from {kafka.bootstrap_servers}: {exc!r}; "
                                "is the broker up and the connection in the settings right?") from None
    return read_file(Path(source))
