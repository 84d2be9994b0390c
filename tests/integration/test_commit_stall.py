"""Commits that stop while work is pending show in /readyz and the metrics, on a real broker.

The broker throttles the daemon's producer with a client quota (a few hundred bytes a second): its
enriched records are acknowledged seconds apart, so no offset can be committed meanwhile. Readiness
must say which partition has stalled and why, the gauge must show for how long, and the log must say
so once; when the quota goes, commits reach the end, readiness comes back and nothing is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.support.config import daemon_settings
from tests.support.kafka import SCRIPT, unique
from tests.support.process import DaemonProcess
from tests.support.streams import consume_until, create_topics, http_get, metric_value, produce, wait_all_committed, \
    wait_until

N = 200


def quota(bootstrap: str, client_id: str, *change: str) -> subprocess.CompletedProcess[str]:
    """Set or remove a client quota with Kafka's own kafka-configs tool."""
    return subprocess.run(["bash", str(SCRIPT), "configs", "--bootstrap-server", bootstrap, "--alter", *change,
                           "--entity-type", "clients", "--entity-name", client_id],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())


async def test_a_throttled_producer_stalls_commits_and_readiness_says_where(broker, tiny_models, tmp_path: Path) -> None:
    topic = unique("stall")
    client_id = unique("throttled")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, batch={"max_size": 8})
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"client_id": client_id, "commit_stall_seconds": 1.0})})
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    throttled = quota(broker.bootstrap, client_id, "--add-config", "producer_byte_rate=300")
    assert throttled.returncode == 0, throttled.stderr
    proc = DaemonProcess(settings, tmp_path)
    proc.start()
    readyz = f"http://127.0.0.1:{proc.port}/readyz"
    throttling = True
    try:
        await proc.wait_ready()
        await produce(broker.bootstrap, topic, [json.dumps({"id": f"m{i}", "text": f"bank {i} misses a bond payment "
                                                            + "and its shares fall " * 4}).encode() for i in range(N)])

        async def stalled() -> bool:
            status, body = await http_get(readyz)
            return status == 503 and any(f"{topic}[0]: no commit for" in why for why in json.loads(body).get("why", []))

        await wait_until(stalled, timeout=90)
        _, body = await http_get(readyz)
        assert json.loads(body)["checks"]["commits_advancing"] is False
        _, metrics = await http_get(f"http://127.0.0.1:{proc.port}/metrics")
        assert metric_value(metrics, "textmon_commit_stalled_seconds", topic=topic, partition="0") >= 1.0
        assert metric_value(metrics, "textmon_ready") == 0

        lifted = quota(broker.bootstrap, client_id, "--delete-config", "producer_byte_rate")
        assert lifted.returncode == 0, lifted.stderr
        throttling = False
        await wait_all_committed(broker.bootstrap, settings.kafka.group_id, topic)

        async def ready_again() -> bool:
            return (await http_get(readyz))[0] == 200

        await wait_until(ready_again, timeout=30)
        records = await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= N)
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.signal(signal.SIGTERM)
            assert await proc.stopped(60) == 0
        proc.kill()
        if throttling:  # the test failed while the quota was on: leave the broker as other tests expect it
            quota(broker.bootstrap, client_id, "--delete-config", "producer_byte_rate")

    assert {r.json()["id"] for r in records} == {f"m{i}" for i in range(N)}, "nothing lost while throttled"
    logged = [json.loads(line)["event"] for line in proc.log_path.read_text().splitlines()
              if '"commits stalled"' in line or '"commits advancing again"' in line]
    assert logged[0] == "commits stalled" and logged[-1] == "commits advancing again"
