"""The log sink: every alert as one structured log line."""

from __future__ import annotations

from typing import Sequence

from monitor.logs import get_logger
from monitor.records import Alert
from monitor.sinks import BaseSink

log = get_logger("textmon.alerts")


class LogSink(BaseSink):
    """Writes alerts to the daemon's log (JSON in containers)."""

    async def send(self, alerts: Sequence[Alert]) -> None:
        """One log event per alert, with its explanation."""
        for alert in alerts:
            log.warning(
                "alert",
                sink=self.name,
                rule=alert.rule,
                topic=alert.key,
                state=alert.state.value,
                severity=alert.severity,
                fingerprint=alert.fingerprint,
                summary=alert.summary,
                observed=alert.observed,
                expected=alert.expected,
                exemplars=[e.id for e in alert.exemplars],
                terms=list(alert.terms),
                parts=[f"{p.rule} on {p.key}: {p.summary}" for p in alert.parts],
            )
