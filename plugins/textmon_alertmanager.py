"""Prometheus Alertmanager sink: ``POST /api/v2/alerts`` with startsAt/endsAt.

Firing alerts are sent with ``endsAt`` a time-to-live ahead (refreshed by the engine's
reminders); a resolution sends ``endsAt`` = the resolve time, so Alertmanager resolves it.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from typing import Any, Sequence

from pydantic import Field, SecretStr

from monitor.records import Alert, AlertState
from plugins.textmon_http import HttpSink, RetryOptions, post_with_retries, secret_url


class AlertmanagerOptions(RetryOptions):
    """Options of the Alertmanager sink."""

    url: SecretStr  # may carry user-info or a token
    ttl_seconds: float = Field(7200.0, gt=0)
    generator_url: str | None = None
    username: str | None = None
    password: SecretStr | None = None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def to_alertmanager(alert: Alert, ttl_seconds: float, generator_url: str | None, now: float) -> dict[str, Any]:
    """One alert in Alertmanager's v2 API shape."""
    labels = {k: str(v) for k, v in alert.labels.items()}
    labels.setdefault("alertname", alert.rule)
    annotations = {k: str(v) for k, v in alert.annotations.items()}
    annotations.setdefault("summary", alert.summary)
    annotations["observed"] = f"{alert.observed:g}"
    annotations["expected"] = f"{alert.expected:g}"
    if alert.exemplars:
        annotations["exemplars"] = " | ".join(e.snippet for e in alert.exemplars[:3])
    if alert.model_versions:
        annotations["models"] = ", ".join(f"{k}={v}" for k, v in sorted(alert.model_versions.items()))
    ends = alert.ends_at if alert.state is AlertState.RESOLVED and alert.ends_at else now + ttl_seconds
    body: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": _iso(alert.starts_at), "endsAt": _iso(ends)}
    if generator_url:
        body["generatorURL"] = generator_url
    return body


class AlertmanagerSink(HttpSink[AlertmanagerOptions]):
    """Delivers alerts to an Alertmanager."""

    kind = "alertmanager"
    options_model = AlertmanagerOptions

    def validate(self) -> None:
        """The URL must be a URL (it is kept secret, so the model cannot type it)."""
        secret_url(self.options.url)

    async def send(self, alerts: Sequence[Alert]) -> None:
        """POST the batch; Alertmanager deduplicates by labels."""
        opts = self.options
        now = time.time()
        body = json.dumps([to_alertmanager(a, opts.ttl_seconds, opts.generator_url, now) for a in alerts]).encode()
        url = secret_url(opts.url).rstrip("/") + "/api/v2/alerts"

        def headers() -> dict[str, str]:
            out = {"Content-Type": "application/json"}
            if opts.username and opts.password:
                token = base64.b64encode(f"{opts.username}:{opts.password.get_secret_value()}".encode()).decode()
                out["Authorization"] = f"Basic {token}"
            return out

        await post_with_retries(self.session, self.name, url, body, headers, opts)
