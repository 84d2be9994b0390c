"""The webhook sink against a real HTTP receiver: signatures, retries, Retry-After, final errors."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from monitor.records import Alert, AlertState
from monitor.sinks import SinkConfigError
from plugins.textmon_webhook import WebhookDeliveryError, WebhookSink
from tests.support.receiver import Receiver

ALERT = Alert(
    rule="neg", key="business", state=AlertState.FIRING, severity="warning", fingerprint="abc", summary="s",
    observed=0.7, expected=0.5, score=0.2, window_seconds=300, starts_at=1.0,
)


async def deliver(receiver: Receiver, **options: object) -> None:
    sink = WebhookSink("hook", url=receiver.url, backoff_initial_seconds=0.01, **options)
    await sink.start()
    try:
        await sink.send([ALERT])
    finally:
        await sink.stop()


async def test_retries_server_errors_and_honours_retry_after_then_delivers() -> None:
    receiver = Receiver(responses=[(503, {}), (429, {"Retry-After": "0"}), (500, {})])
    await receiver.start()
    try:
        await deliver(receiver, secret="k")
    finally:
        await receiver.stop()
    assert len(receiver.received) == 4
    last = receiver.received[-1]
    assert last.json()["alerts"][0]["fingerprint"] == "abc"
    expected = hmac.new(b"k", last.headers["X-Textmon-Timestamp"].encode() + b"." + last.body, hashlib.sha256).hexdigest()
    assert last.headers["X-Textmon-Signature"] == "sha256=" + expected


async def test_client_error_is_final_and_reported() -> None:
    receiver = Receiver(responses=[(400, {})])
    await receiver.start()
    try:
        with pytest.raises(WebhookDeliveryError, match="400"):
            await deliver(receiver)
    finally:
        await receiver.stop()
    assert len(receiver.received) == 1


async def test_gives_up_after_max_attempts() -> None:
    receiver = Receiver(responses=[(502, {})] * 3)
    await receiver.start()
    try:
        with pytest.raises(WebhookDeliveryError, match="3 attempts"):
            await deliver(receiver, max_attempts=3)
    finally:
        await receiver.stop()


def test_bad_options_fail_at_load_naming_the_sink() -> None:
    with pytest.raises(SinkConfigError, match="sink 'hook'"):
        WebhookSink("hook", url="not a url")
    with pytest.raises(SinkConfigError, match="sink 'hook'"):
        WebhookSink("hook", url="http://x", retries=3)
