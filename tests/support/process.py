"""The daemon as a real process (``monitor run``), for signal and crash tests."""

from __future__ import annotations

import asyncio

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from monitor.settings import Settings
from tests.support.config import write_config
from tests.support.streams import consume_until, http_get, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaemonProcess:
    """Starts ``python -m monitor.cli run --config FILE``; logs go to a file for post-mortems."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={"http": settings.http.model_copy(update={"port": self.port})})
        self.config = write_config(self.settings, workdir / "config.yaml")
        self.log_path = workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # the config file alone configures the daemon: a MONITOR_* variable of the shell running the tests
        # (MONITOR_HTTP__PORT, say) would win over it, and the test would ask the wrong port
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "--config", str(self.config), "run"], stdout=log, stderr=log, env=env
        )

    async def wait_ready(self, timeout: float = 90.0) -> None:
        async def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            status, _ = await http_get(f"http://127.0.0.1:{self.port}/readyz")
            return status == 200
        await wait_until(ready, timeout)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    async def stopped(self, timeout: float) -> int:
        """``wait`` without blocking the event loop: a receiver served by this loop (a webhook sink's)
        must go on answering while the daemon drains its last notifications on the way out."""
        return await asyncio.to_thread(self.wait, timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


async def kill_mid_stream(settings: Settings, workdir: Path, bootstrap: str, at_least: int) -> None:
    """Run the daemon until ``at_least`` enriched records are out, then SIGKILL it: no drain, no final commit."""
    proc = DaemonProcess(settings, workdir)
    proc.start()
    try:
        await consume_until(bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= at_least)
    finally:
        proc.kill()
