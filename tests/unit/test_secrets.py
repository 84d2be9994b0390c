"""Credentials never reach a log line, an exception or ``monitor config``, whatever fails."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from pydantic import SecretStr

from monitor.logs import configure_logging, get_logger
from monitor.metrics import Metrics
from monitor.records import Alert, AlertState
from monitor.redact import redact_event, register, safe_url, scrub
from monitor.settings import load_settings, masked
from monitor.sinks import SinkDispatcher, load_sink
from tests.support.receiver import Receiver

ALERT = Alert("r", "k", AlertState.FIRING, "warning", "fp", "summary", 1.0, 0.5, 0.5, 60.0, 0.0)
SLACK_TOKEN = "T0001/B0002/slackSecretPath42"
HOOK_TOKEN = "hookQueryToken77"
AM_PASSWORD = "amBasicPass99"
SECRETS = (SLACK_TOKEN, HOOK_TOKEN, AM_PASSWORD, "slackSecretPath42")


def sink_settings(port: int, closed_port: int) -> list[dict[str, object]]:
    fast = {"max_attempts": 2, "backoff_initial_seconds": 0.01, "timeout_seconds": 5}
    return [
        # the receiver answers 404 on this path: a final refusal that quotes the URL back
        {"name": "slack", "type": "slack", "options": {"webhook_url": f"http://127.0.0.1:{port}/services/{SLACK_TOKEN}", **fast}},
        {"name": "hook", "type": "webhook", "options": {"url": f"http://127.0.0.1:{port}/hook?token={HOOK_TOKEN}", **fast}},
        {"name": "am", "type": "alertmanager", "options": {"url": f"http://admin:{AM_PASSWORD}@127.0.0.1:{closed_port}", **fast}},
    ]


def test_monitor_config_masks_credential_urls_but_not_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    s = load_settings(sinks=sink_settings(1, 2))
    text = json.dumps(masked(s)) + repr(s)
    for secret in SECRETS:
        assert secret not in text
    assert masked(s)["batch"]["max_tokens"] == 8192
    plain = load_settings(sinks=[{"name": "hook", "type": "webhook", "options": {"url": "http://x.example/hook"}}])
    assert masked(plain)["sinks"][0]["options"]["url"] == "http://x.example/hook"  # nothing secret in it


def test_the_processor_masks_secret_fields_urls_and_registered_values() -> None:
    register(["registeredValue123"])
    event = redact_event(None, "error", {
        "event": "failed", "password": "pw-plain", "cfg": {"api_key": "k-123"}, "token_count": 7,
        "error": "POST https://u:pw@h.example/x?access_token=abc&q=1 failed; registeredValue123 seen",
        "secret": SecretStr("s"), "exc": ValueError("registeredValue123"),
    })
    text = json.dumps(event)
    for leaked in ("pw-plain", "k-123", "u:pw", "abc", "registeredValue123"):
        assert leaked not in text
    assert event["token_count"] == 7 and "q=1" in event["error"]
    assert safe_url(f"https://hooks.slack.com/services/{SLACK_TOKEN}?x=1") == "https://hooks.slack.com/…"
    assert scrub("no secrets here") == "no secrets here"


async def test_a_failing_sink_run_logs_no_secret(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every log line of a run where every HTTP sink fails, in every way, is grepped for the secrets."""
    configure_logging("debug", "json")
    receiver = Receiver(responses=[(500, {})] * 10)
    await receiver.start()
    closed = Receiver()
    await closed.start()
    closed_port = closed.port
    await closed.stop()  # nothing listens there now: connection refused
    settings = load_settings(sinks=sink_settings(receiver.port, closed_port))
    from monitor.redact import register_settings

    register_settings(settings)
    metrics = Metrics()
    dispatcher = SinkDispatcher([load_sink(s) for s in settings.sinks], metrics, tmp_path, retry_seconds=3600)
    errors: list[str] = []
    try:
        await dispatcher.start()
        await dispatcher.dispatch([ALERT])
        await dispatcher.drain(60)
        for sink in dispatcher.sinks:  # the exceptions themselves, as a caller would see them
            try:
                await sink.send([ALERT])
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc) + str(exc))
                get_logger("test").error("delivery failed", exc_info=exc)
        # a careless plugin that logs its own URL: the processor, not the call site, masks it
        get_logger("plugin").warning("posting", target=f"http://127.0.0.1:{receiver.port}/services/{SLACK_TOKEN}")
    finally:
        await dispatcher.stop()
        await receiver.stop()
        structlog.reset_defaults()
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != "textmon-structlog"]
    for name in ("slack", "hook", "am"):
        assert metrics.registry.get_sample_value("textmon_sink_failures_total", {"sink": name}) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(errors) == 3 and any("sink delivery failed" in line for line in lines)
    for line in lines + errors:
        for secret in SECRETS:
            assert secret not in line, line


def test_library_logs_are_json_lines_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """aiokafka logs through the standard library: its lines come out as the daemon's JSON, masked too."""
    configure_logging("info", "json")
    register(["libraryLeak-5678"])
    try:
        logging.getLogger("aiokafka.conn").error("Unable to connect to %s with libraryLeak-5678", "broker:9092")
        logging.getLogger("aiokafka.conn").info("below WARNING: not shown")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != "textmon-structlog"]
    [line] = capsys.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["logger"] == "aiokafka.conn" and event["level"] == "error"
    assert event["event"] == "Unable to connect to broker:9092 with **********"
