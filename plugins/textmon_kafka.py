"""Kafka alerts-topic sink: each alert as JSON, keyed by fingerprint (compaction keeps the latest)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Sequence

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from monitor.kafka_config import security_kwargs
from monitor.records import Alert
from monitor.redact import scrub
from monitor.settings import KafkaSecurity
from monitor.sinks import SinkConfigError


class KafkaSinkOptions(KafkaSecurity):
    """Options of the Kafka sink: where to publish, and the same TLS / SASL options as ``kafka.*``."""

    bootstrap_servers: str
    topic: str = "textmon.alerts"
    client_id: str = "textmon-alerts"


class KafkaSink:
    """Publishes alerts to a topic and waits for the broker's acknowledgement."""

    def __init__(self, name: str, **options: Any) -> None:
        try:
            self.options = KafkaSinkOptions(**options)
        except ValidationError as exc:
            raise SinkConfigError(f"sink '{name}' (kafka): {scrub(str(exc))}") from None
        self.name = name
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Nothing to do until the first alert: a broker outage must not stop the daemon starting."""

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.options.bootstrap_servers, acks="all",
                                        client_id=self.options.client_id, enable_idempotence=True,
                                        **security_kwargs(self.options))
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Send every alert and wait for all acknowledgements."""
        producer = await self._ensure()
        futures = [
            await producer.send(self.options.topic, key=a.fingerprint.encode(),
                                value=json.dumps(a.to_json(), ensure_ascii=False).encode())
            for a in alerts
        ]
        await asyncio.gather(*futures)
