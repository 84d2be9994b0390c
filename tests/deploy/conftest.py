"""Fixtures for the deployment proofs: a daemon fed with the bundled sample stream, and the tools."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import create_topics, http_get, metric_value, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SAMPLE_MESSAGES = 1260  # monitor/bundled/sample/news-stream.jsonl.gz


@dataclass
class FedDaemon:
    """A running daemon that has classified the whole sample stream and has alerts firing."""

    daemon: Daemon
    status: dict[str, Any]  # /api/status once everything was processed
    bootstrap: str
    topic: str  # the daemon's input topic

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.http_port}"


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def fed_daemon(broker, tiny_models) -> AsyncIterator[FedDaemon]:
    """The sample stream, replayed with ``monitor replay --retime`` (as the compose producer does).

    Topics come from a random-weight classifier, so they spread over several labels; sentiment is
    pinned to negative, so every topic with enough traffic fires the default negative-share rule.
    """
    topic = unique("deploy")
    await create_topics(broker.bootstrap, topic)
    env = dict(os.environ, MONITOR_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap)
    env.pop("MONITOR_CONFIG", None)
    replay = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "monitor.cli", "replay", "--retime", "--topic", topic],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert json.loads(replay.stdout.splitlines()[-1])["messages"] == SAMPLE_MESSAGES

    settings = daemon_settings(
        broker.bootstrap, {"topic": tiny_models["topic"], "sentiment": tiny_models["sentiment_negative"]}, topic,
        rules=[{"name": "negative-share-high", "threshold": 0.6, "min_volume": 20, "window_seconds": 300}],
    )
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())
    state: dict[str, Any] = {}

    async def all_classified() -> bool:
        if run.done():
            raise AssertionError(f"daemon exited early: {run.result()}")
        if not daemon.http_port:
            return False
        _, metrics = await http_get(f"http://127.0.0.1:{daemon.http_port}/metrics")
        status, body = await http_get(f"http://127.0.0.1:{daemon.http_port}/api/status")
        if status != 200:
            return False
        state.update(json.loads(body), processed=metric_value(metrics, "textmon_messages_processed_total"))
        return state["processed"] == SAMPLE_MESSAGES and bool(state["alerts"]) and state["ready"]

    try:
        try:
            await wait_until(all_classified, timeout=90)
        except AssertionError:
            summary = {k: state.get(k) for k in ("ready", "processed", "alerts")}
            summary["topics"] = {t["topic"]: t["window"] for t in state.get("topics", [])}
            raise AssertionError(f"the daemon did not classify the sample and fire an alert: {summary}") from None
        yield FedDaemon(daemon, dict(state), broker.bootstrap, topic)
    finally:
        daemon.request_stop()
        assert await run == 0


def kustomize_command() -> list[str]:
    """``kustomize build`` where installed (deploy/tools/install.sh), else ``kubectl kustomize``."""
    cache = Path(os.environ.get("TEXTMON_CACHE", Path.home() / ".cache" / "textmon"))
    for candidate in (Path(p) / "kustomize" for p in os.environ.get("PATH", "").split(os.pathsep)):
        if candidate.is_file():
            return [str(candidate), "build"]
    if (cache / "bin" / "kustomize").is_file():
        return [str(cache / "bin" / "kustomize"), "build"]
    return ["kubectl", "kustomize"]


def run_tool(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command line tool; fail the test with its output when it exits non-zero."""
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc
