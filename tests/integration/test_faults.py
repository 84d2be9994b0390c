"""Crash and shutdown: SIGKILL loses nothing (duplicates allowed), SIGTERM drains and commits exactly."""

from __future__ import annotations

import json
import signal
from collections import Counter

from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.process import DaemonProcess, kill_mid_stream
from tests.support.streams import committed_offsets, consume_until, create_topics, produce

N = 3000


def _messages(n: int) -> list[bytes]:
    return [json.dumps({"id": f"k{i}", "text": f"headline number {i} on rates and stocks"}).encode() for i in range(n)]


def _enriched_ids(records) -> Counter[str]:  # type: ignore[no-untyped-def]
    return Counter(r.json()["id"] for r in records)


async def test_sigkill_mid_stream_then_restart_loses_nothing(broker, tiny_models, tmp_path):
    topic = unique("kill")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, batch={"max_size": 16, "max_in_flight": 64})
    await create_topics(broker.bootstrap, topic)
    await produce(broker.bootstrap, topic, _messages(N))
    out_topic = settings.kafka.output_topic

    await kill_mid_stream(settings, tmp_path, broker.bootstrap, N // 5)
    partial = await consume_until(broker.bootstrap, [out_topic], lambda rs: True, timeout=10)
    assert len(set(_enriched_ids(partial))) < N, "the kill must land mid-stream"

    second = DaemonProcess(settings, tmp_path)
    second.start()
    try:
        records = await consume_until(broker.bootstrap, [out_topic], lambda rs: len(set(_enriched_ids(rs))) >= N)
    finally:
        second.signal(signal.SIGTERM)
        assert (await second.stopped(60)) == 0
    ids = _enriched_ids(records)
    assert set(ids) == {f"k{i}" for i in range(N)}
    duplicates = sum(c - 1 for c in ids.values())
    print(f"after SIGKILL: {N} messages, {len(records)} enriched records, {duplicates} duplicates")


async def test_sigterm_drains_and_commits_exactly_what_was_processed(broker, tiny_models, tmp_path):
    topic = unique("term")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, batch={"max_size": 16, "max_in_flight": 64})
    await create_topics(broker.bootstrap, topic)
    await produce(broker.bootstrap, topic, _messages(N))
    out_topic = settings.kafka.output_topic

    proc = DaemonProcess(settings, tmp_path)
    proc.start()
    try:
        await consume_until(broker.bootstrap, [out_topic], lambda rs: len(rs) >= N // 5)
        proc.signal(signal.SIGTERM)
        assert (await proc.stopped(60)) == 0
    finally:
        proc.kill()
    records = await consume_until(broker.bootstrap, [out_topic], lambda rs: True, timeout=10)
    processed: dict[int, set[int]] = {}
    for r in records:
        src = r.json()["input"]
        processed.setdefault(src["partition"], set()).add(src["offset"])
    committed = await committed_offsets(broker.bootstrap, settings.kafka.group_id)
    assert sum(len(v) for v in processed.values()) < N, "SIGTERM must land mid-stream"
    for partition, offsets in processed.items():
        # everything processed is committed, and nothing beyond it
        assert offsets == set(range(len(offsets))), "each partition is processed in a contiguous prefix"
        assert committed[(topic, partition)] == len(offsets)
