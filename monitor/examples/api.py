"""``/api/topics``: define topics by example, list them with their cross-validated quality, remove one.

POST and DELETE change state: the HTTP server's middleware has checked ``http.admin_token`` before
a handler here runs. Fitting runs on one worker thread of its own, never on the event loop, one
change at a time. With a definitions log (``monitor.examples.log``) a change is fitted, stored,
then put in use: every replica following the log makes the same change, and a restart reads it back.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from pydantic import ValidationError

from monitor.examples.log import DefinitionsLog, DefinitionsUnavailable, Stored
from monitor.examples.topics import ExampleTopics, TopicDefinitionError, examples_of
from monitor.logs import get_logger
from monitor.settings import ExampleTopicSettings

log = get_logger(__name__)


class TopicsApi:
    """Routes over an ``ExampleTopics``; ``load`` builds the topics of the settings and of the log."""

    def __init__(self, topics: ExampleTopics, definitions: DefinitionsLog | None = None) -> None:
        self.topics = topics
        self.definitions = definitions
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="example-topics")
        self._fitting = asyncio.Lock()

    def mount(self, app: web.Application) -> None:
        """Add the routes (before the server starts)."""
        app.router.add_get("/api/topics", self._list)
        app.router.add_post("/api/topics", self._define)
        app.router.add_delete("/api/topics/{name}", self._remove)

    async def load(self, configured: tuple[ExampleTopicSettings, ...], stored: Stored | None = None) -> None:
        """Build the head for the topics the settings define, changed by what the log stored (at start-up,
        before the first message is fetched, so that every message carries them), in one fit. Raises
        ``TopicDefinitionError`` if the settings' topics cannot make a head; if only the stored
        changes make it fail, they are logged and left out."""
        final = {t.name: t for t in configured}
        for name, topic in (stored or {}).items():
            if topic is None:
                final.pop(name, None)
            else:
                final[name] = topic
        tries = [tuple(final.values())] if final != {t.name: t for t in configured} else []
        async with self._fitting:  # the HTTP server is up already: a change posted meanwhile waits
            for topics in [*tries, configured]:
                if not topics:
                    return
                try:
                    fitted = await self._in_pool(self.topics.define, topics)
                except TopicDefinitionError as exc:
                    if topics is configured:
                        raise
                    log.error("the stored topic definitions cannot make a head here; starting with the settings' "
                              "topics", error=str(exc))
                    continue
                log.info("example topics fitted", topics=[t.name for t in topics], cv_macro_f1=fitted.quality.macro_f1,
                         seconds=round(fitted.seconds, 2))
                return

    async def changed(self, name: str, topic: ExampleTopicSettings | None) -> None:
        """Make a change read from the definitions log (one made here is found already made)."""
        async with self._fitting:
            current = self.topics.definitions.get(name)
            if (current is None) if topic is None else (current == examples_of(topic)):
                return
            try:
                if topic is None:
                    change = await self._in_pool(self.topics.plan_remove, name)
                else:
                    change = await self._in_pool(self.topics.plan_define, [topic])
            except TopicDefinitionError as exc:
                log.error("a stored topic change cannot make a head here; left out", topic=name, error=str(exc))
                return
            fitted = self.topics.apply(change)
        log.info("example topic removed" if topic is None else "example topic defined", topic=name, via="definitions log",
                 cv_macro_f1=fitted.quality.macro_f1 if fitted else None)

    def close(self) -> None:
        """Stop the fitting thread (a fit in progress finishes on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _in_pool(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _store(self, name: str, topic: ExampleTopicSettings | None) -> web.Response | None:
        """Write a planned change to the log; an error response if it could not be stored."""
        if self.definitions is None:
            return None
        try:
            await self.definitions.write(name, topic)
        except DefinitionsUnavailable as exc:
            return _error(503, f"the change could not be stored, so it was not made: {exc}")
        return None

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
        async with self._fitting:  # one change at a time: fitted, stored, then put in use
            try:
                change = await self._in_pool(self.topics.plan_define, [topic])
            except TopicDefinitionError as exc:
                return _error(400, str(exc))
            refused = await self._store(topic.name, topic)
            if refused is not None:
                return refused
            fitted = self.topics.apply(change)
            assert fitted is not None
        log.info("example topic defined", topic=topic.name, examples=len(topic.examples),
                 counter_examples=len(topic.counter_examples), cv_macro_f1=fitted.quality.macro_f1,
                 version=fitted.version)
        return web.json_response(self.topics.describe(), status=201)

    async def _remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        async with self._fitting:
            try:
                change = await self._in_pool(self.topics.plan_remove, name)
            except KeyError:
                return _error(404, f"no example topic named {name!r}")
            except TopicDefinitionError as exc:
                return _error(409, f"the topics left cannot make a head: {exc}")
            refused = await self._store(name, None)
            if refused is not None:
                return refused
            self.topics.apply(change)
        log.info("example topic removed", topic=name)
        return web.json_response(self.topics.describe())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
