"""Translate the settings tree into aiokafka keyword arguments (security included)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka import errors
from aiokafka.conn import create_conn
from aiokafka.helpers import create_ssl_context

from monitor.settings import KafkaSecurity, KafkaSettings


class KafkaAccessError(Exception):
    """The broker refused who we are (credentials, certificate): retrying cannot help, so start-up stops."""


_REFUSED = (errors.SaslAuthenticationFailed, errors.AuthenticationFailedError, errors.AuthenticationMethodNotSupported,
            errors.UnsupportedSaslMechanismError, errors.IllegalSaslStateError)


async def check_access(settings: KafkaSettings) -> None:
    """After a client failed to start: raise ``KafkaAccessError`` if a broker refused our identity
    (credentials, mechanism, an untrusted certificate) rather than being away. aiokafka reports any
    failed bootstrap as one connection error and only logs its cause, so one connection is tried here."""
    kwargs = security_kwargs(settings)
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await create_conn(host, int(port), client_id=settings.client_id,
                                     request_timeout_ms=settings.request_timeout_ms, **kwargs)
        except _REFUSED as exc:
            raise KafkaAccessError(f"the broker refused the SASL login (kafka.sasl_mechanism, kafka.sasl_username, "
                                   f"kafka.sasl_password): {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise KafkaAccessError(f"the broker's certificate is not trusted (kafka.ssl_cafile, "
                                   f"kafka.ssl_check_hostname): {exc.verify_message}") from None
        except (OSError, asyncio.TimeoutError, errors.KafkaError, ValueError):
            continue  # away, or not a host:port: the caller retries and says so
        conn.close()


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
