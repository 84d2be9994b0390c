"""A real Label Studio server for one test: its own virtual environment, SQLite in a temporary folder,
a free port on loopback, one user with a legacy token made at start-up."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.process import free_port

REPO = Path(__file__).resolve().parents[2]
VERSION = "1.23.2"
START_TIMEOUT = 300.0  # a first start migrates a new SQLite database: half a minute to minutes on a busy machine


def environment() -> Path:
    """Label Studio's virtual environment, as scripts/label-studio-env.sh makes it (keyed by version and pins)."""
    cache = Path(os.environ.get("TEXTMON_CACHE") or Path.home() / ".cache" / "textmon")
    pins = hashlib.sha256((REPO / "scripts" / "label-studio-constraints.txt").read_bytes()).hexdigest()[:8]
    return cache / f"label-studio-{VERSION}-{pins}"


class LabelStudioMissing(RuntimeError):
    """The environment is not there; the message says how to make it."""


@dataclass
class LabelStudioServer:
    """``label-studio start`` as a child process; ``url``, ``email`` and its legacy ``token`` once started."""

    workdir: Path
    email: str = "analyst@textmon.test"
    token: str = field(default_factory=lambda: secrets.token_hex(20))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "label-studio.log"

    def start(self) -> None:
        venv = environment()
        if not (venv / ".complete").is_file():
            raise LabelStudioMissing(f"Label Studio's environment {venv} is missing: create it with "
                                     "`bash scripts/label-studio-env.sh` (scripts/bootstrap.sh does it)")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        # nothing of the daemon's environment leaks in: its own interpreter, its own packages
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MONITOR_", "LABEL_STUDIO_", "PYTHON", "VIRTUAL_ENV", "DJANGO_"))}
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(data), LABEL_STUDIO_USERNAME=self.email,
            LABEL_STUDIO_PASSWORD=secrets.token_urlsafe(16), LABEL_STUDIO_USER_TOKEN=self.token,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            # no calls out: error reports, usage statistics, the check for a newer release
            SENTRY_DSN="", FRONTEND_SENTRY_DSN="", COLLECT_ANALYTICS="false", LATEST_VERSION_CHECK="false",
        )
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(data)],
            stdout=log, stderr=log, env=env, cwd=self.workdir)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until the server answers an authenticated API call (the user and token exist by then)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"label-studio exited {self.proc.returncode}: {self.log_tail()}")
            try:
                if self.call("GET", "/api/users"):
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"label-studio not ready within {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.5)  # polling a child process's readiness, not waiting for an effect

    def call(self, method: str, path: str, body: Any = None, authorization: str | None = None) -> Any:
        """One API call as a person's script would make it; raises on an HTTP error."""
        headers = {"Accept": "application/json", "Authorization": authorization or f"Token {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
