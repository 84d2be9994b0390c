"""Translate the settings tree into aiokafka keyword arguments (security included)."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from monitor.settings import KafkaSettings


def common_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security options shared by consumer, producer and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "security_protocol": settings.security_protocol,
        "retry_backoff_ms": 200,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context()
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return kwargs
