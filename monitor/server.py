"""The HTTP endpoint: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for Kubernetes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.metrics import Metrics

STATUS_PAGE = Path(__file__).resolve().parent / "bundled" / "status" / "index.html"


class HealthServer:
    """Serves metrics, probes and the status page; the callables are asked on every request."""

    def __init__(
        self, metrics: Metrics, ready: Callable[[], dict[str, bool]], host: str, port: int,
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.metrics = metrics
        self.ready = ready
        self.status = status
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/api/status", self._status)
        self.app.router.add_get("/", self._page)

    async def start(self) -> int:
        """Listen; returns the bound port (useful when configured as 0)."""
        assert self._runner is None, "HealthServer.start() called twice"
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound socket only here
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, _: web.Request) -> web.Response:
        checks = self.ready()
        ok = all(checks.values())
        return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)

    async def _status(self, _: web.Request) -> web.Response:
        body = self.status() if self.status is not None else {}
        return web.json_response({"ready": all(self.ready().values()), "checks": self.ready(), **body})

    async def _page(self, _: web.Request) -> web.Response:
        if not STATUS_PAGE.is_file():
            return web.Response(text="textmon: see /metrics, /healthz, /readyz, /api/status\n")
        return web.FileResponse(STATUS_PAGE, headers={"Cache-Control": "no-cache"})
