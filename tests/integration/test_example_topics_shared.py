"""Topics defined by example through the API are stored in a compacted topic on the real broker: a
topic defined on one replica labels the messages of every replica, a removal reaches them all, and
a restarted daemon has the stored topics before it fetches its first message."""

from __future__ import annotations

import asyncio
import json

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.settings import definitions_topic
from tests.support.config import daemon_settings
from tests.support.http import api
from tests.support.example_texts import BANKING, BANKS, CLUBS, SPORT, texts
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce, wait_until

ADMIN = "admin-token-for-the-shared-topics-test"


async def test_a_topic_defined_on_one_replica_reaches_every_replica_and_outlives_a_restart(broker, tiny_models) -> None:
    topic = unique("shared-topics")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, feedback={"enabled": False},
                               http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN})
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic, partitions=2)
    banking, football = texts(BANKING, BANKS), texts(SPORT, CLUBS)
    a, b = Daemon(settings, Metrics()), Daemon(settings, Metrics())  # two replicas in one group
    runs = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        def has(daemon: Daemon, names: set[str]):  # type: ignore[no-untyped-def]
            async def check() -> bool:
                return daemon.consuming and daemon.desk.example_topics.names() == names
            return check

        await wait_until(has(a, set()))
        await wait_until(has(b, set()))
        assert a.http_port and b.http_port
        status, body = await api(a.http_port, "POST", "/api/topics",
                                 {"name": "banking", "examples": banking[:15], "counter_examples": football[:15]}, token=ADMIN)
        assert status == 201, body
        await wait_until(has(b, {"banking"}))  # read from the definitions topic: no call to b
        status, body = await api(b.http_port, "POST", "/api/topics", {"name": "football", "examples": football[:15]}, token=ADMIN)
        assert status == 201, body
        await wait_until(has(a, {"banking", "football"}))

        # every replica labels its partitions' messages with both topics (once the group has given each one)
        async def split() -> bool:
            return all(d.source.consumer is not None and d.source.consumer.assignment() for d in (a, b))

        await wait_until(split)
        traffic = [(f"b{i}", x) for i, x in enumerate(banking[15:])] + [(f"f{i}", x) for i, x in enumerate(football[15:])]
        await produce(broker.bootstrap, topic, [json.dumps({"id": i, "text": x}).encode() for i, x in traffic])
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= len(traffic))
        first = {r.json()["id"]: (r.json().get("example_topics") or [{"label": None}])[0]["label"] for r in out}
        assert {i for i, label in first.items() if label == "banking"} == {i for i, _ in traffic if i[0] == "b"}, first
        assert {i for i, label in first.items() if label == "football"} == {i for i, _ in traffic if i[0] == "f"}, first
        async def both_labelled() -> bool:  # counted just after publishing: a moment after the records are out
            return all(d.metrics.registry.get_sample_value("textmon_messages_processed_total", {"route": "default"})
                       for d in (a, b))

        await wait_until(both_labelled)

        status, body = await api(a.http_port, "DELETE", "/api/topics/football", token=ADMIN)
        assert status == 200, body
        await wait_until(has(b, {"banking"}))
    finally:
        for daemon in (a, b):
            daemon.request_stop()
        assert await asyncio.gather(*runs) == [0, 0]

    # a record that is no definition is skipped, not fatal; a restart has the stored topics before fetching
    await produce(broker.bootstrap, definitions_topic(settings), [b"not a definition"], keys=[b"junk"])
    c = Daemon(settings, Metrics())
    run = asyncio.create_task(c.run())
    try:
        async def consuming() -> bool:
            return c.consuming
        await wait_until(consuming)
        assert c.desk.example_topics.names() == {"banking"}
        assert c.desk.example_topics.fitted is not None and c.desk.example_topics.fitted.version == 1, "one fit at start-up"
    finally:
        c.request_stop()
        assert await run == 0
