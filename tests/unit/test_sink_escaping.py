"""Hostile message text through every sink that renders text: shown as typed, never as markup."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace

import pytest
import structlog

from monitor.logs import configure_logging
from monitor.records import Alert, AlertState, Exemplar
from plugins.textmon_alertmanager import AlertmanagerSink
from plugins.textmon_log import LogSink
from plugins.textmon_slack import SlackSink, blocks
from plugins.textmon_webhook import WebhookSink
from tests.support.receiver import Receiver

HOSTILE = (
    "<!channel> markets crash",
    "<https://evil.example|Reset your password>",
    "<@U123> & <#C456> *bold* _it_ `code`",
    '"}]} {"injected": true, "\\u0000 \x00 \u202e',
    "</script><script>alert(1)</script>",
)
ALERT = Alert(
    "neg", "markets <!here>", AlertState.FIRING, "warning", "fp", HOSTILE[0] + " " + HOSTILE[1], 1.0, 0.5, 0.5, 60.0, 0.0,
    labels={"topic": HOSTILE[2]}, annotations={"runbook_url": "https://ok.example/a|<!channel>", "note": HOSTILE[3]},
    exemplars=tuple(Exemplar(f"m{i}", text, 0.9) for i, text in enumerate(HOSTILE)), terms=("<!everyone>", "a&b"),
)


def mrkdwn_texts(value: object) -> list[str]:
    """Every mrkdwn text in a Slack payload."""
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" else []
        return own + [t for v in value.values() for t in mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_texts(v)]
    return []


def test_slack_blocks_escape_every_control_sequence() -> None:
    texts = mrkdwn_texts(blocks(ALERT))
    assert texts
    for text in texts:
        # the only angle brackets left are the links Slack should render: our own annotation links
        for control in re.findall(r"<[^>]*>", text):
            assert control.startswith("<https://ok.example/a%7C%3C!channel%3E|"), control
        assert "<!channel>" not in text and "<!here>" not in text and "<!everyone>" not in text
    joined = "\n".join(texts)
    assert "&lt;!channel&gt; markets crash" in joined
    assert "&lt;https://evil.example|Reset your password&gt;" in joined
    assert "a&amp;b" in joined


async def test_an_incident_lists_its_parts_in_slack_escaped_too() -> None:
    other = replace(ALERT, rule="volume-surge", key="sport", summary=HOSTILE[2])
    incident = replace(ALERT, parts=(ALERT, other), labels={**ALERT.labels, "topics": "markets <!here>,sport"})
    payload = blocks(incident)
    [parts] = [t for t in mrkdwn_texts(payload) if t.startswith("*Parts*")]
    assert parts.count("\n• ") == 2 and "volume-surge on sport: &lt;@U123&gt; &amp; &lt;#C456&gt;" in parts
    assert "<!" not in parts
    assert payload[0]["text"]["text"].endswith("markets <!here>,sport"), "the header is plain text, shown as typed"


async def test_every_http_sink_delivers_hostile_text_as_data() -> None:
    receiver = Receiver()
    await receiver.start()
    fast = {"max_attempts": 1, "timeout_seconds": 5}
    base = f"http://127.0.0.1:{receiver.port}"
    sinks = [
        WebhookSink("hook", url=receiver.url, **fast),
        SlackSink("slack", webhook_url=receiver.url, **fast),
        AlertmanagerSink("am", url=base, **fast),
    ]
    try:
        for sink in sinks:
            await sink.start()
            if isinstance(sink, AlertmanagerSink):
                continue  # posts to /api/v2/alerts; its body is checked below without a receiver route
            await sink.send([ALERT])
    finally:
        for sink in sinks:
            await sink.stop()
        await receiver.stop()
    hook, slack = (r.json() for r in receiver.received)
    sent = hook["alerts"][0]
    assert sent["summary"] == ALERT.summary and [e["snippet"] for e in sent["exemplars"]] == list(HOSTILE)
    assert sent["annotations"]["note"] == HOSTILE[3], "JSON carries the text exactly; receivers see data"
    assert "<!channel>" not in slack["text"] and all("<!channel>" not in t for t in mrkdwn_texts(slack["blocks"]))
    from plugins.textmon_alertmanager import to_alertmanager

    body = json.loads(json.dumps([to_alertmanager(ALERT, 60, None, 0.0)]))
    assert body[0]["annotations"]["summary"] == ALERT.summary
    assert body[0]["annotations"]["exemplars"] == " | ".join(HOSTILE[:3])


async def test_the_log_sink_writes_hostile_text_as_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        await LogSink("log").send([ALERT])
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != "textmon-structlog"]
    [line] = capsys.readouterr().out.splitlines()  # a newline or quote in the text cannot forge a second line
    assert json.loads(line)["summary"] == ALERT.summary
