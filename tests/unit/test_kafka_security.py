"""Kafka TLS and SASL settings: checked at start-up, naming the field, and the same for every client."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.kafka_config import common_kwargs, security_kwargs
from monitor.settings import KafkaSettings, SinkSettings
from monitor.sinks import SinkConfigError, load_sink
from plugins.textmon_kafka import KafkaSink
from tests.support.certs import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def test_a_private_ca_and_a_client_certificate_make_the_ssl_context(certs: Certs) -> None:
    s = KafkaSettings(security_protocol="SSL", ssl_cafile=certs.ca, ssl_certfile=certs.client_cert,
                      ssl_keyfile=certs.client_key, ssl_password=certs.key_password)
    context = common_kwargs(s)["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "textmon-test-ca"),),)]
    assert "client-key-pass" not in repr(s)


def test_a_wrong_key_password_fails_at_start_up(certs: Certs) -> None:
    with pytest.raises(ValidationError, match="ssl_password do not load together"):
        KafkaSettings(security_protocol="SSL", ssl_certfile=certs.client_cert, ssl_keyfile=certs.client_key,
                      ssl_password="wrong")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SSL", "ssl_cafile": "/nowhere/ca.pem"}, "ssl_cafile"),
        ({"security_protocol": "SSL", "ssl_certfile": "CERT"}, "both ssl_certfile and ssl_keyfile"),
        ({"ssl_cafile": "CA"}, "need security_protocol SSL or SASL_SSL"),
        ({"security_protocol": "SASL_SSL"}, "SASL needs sasl_mechanism"),
    ],
)
def test_incomplete_security_fails_naming_the_field(certs: Certs, fields: dict[str, str], message: str) -> None:
    real = {"CA": str(certs.ca), "CERT": str(certs.client_cert)}
    with pytest.raises(ValidationError, match=message):
        KafkaSettings(**{k: real.get(v, v) for k, v in fields.items()})


def test_the_kafka_sink_takes_the_same_security_options(certs: Certs) -> None:
    sink = load_sink(SinkSettings(name="alerts", type="kafka", options={
        "bootstrap_servers": "127.0.0.1:9093", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "textmon", "sasl_password": "scram-secret", "ssl_cafile": str(certs.ca)}))
    assert isinstance(sink, KafkaSink)
    kwargs = security_kwargs(sink.options)
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert "scram-secret" not in repr(sink.options)
    with pytest.raises(SinkConfigError, match="ssl_keyfile"):
        load_sink(SinkSettings(name="bad", type="kafka", options={
            "bootstrap_servers": "x:1", "security_protocol": "SSL", "ssl_keyfile": str(Path("/nowhere"))}))
