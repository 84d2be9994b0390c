"""The delivery tier: alerts from the alerts topic reach a real HTTP receiver, keyed for deduplication."""

from __future__ import annotations

import asyncio

import orjson

from monitor.records import Alert, AlertState
from monitor.settings import Settings
from monitor.tiers.deliver import Delivery
from tests.support.kafka import unique
from tests.support.receiver import Receiver
from tests.support.streams import committed_offsets, create_topics, produce, wait_until


def _alert(key: str, state: AlertState, t: float) -> Alert:
    return Alert(rule="volume-surge", key=key, state=state, severity="warning", fingerprint=f"fp-{key}",
                 summary=f"{key} surges", observed=40, expected=10, score=6.0, window_seconds=180, starts_at=t,
                 ends_at=t + 600 if state is AlertState.RESOLVED else None,
                 labels={"alertname": "volume-surge", "topic": key, "severity": "warning"})


async def test_alerts_are_delivered_grouped_and_committed_only_after_delivery(broker):
    topic = unique("alerts")
    await create_topics(broker.bootstrap, topic, partitions=1)
    receiver = Receiver(responses=[(503, {})])  # the first attempt fails: delivery retries, the offset waits
    await receiver.start()
    settings = Settings(
        kafka={"bootstrap_servers": broker.bootstrap, "group_id": unique("g")},
        tiers={"alerts_topic": topic},
        alerting={"group_wait_seconds": 0, "group_interval_seconds": 0},
        sinks=[{"name": "hook", "type": "webhook", "options": {"url": receiver.url, "max_attempts": 1}}],
        http={"port": 0},
    )
    alerts = [_alert("tech", AlertState.FIRING, 1000.0), _alert("business", AlertState.FIRING, 1010.0),
              _alert("tech", AlertState.RESOLVED, 1000.0), _alert("business", AlertState.RESOLVED, 1010.0)]
    await produce(broker.bootstrap, topic, [orjson.dumps(a.to_json()) for a in alerts])
    delivery = Delivery(settings)
    runner = asyncio.create_task(delivery.run())
    try:
        await receiver.wait_for(lambda rs: any(r.json()["alerts"][0]["state"] == "resolved"
                                               and not r.json()["alerts"][0]["labels"].get("topics", "x") == ""
                                               for r in rs) and len(rs) >= 3, timeout=60)

        async def committed() -> bool:
            offsets = await committed_offsets(broker.bootstrap, f"{settings.kafka.group_id}-deliver-hook")
            return offsets.get((topic, 0)) == len(alerts)
        await wait_until(committed, 60)
    finally:
        delivery.request_stop()
        assert await runner == 0
        await receiver.stop()
    parts = {(p["fingerprint"], p["state"]) for r in receiver.received[1:] for n in r.json()["alerts"] for p in n.get("parts") or [n]}
    assert parts == {("fp-tech", "firing"), ("fp-business", "firing"), ("fp-tech", "resolved"), ("fp-business", "resolved")}
    for r in receiver.received:
        assert r.headers["Idempotency-Key"] == r.json()["alerts"][0]["idempotency_key"]
    assert receiver.received[0].body == receiver.received[1].body, "the refused notification is sent again, the same"
