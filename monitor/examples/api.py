"""``/api/topics``: define topics by example, list them with their cross-validated quality, remove one.

POST and DELETE change state: the HTTP server's middleware has checked ``http.admin_token`` before
a handler here runs. Fitting runs on one worker thread of its own, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from pydantic import ValidationError

from monitor.examples.topics import ExampleTopics, TopicDefinitionError
from monitor.logs import get_logger
from monitor.settings import ExampleTopicSettings

log = get_logger(__name__)


class TopicsApi:
    """Routes over an ``ExampleTopics``; ``fit_configured`` builds the topics named in the settings."""

    def __init__(self, topics: ExampleTopics) -> None:
        self.topics = topics
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="example-topics")
        self._fitting = asyncio.Lock()

    def mount(self, app: web.Application) -> None:
        """Add the routes (before the server starts)."""
        app.router.add_get("/api/topics", self._list)
        app.router.add_post("/api/topics", self._define)
        app.router.add_delete("/api/topics/{name}", self._remove)

    async def fit_configured(self, configured: tuple[ExampleTopicSettings, ...]) -> None:
        """Build the head for the topics the settings define (at start-up, before the first message is
        fetched, so that every message carries them); raises ``TopicDefinitionError`` if they cannot."""
        if not configured:
            return
        fitted = await self._run(self.topics.define, configured)
        log.info("example topics fitted", topics=[t.name for t in configured], cv_macro_f1=fitted.quality.macro_f1,
                 seconds=round(fitted.seconds, 2))

    def close(self) -> None:
        """Stop the fitting thread (a fit in progress finishes on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        async with self._fitting:  # one fit at a time; a second waits for the first
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _list(self, _: web.Request) -> web.Response:
        return web.json_response(self.topics.describe(), headers={"Cache-Control": "no-store"})

    async def _define(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _error(415, "send the topic as application/json")
        try:
            body = json.loads(await request.read())
            topic = ExampleTopicSettings.model_validate(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _error(400, "the body is not JSON")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return _error(400, problems)
        try:
            fitted = await self._run(self.topics.define, [topic])
        except TopicDefinitionError as exc:
            return _error(400, str(exc))
        log.info("example topic defined", topic=topic.name, examples=len(topic.examples),
                 counter_examples=len(topic.counter_examples), cv_macro_f1=fitted.quality.macro_f1,
                 version=fitted.version)
        return web.json_response(self.topics.describe(), status=201)

    async def _remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            await self._run(self.topics.remove, name)
        except KeyError:
            return _error(404, f"no example topic named {name!r}")
        except TopicDefinitionError as exc:
            return _error(409, f"the topics left cannot make a head: {exc}")
        log.info("example topic removed", topic=name)
        return web.json_response(self.topics.describe())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
