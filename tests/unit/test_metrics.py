"""The metrics a fresh daemon exports before anything has happened."""

from __future__ import annotations

from prometheus_client import generate_latest

from monitor.metrics import Metrics
from monitor.records import DeadLetterReason


def test_every_dead_letter_reason_is_exported_at_zero_from_the_start() -> None:
    text = generate_latest(Metrics().registry).decode()
    for reason in DeadLetterReason:
        assert f'textmon_dead_letters_total{{reason="{reason.value}"}} 0.0' in text
