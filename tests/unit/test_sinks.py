"""Sink discovery: entry points, module:Class paths, and errors that name the sink."""

from __future__ import annotations

import pytest

from monitor.metrics import Metrics
from monitor.records import Alert, AlertState
from monitor.settings import SinkSettings
from monitor.sinks import BaseSink, SinkConfigError, SinkDispatcher, load_sink
from plugins.textmon_log import LogSink
from plugins.textmon_webhook import WebhookSink

ALERT = Alert("r", "k", AlertState.FIRING, "warning", "fp", "s", 1.0, 0.5, 0.5, 60.0, 0.0)


class Recording(BaseSink):
    """A sink defined outside the package, loaded by path."""

    sent: list[Alert] = []

    async def send(self, alerts):  # type: ignore[no-untyped-def]
        Recording.sent.extend(alerts)


class Broken(BaseSink):
    async def send(self, alerts):  # type: ignore[no-untyped-def]
        raise RuntimeError("receiver down")


def test_first_party_sinks_are_found_through_entry_points() -> None:
    assert isinstance(load_sink(SinkSettings(name="a", type="log")), LogSink)
    assert isinstance(load_sink(SinkSettings(name="b", type="webhook", options={"url": "http://127.0.0.1:1/x"})), WebhookSink)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SinkSettings(name="x", type="pagerduty"), "sink 'x': no sink type 'pagerduty'; installed: .*log.*webhook"),
        (SinkSettings(name="y", type="no.such.module:Sink"), "sink 'y': cannot import"),
        (SinkSettings(name="z", type="log", options={"colour": "red"}), "sink 'z': unknown options"),
    ],
)
def test_bad_sink_settings_fail_at_load(settings: SinkSettings, message: str) -> None:
    with pytest.raises(SinkConfigError, match=message):
        load_sink(settings)


async def test_a_failing_sink_does_not_stop_the_others_and_keeps_its_alerts_for_after_a_restart(tmp_path) -> None:
    metrics = Metrics()
    Recording.sent = []
    sinks = [load_sink(SinkSettings(name="bad", type=f"{__name__}:Broken")),
             load_sink(SinkSettings(name="good", type=f"{__name__}:Recording"))]
    dispatcher = SinkDispatcher(sinks, metrics, tmp_path, retry_seconds=3600)
    await dispatcher.start()
    await dispatcher.dispatch([ALERT])
    await dispatcher.drain(10)
    await dispatcher.stop()
    assert len(list((tmp_path / "bad").glob("*.json"))) == 1, "undelivered alert kept on disk"
    assert list((tmp_path / "good").glob("*.json")) == []
    # after a restart the same sink, now healthy, delivers what was kept
    Recording.sent = []
    healed = SinkDispatcher([load_sink(SinkSettings(name="bad", type=f"{__name__}:Recording"))], Metrics(), tmp_path)
    await healed.start()
    await healed.drain(10)
    await healed.stop()
    assert Recording.sent == [ALERT]
    assert list((tmp_path / "bad").glob("*.json")) == []
    value = metrics.registry.get_sample_value
    assert value("textmon_sink_failures_total", {"sink": "bad"}) == 1
    assert value("textmon_sink_deliveries_total", {"sink": "good", "rule": "r", "outcome": "delivered"}) == 1
    assert value("textmon_sink_deliveries_total", {"sink": "bad", "rule": "r", "outcome": "failed"}) == 1
