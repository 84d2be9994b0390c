"""Translate the settings tree into aiokafka keyword arguments (security included)."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from monitor.settings import KafkaSecurity, KafkaSettings


def security_kwargs(security: KafkaSecurity) -> dict[str, Any]:
    """TLS and SASL options for any aiokafka client (the daemon's and the Kafka sink's)."""
    kwargs: dict[str, Any] = {"security_protocol": security.security_protocol}
    if security.security_protocol in ("SSL", "SASL_SSL"):
        context = create_ssl_context(
            cafile=str(security.ssl_cafile) if security.ssl_cafile else None,
            certfile=str(security.ssl_certfile) if security.ssl_certfile else None,
            keyfile=str(security.ssl_keyfile) if security.ssl_keyfile else None,
            password=security.ssl_password.get_secret_value() if security.ssl_password else None,
        )
        context.check_hostname = security.ssl_check_hostname
        kwargs["ssl_context"] = context
    if security.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        kwargs["sasl_plain_username"] = security.sasl_username
        kwargs["sasl_plain_password"] = security.sasl_password.get_secret_value() if security.sasl_password else None
    return kwargs


def common_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security options shared by consumer, producer and admin clients."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "retry_backoff_ms": 200,
        **security_kwargs(settings),
    }
