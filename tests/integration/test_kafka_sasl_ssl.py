"""End to end over SASL_SSL (SCRAM-SHA-512 over TLS with a private CA, certificates made here): the daemon
consumes, publishes and alerts through the Kafka sink; a wrong password stops start-up with a clear error,
in every role."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator

import pytest

from monitor.daemon import Daemon
from monitor.kafka_config import KafkaAccessError
from monitor.metrics import Metrics
from tests.support.certs import Certs, make_certs
from tests.support.config import daemon_settings
from tests.support.kafka import Broker, unique
from tests.support.streams import consume_until, create_topics, produce, wait_all_committed

USER, PASSWORD = "textmon", "scram-pass-of-the-test"


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Certs]]:
    """A broker whose client port speaks only SASL_SSL; the test itself sets up topics over loopback plain text."""
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    port = int(os.environ.get("TEST_KAFKA_PORT", "29092")) + 300
    b = Broker(port, tmp_path_factory.mktemp("kafka-secure"),
               {"KAFKA_SASL_SSL_DIR": str(certs.ca.parent), "KAFKA_SCRAM_USER": USER, "KAFKA_SCRAM_PASSWORD": PASSWORD})
    b.start()
    yield b, certs
    b.stop()


def security(certs: Certs, password: str = PASSWORD) -> dict[str, str]:
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
            "sasl_password": password, "ssl_cafile": str(certs.ca)}


async def test_consume_publish_and_alert_over_sasl_ssl(secure: tuple[Broker, Certs], tiny_models) -> None:
    broker, certs = secure
    plain = f"127.0.0.1:{broker.port + 2}"  # the broker's own listener, for setting up and reading back
    topic = unique("secure")
    alerts_topic = f"{topic}.alerts"
    settings = daemon_settings(
        broker.bootstrap, {"topic": tiny_models["topic_business"], "sentiment": tiny_models["sentiment_negative"]}, topic,
        kafka=security(certs),
        rules=[{"name": "neg", "threshold": 0.5, "min_volume": 10, "window_seconds": 600}],
        sinks=[{"name": "alerts", "type": "kafka",
                "options": {"bootstrap_servers": broker.bootstrap, "topic": alerts_topic, **security(certs)}}],
    )
    await create_topics(plain, topic, settings.kafka.output_topic, settings.kafka.dead_letter_topic, alerts_topic)
    values = [json.dumps({"id": f"s{i}", "text": f"shares fell at company {i}"}).encode() for i in range(30)]
    await produce(plain, topic, values + [b"{not json"])
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())
    try:
        out = await consume_until(plain, [settings.kafka.output_topic, settings.kafka.dead_letter_topic],
                                  lambda rs: len(rs) >= len(values) + 1)
        alerts = await consume_until(plain, [alerts_topic], lambda rs: len(rs) >= 1)
        await wait_all_committed(plain, settings.kafka.group_id, topic)
    finally:
        daemon.request_stop()
        assert await run == 0
    assert sorted(r.json()["id"] for r in out if r.topic == settings.kafka.output_topic) == sorted(f"s{i}" for i in range(30))
    assert [r.headers["textmon.reason"] for r in out if r.topic == settings.kafka.dead_letter_topic] == [b"invalid_json"]
    assert alerts[0].json()["rule"] == "neg" and alerts[0].json()["state"] == "firing"


@pytest.mark.parametrize("role", ["all", "judge", "deliver"])
async def test_a_wrong_password_stops_start_up_naming_the_setting(secure: tuple[Broker, Certs], tiny_models,
                                                                  role: str) -> None:
    from monitor.tiers.deliver import Delivery
    from monitor.tiers.judge import Judge

    broker, certs = secure
    settings = daemon_settings(broker.bootstrap, tiny_models, kafka=security(certs, "not-the-password"),
                               sinks=[{"name": "log", "type": "log"}], role=role)
    process = {"all": Daemon, "judge": Judge, "deliver": Delivery}[role](settings, Metrics())
    with pytest.raises(KafkaAccessError, match="kafka.sasl_password"):  # every tier, not a retry without end
        await process.run()
