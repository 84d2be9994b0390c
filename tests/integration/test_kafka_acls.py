"""Against a broker that enforces ACLs (StandardAuthorizer, nothing allowed without a grant): a client
that may not create topics is told what to create and which setting names it; once the topic is made
for it and it may describe, read and write it, corrections go through it as on an open broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from monitor.compacted import ensure_topic
from monitor.feedback.corrections import Correction, CorrectionBook
from monitor.feedback.log import SETTING, FeedbackLog, publish
from monitor.kafka_config import KafkaAccessError
from monitor.metrics import Metrics
from monitor.settings import KafkaSettings
from tests.support.certs import Certs, make_certs
from tests.support.kafka import SCRIPT, Broker, unique
from tests.support.streams import create_topics

ADMIN, ADMIN_PASSWORD = "textmon-admin", "scram-pass-of-the-admin"  # a super user; not used by the client under test
DESK, DESK_PASSWORD = "analyst-desk", "scram-pass-of-the-desk"  # no rights but those granted below


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Certs]]:
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    port = int(os.environ.get("TEST_KAFKA_PORT", "29092")) + 400
    b = Broker(port, tmp_path_factory.mktemp("kafka-acls"),
               {"KAFKA_SASL_SSL_DIR": str(certs.ca.parent), "KAFKA_SCRAM_USER": ADMIN, "KAFKA_SCRAM_PASSWORD": ADMIN_PASSWORD,
                "KAFKA_SCRAM_MORE_USERS": f"{DESK}={DESK_PASSWORD}", "KAFKA_AUTHORIZER": "1"})
    b.start()
    yield b, certs
    b.stop()


def desk(broker: Broker, certs: Certs) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=broker.bootstrap, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                         sasl_username=DESK, sasl_password=DESK_PASSWORD, ssl_cafile=str(certs.ca))


def grant(broker: Broker, topic: str, *operations: str) -> None:
    """Allow the desk user ``operations`` on ``topic`` (kafka-acls over the broker's own loopback listener)."""
    ops = [arg for op in operations for arg in ("--operation", op)]
    done = subprocess.run(["bash", str(SCRIPT), "acls", "--bootstrap-server", f"127.0.0.1:{broker.port + 2}", "--add",
                           "--allow-principal", f"User:{DESK}", *ops, "--topic", topic],
                          env=broker._env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


async def test_a_client_that_may_not_create_topics_is_told_what_to_create_and_where_it_is_set(
        guarded: tuple[Broker, Certs]) -> None:
    broker, certs = guarded
    topic = unique("feedback")
    with pytest.raises(KafkaAccessError) as refused:
        await ensure_topic(desk(broker, certs), topic, setting=SETTING)
    message = str(refused.value)
    assert topic in message and "cleanup.policy=compact" in message and "feedback.topic" in message


async def test_a_topic_made_beforehand_is_used_with_topic_rights_only(guarded: tuple[Broker, Certs]) -> None:
    broker, certs = guarded
    topic = unique("feedback")
    await create_topics(f"127.0.0.1:{broker.port + 2}", topic)
    grant(broker, topic, "Describe", "Read", "Write")
    kafka = desk(broker, certs)
    await ensure_topic(kafka, topic, setting=SETTING)
    correction = Correction("m1", {"sentiment": "negative"}, "ana", time.time(), "Lender defaults on bond")
    assert await publish(kafka, topic, [correction]) == 1
    book = CorrectionBook(100)
    async with FeedbackLog(kafka, topic, book, Metrics()) as log:
        await asyncio.wait_for(log.ready.wait(), 60)
    read = book.get("m1")
    assert read is not None and read.labels == {"sentiment": "negative"} and read.who == "ana"
