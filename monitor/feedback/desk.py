"""The analyst's desk: corrections in, the review queue out, over HTTP.

``/api/feedback`` (POST: a correction; GET: the latest ones), ``/api/review`` (GET) and
``/api/topics`` (topics defined by example, ``monitor.examples``). The HTTP
server's middleware (``monitor.server``) guards every state-changing request with
``http.admin_token`` before a handler here runs. The daemon owns one desk: it calls ``mount``,
``load_topics`` (before fetching), ``start``, ``observe`` (each classified batch) and ``stop``.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import suppress
from typing import Any, Callable, Mapping

from aiohttp import web

from monitor.connect import start_with_backoff
from monitor.examples.api import TopicsApi
from monitor.examples.log import DefinitionsLog
from monitor.examples.head import NEAR_COPY
from monitor.examples.topics import ExampleTopics
from monitor.feedback.corrections import CorrectionBook, InvalidCorrection, parse_correction
from monitor.feedback.log import FeedbackLog, FeedbackUnavailable
from monitor.feedback.review import ReviewQueue
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.records import Alert, Enriched, Prediction
from monitor.settings import Settings, definitions_topic, feedback_topic
from monitor.trends import ALL

log = get_logger(__name__)
Labels = Callable[[], Mapping[str, frozenset[str]]]


class AnalystDesk:
    """Keeps the latest corrections (read from, and written to, the feedback topic) and the review queue."""

    def __init__(self, settings: Settings, metrics: Metrics, labels: Labels,
                 firing: Callable[[], list[Alert]] = list) -> None:
        f, r = settings.feedback, settings.review
        self.expose_text = settings.http.expose_text
        self.max_text_chars = settings.input.max_text_chars
        self.metrics = metrics
        self._model_labels = labels
        e = settings.example_topics
        # the hook a stage calls to label messages with the user's own topics: example_topics.classify
        self.example_topics = ExampleTopics(lambda: _embedder(e.encoder), e.folds, NEAR_COPY[e.encoder],
                                            lambda: self._model_labels().get("topic", frozenset()) | {ALL})
        self._configured_topics = e.topics
        self.definitions = DefinitionsLog(settings.kafka, definitions_topic(settings)) if e.store else None
        self.topics_api = TopicsApi(self.example_topics, self.definitions)
        self._following: asyncio.Task[None] | None = None
        self.firing = firing
        self.book = CorrectionBook(f.max_entries)
        self.review = ReviewQueue(r.max_items, r.max_age_seconds, r.max_margin, f.recent_predictions)
        self.log = FeedbackLog(settings.kafka, feedback_topic(settings), self.book, metrics, self.labels) if f.enabled else None

    def mount(self, app: web.Application) -> None:
        """Add the desk's routes to the HTTP server's application (before it starts)."""
        app.router.add_get("/api/review", self._review)
        app.router.add_get("/api/feedback", self._list)
        app.router.add_post("/api/feedback", self._post)
        self.topics_api.mount(app)

    def labels(self) -> dict[str, frozenset[str]]:
        """Labels a correction may name: the models', and the topics defined by example."""
        known = dict(self._model_labels())
        known["topic"] = known.get("topic", frozenset()) | self.example_topics.names()
        return known

    async def load_topics(self, stopping: asyncio.Event | None = None) -> bool:
        """Fit the topics the settings define and the definitions log stored (``TopicDefinitionError``
        if the settings' cannot make a head); False if told to stop while the broker was away."""
        stored = None
        if self.definitions is not None:
            stored = await start_with_backoff(self.definitions.load, self.definitions.kafka, "topic definitions", stopping)
            if stored is None:
                return False
        await self.topics_api.load(self._configured_topics, stored)
        return True

    async def start(self) -> None:
        """Start following the feedback topic and the definitions log (after ``load_topics``)."""
        if self.definitions is not None and self.definitions.opened:
            self._following = asyncio.create_task(self.definitions.follow(self.topics_api.changed), name="topic-definitions")
        if self.log is not None:
            await self.log.start()

    async def stop(self) -> None:
        """Stop following them and the fitting thread; idempotent."""
        following, self._following = self._following, None
        if following is not None:
            following.cancel()
            with suppress(asyncio.CancelledError):
                await following
        if self.definitions is not None:
            await self.definitions.stop()
        self.topics_api.close()
        if self.log is not None:
            await self.log.stop()

    def observe(self, batch: list[Enriched], candidates: list[Prediction] | None = None) -> None:
        """A classified batch, for the review queue (on the event loop: cheap per message)."""
        self.review.observe(batch, candidates)
        self.metrics.review_queue.set(len(self.review))

    def review_items(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The review queue as JSON, most urgent first."""
        items = self.review.items(time.time(), self.firing(), self.book)
        return [i.to_json(self.expose_text) for i in items[:limit]]

    async def _review(self, request: web.Request) -> web.Response:
        limit = _limit(request)
        labels = {task: sorted(known) for task, known in self.labels().items()}
        return web.json_response({"items": self.review_items(limit), "labels": labels,
                                  "corrections": self.log is not None}, headers={"Cache-Control": "no-store"})

    async def _list(self, request: web.Request) -> web.Response:
        corrections = [c.to_json() for c in self.book.latest(_limit(request))]
        if not self.expose_text:
            corrections = [{**c, "text": ""} for c in corrections]
        # ready: corrections can be posted now (the feedback topic has been read to its end once)
        ready = self.log is not None and self.log.ready.is_set()
        return web.json_response({"corrections": corrections, "count": len(self.book), "ready": ready},
                                 headers={"Cache-Control": "no-store"})

    async def _post(self, request: web.Request) -> web.Response:
        if self.log is None:
            return _error(404, "corrections are off (feedback.enabled: false)")
        if request.content_type != "application/json":
            return _error(415, "send the correction as application/json")
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "a correction is a JSON object")
        body = self._completed(body)
        try:
            correction = parse_correction(body, at=time.time(), via="api", labels=self.labels())
        except InvalidCorrection as exc:
            return _error(400, str(exc))
        if len(correction.text) > self.max_text_chars:
            return _error(400, f"'text' is longer than input.max_text_chars ({self.max_text_chars})")
        try:
            offset = await self.log.submit(correction)
        except FeedbackUnavailable as exc:
            return _error(503, str(exc), {"Retry-After": "5"})
        log.info("correction taken", message_id=correction.message_id, labels=correction.labels, who=correction.who,
                 corrects=correction.model_versions)
        return web.json_response({"offset": offset, "correction": correction.to_json()}, status=201)

    def _completed(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with what the daemon remembers of the message filled in: its text, and the models'
        versions and answers for the corrected tasks (what the analyst sent wins)."""
        message_id = body.get("id")
        enriched = self.review.recent(message_id) if isinstance(message_id, str) else None
        if enriched is None:
            return body
        tasks = {t: r for t, r in enriched.prediction.tasks.items() if body.get(t) is not None}
        return {
            "text": enriched.message.text,
            "model_versions": {t: r.model for t, r in tasks.items()},
            "predicted": {t: r.label for t, r in tasks.items()},
            **body,
        }


def _limit(request: web.Request) -> int | None:
    raw = request.query.get("limit")
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "limit must be an integer"}', content_type="application/json") from None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _embedder(encoder: str):  # type: ignore[no-untyped-def]
    from monitor.examples.embedder import Embedder  # torch and the base encoder load on first use only

    return Embedder(encoder)
