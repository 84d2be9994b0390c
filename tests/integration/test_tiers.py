"""The two-tier layout tells the same story as one process, through crashes and a judge joining.

One stream (four event-time hours, every label surging for a quarter of an hour) runs through
(a) one all-in-one process and (b) three classify, two judge and one delivery process, with a
classify and a judge process SIGKILLed and restarted mid-stream and a third judge added: the
per-label bucket counts are identical, the same alerts fire and resolve, every notification
arrives, and a notification that arrives twice carries the same idempotency key.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.config import daemon_settings, two_labels
from tests.support.kafka import unique
from tests.support.process import DaemonProcess
from tests.support.receiver import Receiver
from tests.support.tiny_models import TOPICS, build_tiny_classifier
from tests.support.streams import committed_offsets, end_offsets, http_get, produce, read_committed, wait_until

WORDS = ("rates bonds oil gold tariffs merger lawsuit earnings outlook guidance layoffs strike recall probe upgrade "
         "downgrade dividend buyback default rally chip bank crypto property regulator fraud inflation jobs").split()
MINUTES = 240
SURGE = range(170, 185)


def _stream() -> list[bytes]:
    rng = random.Random(11)
    start = time.time() - (MINUTES + 60) * 60
    out = []
    for minute in range(MINUTES):
        for _ in range(rng.randint(8, 12) * (5 if minute in SURGE else 1)):
            t = start + minute * 60 + rng.random() * 60
            # two routes with pinned models: "en" is all business, "de" all tech, so two labels surge
            out.append((t, " ".join(rng.sample(WORDS, 8)), rng.choice(("en", "de"))))
    out.sort()
    return [json.dumps({"id": f"m{i}", "text": text, "timestamp": t, "lang": lang}).encode()
            for i, (t, text, lang) in enumerate(out)]


async def _create(bootstrap: str, topics: dict[str, tuple[int, dict[str, str]]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=n, replication_factor=1, topic_configs=config)
                                   for name, (n, config) in topics.items()])
    finally:
        await admin.close()


def _fired(receiver: Receiver) -> set[tuple[str, str]]:
    """(fingerprint, state) of every alert notified, inside incidents or alone."""
    out = set()
    for request in receiver.received:
        for note in request.json()["alerts"]:
            for part in note.get("parts") or [note]:
                out.add((part["fingerprint"], part["state"]))
    return out


def _settings(bootstrap: str, models: dict[str, Path], topic: str, receiver: Receiver, **extra: Any):  # type: ignore[no-untyped-def]
    routes = two_labels(models["topic_business"], models["topic_tech"], models["sentiment"])
    return daemon_settings(
        bootstrap, models, topic,
        trends={"bucket_seconds": 60, "warmup_buckets": 30, "allowed_lateness_seconds": 120,
                # a killed classify replica's partitions come back within this, on a busy machine too
                "idle_partition_seconds": 120},
        alerting={"group_wait_seconds": 0, "group_interval_seconds": 0},
        sinks=[{"name": "hook", "type": "webhook", "options": {"url": receiver.url}}],
        batch={"max_size": 32},
        # the shipped rules, but volume judged without a day of history (the stream is four hours long)
        rules=[{"name": "volume-surge", "detector": "volume_surge", "window_seconds": 180, "min_volume": 10,
                "params": {"z": 4, "needs_profile": False}},
               {"name": "negative-share-surge", "detector": "negative_share_shift", "window_seconds": 600,
                "min_volume": 20, "severity": "critical", "params": {"z": 4, "min_delta": 0.1}}],
        **extra,
    ).model_copy(update={"models": routes})


async def test_two_tiers_tell_the_same_story_as_one_process(broker, tiny_models, tmp_path):
    tiny_models = {**tiny_models, "topic_tech": build_tiny_classifier(tmp_path / "topic-tech", TOPICS, pinned="tech")}
    stream = _stream()
    n = len(stream)
    base = unique("tiers")
    bootstrap = broker.bootstrap
    await _create(bootstrap, {base: (3, {})})
    await produce(bootstrap, base, stream)

    # (a) one process
    one_receiver = Receiver()
    await one_receiver.start()
    one_settings = _settings(bootstrap, tiny_models, base, one_receiver,
                             kafka={"output_topic": f"{base}.one", "group_id": f"{base}-one"})
    (tmp_path / "one").mkdir()
    one = DaemonProcess(one_settings, tmp_path / "one")
    one.start()
    try:
        await one.wait_ready(180)
        await wait_until(lambda: _committed_to_end(bootstrap, f"{base}-one", base), 300)
        _, body = await http_get(f"http://127.0.0.1:{one.port}/api/status")
    finally:
        one.signal(signal.SIGTERM)
        assert (await one.stopped(60)) == 0
    one_counts = {(t["topic"], int(b["t"] // 60)): (b["count"], b["negative"], b["duplicates"])
                  for t in json.loads(body)["topics"] if t["topic"] != "__all__" for b in t["series"]}
    one_market = {int(b["t"] // 60): (b["count"], b["negative"], b["duplicates"])
                  for t in json.loads(body)["topics"] if t["topic"] == "__all__" for b in t["series"]}
    one_fired = _fired(one_receiver)
    surged = {fp for fp, state in one_fired if state == "firing"}
    per_label = defaultdict(int)
    for (label, _), (count, _, _) in one_counts.items():
        per_label[label] += count
    assert len(surged) >= 2, f"at least two labels' surges alert: {one_fired} {dict(per_label)}"

    # (b) two tiers
    receiver = Receiver()
    await receiver.start()
    tiers = {"changelog_topic": f"{base}.changelog", "aggregates_topic": f"{base}.aggregates",
             "alerts_topic": f"{base}.alerts", "step_seconds": 0.5}
    await _create(bootstrap, {f"{base}.enriched": (3, {}), f"{base}.changelog": (3, {"cleanup.policy": "compact"}),
                              f"{base}.aggregates": (1, {}), f"{base}.alerts": (1, {})})
    settings = _settings(bootstrap, tiny_models, base, receiver, tiers=tiers,
                         kafka={"output_topic": f"{base}.enriched", "group_id": f"{base}-two"})

    def process(role: str, name: str) -> DaemonProcess:
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        proc = DaemonProcess(settings.model_copy(update={"role": role}), workdir)
        proc.start()
        return proc

    procs = {"judge1": process("judge", "judge1"), "judge2": process("judge", "judge2"),
             "deliver": process("deliver", "deliver")}
    for name in ("classify1", "classify2", "classify3"):
        procs[name] = process("classify", name)
    try:
        for proc in procs.values():
            await proc.wait_ready(180)

        async def enriched_at_least(k: int) -> None:
            async def check() -> bool:
                ends = await end_offsets(bootstrap, f"{base}.enriched")
                return sum(ends.values()) >= k
            await wait_until(check, 240)

        await enriched_at_least(n // 4)
        procs["classify1"].kill()
        procs["classify1"] = process("classify", "classify1")
        await enriched_at_least(n // 2)
        procs["judge1"].kill()
        procs["judge1"] = process("judge", "judge1")
        procs["judge3"] = process("judge", "judge3")

        for name in ("classify1", "judge1", "judge3"):
            await procs[name].wait_ready(180)  # the restarted and added ones take part, and stop cleanly
        statuses: dict[str, Any] = {}

        async def settled() -> bool:
            """Every judge in the group, and each task (3 label partitions, the market) owned once."""
            for name in ("judge1", "judge2", "judge3"):
                _, body = await http_get(f"http://127.0.0.1:{procs[name].port}/api/status")
                statuses[name] = json.loads(body) if body else {"partitions": []}
            owned = [p["partition"] for st in statuses.values() for p in st["partitions"]]
            return sorted(owned) == [-1, 0, 1, 2] and all(st["partitions"] for st in statuses.values())

        await wait_until(settled, 180)  # judge3 has joined: no rebalance is left to come
        await wait_until(lambda: _committed_to_end(bootstrap, f"{base}-two", base), 300)
        await wait_until(lambda: _committed_to_end(bootstrap, f"{base}-two-judge", f"{base}.enriched"), 300)

        async def same_alerts() -> bool:
            return _fired(receiver) >= one_fired
        try:
            await wait_until(same_alerts, 120)
        except AssertionError:
            pass  # the comparison below says what differs
        await wait_until(settled, 60)
        judges = {name: st["partitions"] for name, st in statuses.items()}
        market = None
        for st in statuses.values():
            for t in st["topics"]:
                if t["topic"] == "__all__":
                    market = {int(b["t"] // 60): (b["count"], b["negative"], b["duplicates"]) for b in t["series"]}
    finally:
        for proc in procs.values():
            proc.signal(signal.SIGTERM)
        for name, proc in procs.items():
            if (await proc.stopped(60)) != 0:
                print(f"{name} log tail:", proc.log_path.read_text()[-3000:])
    assert all(proc.proc.returncode == 0 for proc in procs.values())

    two_counts = {}
    for record in await read_committed(bootstrap, f"{base}.aggregates"):
        closed = orjson.loads(record.value)
        for label, bucket in closed["buckets"].items():
            key = (label, closed["index"])
            assert key not in two_counts, f"bucket {key} closed twice"
            two_counts[key] = (bucket[0], bucket[2].get("negative", 0), bucket[1])
    last_closed: dict[str, int] = {}  # each label's owner closes up to its own watermark
    for label, index in two_counts:
        last_closed[label] = max(index, last_closed.get(label, index))
    expected = {k: v for k, v in one_counts.items() if k[1] <= last_closed.get(k[0], -1)}
    assert last_closed.keys() == {label for label, _ in one_counts}, f"every label's buckets close; judges: {judges}"
    assert sum(c for c, _, d in expected.values()) + sum(d for _, _, d in expected.values()) > 0.9 * n
    if two_counts != expected:  # say which tier lost or doubled them: the enriched topic, or the judges
        enriched: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for record in await read_committed(bootstrap, f"{base}.enriched"):
            body = orjson.loads(record.value)
            enriched[(record.key.decode(), int(body["event_time"] // 60))].append(
                (body["id"], body["input"]["partition"], body["input"]["offset"], record.partition, record.offset))
        differing = sorted(k for k in expected.keys() | two_counts.keys() if expected.get(k) != two_counts.get(k))
        detail = [(k, expected.get(k), two_counts.get(k), len(enriched[k]), len({e[0] for e in enriched[k]}),
                   sorted(enriched[k], key=lambda e: (e[1], e[2]))) for k in differing]
        raise AssertionError(f"per-label bucket counts differ (key, one process, two tiers, enriched records, "
                             f"distinct ids, enriched): {detail}; judges: {judges}")

    assert market, "one judge owns the market-wide series"
    closed_everywhere = min(last_closed.values())
    assert {i: v for i, v in market.items() if i <= closed_everywhere} == \
        {i: v for i, v in one_market.items() if i <= closed_everywhere}, "the market-wide series, summed from every label"

    assert _fired(receiver) == one_fired, "the same alerts fire and resolve"
    keys_by_content: dict[str, set[str]] = defaultdict(set)
    for request in receiver.received:
        for note in request.json()["alerts"]:
            content = json.dumps(sorted((p["fingerprint"], p["state"]) for p in note.get("parts") or [note]))
            keys_by_content[content + note["state"] + str(note["starts_at"])].add(request.headers["Idempotency-Key"])
    assert all(len(keys) == 1 for keys in keys_by_content.values()), "a repeat carries the same idempotency key"


async def _committed_to_end(bootstrap: str, group: str, topic: str) -> bool:
    ends = await end_offsets(bootstrap, topic)
    committed = await committed_offsets(bootstrap, group)
    return all(committed.get(k, -1) >= v for k, v in ends.items())
