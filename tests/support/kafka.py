"""A real Apache Kafka broker for the test session, started through deploy/local-kafka.sh."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "local-kafka.sh"


@dataclass
class Broker:
    """A broker on a loopback port, with its own data folder."""

    port: int
    data: Path
    env: dict[str, str] = field(default_factory=dict)  # more for deploy/local-kafka.sh (KAFKA_SASL_SSL_DIR, ...)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self, keep_data: bool = False) -> dict[str, str]:
        env = dict(os.environ, KAFKA_PORT=str(self.port), KAFKA_DATA=str(self.data), **self.env)
        if keep_data:
            env["KAFKA_KEEP_DATA"] = "1"
        return env

    def start(self, keep_data: bool = False) -> None:
        done = subprocess.run(["bash", str(SCRIPT), "start"], env=self._env(keep_data), capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:  # say why: the script prints the broker log's tail
            raise RuntimeError(f"broker did not start (exit {done.returncode}):\n{done.stderr[-3000:]}")

    def stop(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=self._env(), check=False, capture_output=True, timeout=120)


def unique(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
