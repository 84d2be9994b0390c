"""Generic JSON webhook sink: POSTs ``{"alerts": [...]}``, signed with HMAC-SHA256 when a secret is set.

Receivers verify ``X-Textmon-Signature: sha256=HMAC(secret, timestamp + "." + body)`` and
reject stale ``X-Textmon-Timestamp`` values, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Sequence

import aiohttp
from pydantic import Field, HttpUrl, SecretStr, ValidationError

from monitor.records import Alert
from monitor.sinks import SinkConfigError
from plugins.textmon_http import DeliveryError, RetryOptions, post_with_retries

SIGNATURE_HEADER = "X-Textmon-Signature"
TIMESTAMP_HEADER = "X-Textmon-Timestamp"
WebhookDeliveryError = DeliveryError


class WebhookOptions(RetryOptions):
    """Options of the webhook sink."""

    url: HttpUrl
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSink:
    """POSTs alerts as JSON to a URL."""

    def __init__(self, name: str, **options: Any) -> None:
        try:
            self.options = WebhookOptions(**options)
        except ValidationError as exc:
            raise SinkConfigError(f"sink '{name}' (webhook): {exc}") from exc
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session."""
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Close the HTTP session; idempotent."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver with retries; raise ``DeliveryError`` when every attempt failed."""
        assert self._session is not None, "WebhookSink.send() before start()"
        body = json.dumps({"alerts": [a.to_json() for a in alerts]}, ensure_ascii=False).encode()
        opts = self.options

        def headers() -> dict[str, str]:
            out = {"Content-Type": "application/json", **opts.headers}
            if opts.secret is not None:
                ts = str(int(time.time()))
                out[TIMESTAMP_HEADER] = ts
                out[SIGNATURE_HEADER] = sign(opts.secret.get_secret_value(), ts, body)
            return out

        await post_with_retries(self._session, self.name, str(opts.url), body, headers, opts)
