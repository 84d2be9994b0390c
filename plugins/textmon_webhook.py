"""Generic JSON webhook sink: POSTs alerts, signed with HMAC-SHA256 when a secret is set.

Retries with exponential backoff and jitter on connection errors, timeouts, 429 and 5xx,
honouring ``Retry-After``. A 4xx other than 408/429 is final: retrying cannot fix it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from typing import Any, Sequence

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationError

from monitor.logs import get_logger
from monitor.records import Alert
from monitor.sinks import SinkConfigError

log = get_logger(__name__)
SIGNATURE_HEADER = "X-Textmon-Signature"
TIMESTAMP_HEADER = "X-Textmon-Timestamp"


class WebhookOptions(BaseModel):
    """Options of the webhook sink."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    secret: SecretStr | None = None
    timeout_seconds: float = Field(5.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    backoff_initial_seconds: float = Field(0.5, gt=0)
    backoff_max_seconds: float = Field(30.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookDeliveryError(Exception):
    """The receiver did not accept the alerts after every attempt."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``timestamp + "." + body``, so a replayed body with a new time fails."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSink:
    """POSTs ``{"alerts": [...]}`` to a URL."""

    def __init__(self, name: str, **options: Any) -> None:
        try:
            self.options = WebhookOptions(**options)
        except ValidationError as exc:
            raise SinkConfigError(f"sink '{name}' (webhook): {exc}") from exc
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.options.timeout_seconds))

    async def stop(self) -> None:
        """Close the HTTP session; idempotent."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver with retries; raise ``WebhookDeliveryError`` when every attempt failed."""
        assert self._session is not None, "WebhookSink.send() before start()"
        body = json.dumps({"alerts": [a.to_json() for a in alerts]}, ensure_ascii=False).encode()
        opts = self.options
        delay = opts.backoff_initial_seconds
        last = ""
        for attempt in range(1, opts.max_attempts + 1):
            headers = {"Content-Type": "application/json", **opts.headers}
            if opts.secret is not None:
                ts = str(int(time.time()))
                headers[TIMESTAMP_HEADER] = ts
                headers[SIGNATURE_HEADER] = sign(opts.secret.get_secret_value(), ts, body)
            retry_after: float | None = None
            try:
                async with self._session.post(str(opts.url), data=body, headers=headers) as resp:
                    if resp.status < 300:
                        return
                    last = f"HTTP {resp.status}"
                    if resp.status < 500 and resp.status not in (408, 429):
                        raise WebhookDeliveryError(f"{opts.url} rejected alerts: {last}")
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = repr(exc)
            if attempt < opts.max_attempts:
                wait = retry_after if retry_after is not None else delay * random.uniform(0.5, 1.5)
                log.warning("webhook retry", sink=self.name, attempt=attempt, error=last, wait_seconds=round(wait, 2))
                await asyncio.sleep(min(wait, opts.backoff_max_seconds))
                delay = min(delay * 2, opts.backoff_max_seconds)
        raise WebhookDeliveryError(f"{opts.url}: {opts.max_attempts} attempts failed, last: {last}")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
