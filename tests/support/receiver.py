"""A real HTTP receiver for webhook tests: records requests and answers with scripted statuses."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Listens on loopback; ``responses`` are (status, headers) answered in order, then 200."""

    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        self._event.set()
        if self.responses:
            status, headers = self.responses.pop(0)
            return web.Response(status=status, headers=headers)
        return web.Response(status=200)

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        """Wait until ``predicate(self.received)`` holds, woken by each request."""
        async def loop() -> None:
            while not predicate(self.received):
                self._event.clear()
                await self._event.wait()
        await asyncio.wait_for(loop(), timeout)
