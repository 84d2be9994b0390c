"""The broker away at start and mid-run: the daemon retries, reports not ready, and loses nothing."""

from __future__ import annotations

import asyncio
import json

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.config import daemon_settings
from tests.support.kafka import Broker, unique
from tests.support.streams import consume_until, create_topics, http_get, produce, wait_until


async def test_daemon_survives_broker_absent_at_start_and_restarted_mid_run(tiny_models, tmp_path):
    outage = Broker(port=29192, data=tmp_path / "kafka")
    topic = unique("outage")
    settings = daemon_settings(
        outage.bootstrap, tiny_models, topic,
        kafka={"connect_backoff_initial_seconds": 0.2, "connect_backoff_max_seconds": 1.0, "request_timeout_ms": 5000},
    )
    metrics = Metrics()
    daemon = Daemon(settings, metrics)
    run = asyncio.create_task(daemon.run())

    async def readyz() -> int:
        while daemon.http_port is None:
            await asyncio.sleep(0.05)
        status, _ = await http_get(f"http://127.0.0.1:{daemon.http_port}/readyz")
        return status

    try:
        assert await readyz() == 503, "no broker yet: not ready"
        assert not run.done(), "the daemon keeps retrying instead of exiting"
        outage.start()
        await create_topics(outage.bootstrap, topic)
        await produce(outage.bootstrap, topic, [json.dumps({"id": f"a{i}", "text": f"first wave {i}"}).encode() for i in range(50)])
        await wait_until(lambda: _is(readyz, 200), timeout=90)
        await consume_until(outage.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= 50)

        outage.stop()
        await wait_until(lambda: _is(readyz, 503), timeout=60)
        assert not run.done()
        outage.start(keep_data=True)
        await produce(outage.bootstrap, topic, [json.dumps({"id": f"b{i}", "text": f"second wave {i}"}).encode() for i in range(50)])
        records = await consume_until(
            outage.bootstrap, [settings.kafka.output_topic], lambda rs: {r.json()["id"] for r in rs} >= _ids(), timeout=120
        )
        await wait_until(lambda: _is(readyz, 200), timeout=60)
    finally:
        daemon.request_stop()
        await run
        outage.stop()
    assert {r.json()["id"] for r in records} == _ids()


def _ids() -> set[str]:
    return {f"a{i}" for i in range(50)} | {f"b{i}" for i in range(50)}


async def _is(probe, status: int) -> bool:  # type: ignore[no-untyped-def]
    return await probe() == status
