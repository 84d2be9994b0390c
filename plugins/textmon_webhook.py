"""Generic JSON webhook sink: POSTs ``{"alerts": [...]}``, signed with HMAC-SHA256 when a secret is set.

Receivers verify ``X-Textmon-Signature: sha256=HMAC(secret, timestamp + "." + body)`` and
reject stale ``X-Textmon-Timestamp`` values, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Sequence

from pydantic import Field, SecretStr

from monitor.records import Alert
from plugins.textmon_http import DeliveryError, HttpSink, RetryOptions, post_with_retries, secret_url

SIGNATURE_HEADER = "X-Textmon-Signature"
TIMESTAMP_HEADER = "X-Textmon-Timestamp"
WebhookDeliveryError = DeliveryError


IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookOptions(RetryOptions):
    """Options of the webhook sink."""

    url: SecretStr  # a webhook URL often carries its token (``?token=``, a path segment)
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSink(HttpSink[WebhookOptions]):
    """POSTs alerts as JSON to a URL."""

    kind = "webhook"
    options_model = WebhookOptions

    def validate(self) -> None:
        """The URL must be a URL (it is kept secret, so the model cannot type it)."""
        secret_url(self.options.url)

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver with retries; raise ``DeliveryError`` when every attempt failed."""
        body = json.dumps({"alerts": [a.to_json() for a in alerts]}, ensure_ascii=False).encode()
        opts = self.options

        def headers() -> dict[str, str]:
            out = {"Content-Type": "application/json", **opts.headers}
            # one notification per request is the usual case; a batch is keyed by all of its keys
            out[IDEMPOTENCY_HEADER] = ",".join(a.idempotency_key for a in alerts)
            if opts.secret is not None:
                ts = str(int(time.time()))
                out[TIMESTAMP_HEADER] = ts
                out[SIGNATURE_HEADER] = sign(opts.secret.get_secret_value(), ts, body)
            return out

        await post_with_retries(self.session, self.name, secret_url(opts.url), body, headers, opts)
