"""Slack incoming-webhook sink: one message per alert, formatted with blocks."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Sequence

import aiohttp
from pydantic import HttpUrl, SecretStr, ValidationError

from monitor.records import Alert, AlertState
from monitor.sinks import SinkConfigError
from plugins.textmon_http import RetryOptions, post_with_retries

ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


class SlackOptions(RetryOptions):
    """Options of the Slack sink; the webhook URL is a credential."""

    webhook_url: SecretStr
    channel: str | None = None

    def url(self) -> str:
        return str(HttpUrl(self.webhook_url.get_secret_value()))


def blocks(alert: Alert) -> list[dict[str, Any]]:
    """Slack blocks: headline, the numbers, what drove it, links."""
    resolved = alert.state is AlertState.RESOLVED
    icon = ":white_check_mark:" if resolved else ICONS.get(alert.severity, ":warning:")
    state = "RESOLVED" if resolved else ("still firing" if alert.reminder else "FIRING")
    since = datetime.fromtimestamp(alert.starts_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{state}: {alert.rule} — {alert.key}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {alert.summary}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Observed*\n{alert.observed:g}"},
            {"type": "mrkdwn", "text": f"*Expected*\n{alert.expected:g}"},
            {"type": "mrkdwn", "text": f"*Score*\n{alert.score:g}"},
            {"type": "mrkdwn", "text": f"*Since*\n{since}"},
        ]},
    ]
    if alert.terms:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Terms: " + ", ".join(alert.terms)}]})
    if alert.exemplars and not resolved:
        lines = "\n".join(f"• {e.snippet}" for e in alert.exemplars[:3])
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Examples*\n{lines}"}})
    links = [f"<{url}|{name}>" for name, url in alert.annotations.items() if url.startswith("http")]
    if links:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return out


class SlackSink:
    """Posts each alert to a Slack incoming webhook."""

    def __init__(self, name: str, **options: Any) -> None:
        try:
            self.options = SlackOptions(**options)
            self.options.url()
        except ValidationError as exc:
            raise SinkConfigError(f"sink '{name}' (slack): {exc}") from exc
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, alerts: Sequence[Alert]) -> None:
        """One Slack message per alert; raises on the first that cannot be delivered."""
        assert self._session is not None, "SlackSink.send() before start()"
        for alert in alerts:
            payload: dict[str, Any] = {"text": f"[{alert.state.value}] {alert.summary}", "blocks": blocks(alert)}
            if self.options.channel:
                payload["channel"] = self.options.channel
            body = json.dumps(payload, ensure_ascii=False).encode()
            await post_with_retries(self._session, self.name, self.options.url(), body,
                                    lambda: {"Content-Type": "application/json"}, self.options)
