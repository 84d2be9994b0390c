"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on a loopback port."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

from tests.support.process import free_port
from tests.support.streams import http_get, wait_until

CONFIG = """
route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
"""


class Alertmanager:
    """Starts the binary with a do-nothing receiver; alerts are read back through its v2 API."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        assert binary, "install Debian's prometheus-alertmanager (scripts/bootstrap.sh does)"
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = self.workdir / "alertmanager.yml"
        config.write_text(CONFIG)
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={config}", f"--storage.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=open(self.workdir / "alertmanager.log", "wb"), stderr=subprocess.STDOUT,
        )

        async def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (self.workdir / "alertmanager.log").read_text()
            return (await http_get(f"{self.url}/-/ready"))[0] == 200
        await wait_until(ready, timeout=30)

    def alerts(self) -> list[dict]:  # type: ignore[type-arg]
        """Active, silenced and inhibited alerts as Alertmanager reports them."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
