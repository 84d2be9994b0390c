"""Slack incoming-webhook sink: one message per alert, formatted with blocks.

Every text that comes from messages or settings is escaped for mrkdwn (``& < >``, as Slack
asks), so a headline holding ``<!channel>`` or ``<https://evil.example|Reset>`` shows as typed
instead of pinging the channel or disguising a link.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Sequence

from pydantic import SecretStr

from monitor.records import Alert, AlertState
from plugins.textmon_http import HttpSink, RetryOptions, post_with_retries, secret_url

ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


class SlackOptions(RetryOptions):
    """Options of the Slack sink; the webhook URL is a credential."""

    webhook_url: SecretStr
    channel: str | None = None

    def url(self) -> str:
        """The webhook URL: its path is the credential."""
        return secret_url(self.webhook_url)


def escape(text: str) -> str:
    """Text safe inside Slack mrkdwn: ``&``, ``<`` and ``>`` as entities (the only three Slack parses)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, name: str) -> str:
    """A mrkdwn link whose URL cannot close the link early and whose name cannot add markup."""
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    return f"<{escape(safe)}|{escape(name)}>"


def blocks(alert: Alert) -> list[dict[str, Any]]:
    """Slack blocks: headline, the numbers, what drove it, links."""
    resolved = alert.state is AlertState.RESOLVED
    icon = ":white_check_mark:" if resolved else ICONS.get(alert.severity, ":warning:")
    state = "RESOLVED" if resolved else ("still firing" if alert.reminder else "FIRING")
    since = datetime.fromtimestamp(alert.starts_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": f"{state}: {alert.rule} — {alert.labels.get('topics', alert.key)}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {escape(alert.summary)}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Observed*\n{alert.observed:g}"},
            {"type": "mrkdwn", "text": f"*Expected*\n{alert.expected:g}"},
            {"type": "mrkdwn", "text": f"*Score*\n{alert.score:g}"},
            {"type": "mrkdwn", "text": f"*Since*\n{since}"},
        ]},
    ]
    if len(alert.parts) > 1:  # an incident: every alert in it, one line each
        lines = "\n".join(f"• {escape(p.rule)} on {escape(p.key)}: {escape(p.summary)}" for p in alert.parts[:10])
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Parts*\n{lines}"}})
    if alert.terms:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Terms: " + escape(", ".join(alert.terms))}]})
    if alert.exemplars and not resolved:
        lines = "\n".join(f"• {escape(e.snippet)}" for e in alert.exemplars[:3])
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Examples*\n{lines}"}})
    links = [link(url, name) for name, url in alert.annotations.items() if url.startswith(("http://", "https://"))]
    if links:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return out


class SlackSink(HttpSink[SlackOptions]):
    """Posts each alert to a Slack incoming webhook."""

    kind = "slack"
    options_model = SlackOptions

    def validate(self) -> None:
        """The webhook URL must be a URL (it is kept secret, so the model cannot type it)."""
        self.options.url()

    async def send(self, alerts: Sequence[Alert]) -> None:
        """One Slack message per alert; raises on the first that cannot be delivered."""
        for alert in alerts:
            payload: dict[str, Any] = {"text": escape(f"[{alert.state.value}] {alert.summary}"), "blocks": blocks(alert)}
            if self.options.channel:
                payload["channel"] = self.options.channel
            body = json.dumps(payload, ensure_ascii=False).encode()
            await post_with_retries(self.session, self.name, self.options.url(), body,
                                    lambda: {"Content-Type": "application/json"}, self.options)
