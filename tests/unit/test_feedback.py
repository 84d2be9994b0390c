"""Corrections (parsing, the latest per message), the review queue's ranking, and the admin guard."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web

from monitor.feedback.corrections import (
    Correction, CorrectionBook, InvalidCorrection, decode_record, encode_record, parse_correction,
)
from monitor.feedback.review import ReviewQueue, margin
from monitor.metrics import Metrics
from monitor.records import Alert, AlertState, Enriched, Exemplar, Message, Prediction, SourcePosition, TaskResult
from monitor.server import HealthServer

LABELS = {"topic": frozenset({"business", "sport"}), "sentiment": frozenset({"negative", "neutral", "positive"})}
GOOD = {"id": "m1", "topic": "sport", "who": "ana", "text": "a match"}


@pytest.mark.parametrize("body, error", [
    ({**GOOD, "id": ""}, "'id'"),
    ({k: v for k, v in GOOD.items() if k != "who"}, "'who'"),
    ({k: v for k, v in GOOD.items() if k != "text"}, "'text'"),
    ({"id": "m1", "who": "ana", "text": "t"}, "'topic' and/or 'sentiment'"),
    ({**GOOD, "topic": "crypto"}, "not a known label"),
    ({**GOOD, "sentiment": "angry"}, "not a known label"),
    ({**GOOD, "at": float("nan")}, "'at'"),
    ({**GOOD, "at": True}, "'at'"),
    ({**GOOD, "model_versions": {"topic": 3}}, "'model_versions'"),
    ({**GOOD, "who": "x" * 500}, "longer than"),
    ("m1", "JSON object"),
])
def test_invalid_corrections_say_why(body: object, error: str) -> None:
    with pytest.raises(InvalidCorrection, match=error):
        parse_correction(body, at=1.0, via="api", labels=LABELS)


def test_a_correction_round_trips_through_a_topic_record() -> None:
    c = parse_correction({**GOOD, "model_versions": {"topic": "en-news@1", "other": "x"}}, at=5.0, via="api", labels=LABELS)
    assert c.labels == {"topic": "sport"} and c.at == 5.0 and c.model_versions == {"topic": "en-news@1"}
    key, value = encode_record(c)
    assert key == b"m1" and decode_record(key, value, at=9.0) == c
    assert decode_record(b"m1", None, at=9.0) is None  # a tombstone
    with pytest.raises(InvalidCorrection, match="record key"):
        decode_record(b"other", value, at=9.0)
    with pytest.raises(InvalidCorrection, match="JSON"):
        decode_record(b"m1", b"\xff", at=9.0)
    forged = json.dumps({**GOOD, "via": "something"}).encode()
    decoded = decode_record(b"m1", forged, at=9.0)
    assert decoded is not None and decoded.via == "topic"


def _c(label: str) -> Correction:
    return Correction("m1", {"topic": label}, "ana", 1.0, "t")


def test_the_book_keeps_the_latest_word_per_message_and_respects_withdrawals() -> None:
    book = CorrectionBook(max_entries=2)
    assert book.apply("m1", 5, _c("sport"))
    assert not book.apply("m1", 5, _c("sport")), "read back after the API applied it: no change"
    assert not book.apply("m1", 3, _c("business")), "an older record never overrides"
    assert book.get("m1") == _c("sport")
    assert book.apply("m1", 7, None) and "m1" not in book
    assert not book.apply("m1", 6, _c("business")), "an older record does not revive a withdrawn one"
    assert book.apply("m1", 8, _c("business")) and book.get("m1") == _c("business")
    book.apply("m2", 1, Correction("m2", {"topic": "sport"}, "b", 1.0, "t"))
    book.apply("m3", 1, Correction("m3", {"topic": "sport"}, "b", 1.0, "t"))
    assert len(book) == 2 and "m1" not in book, "bounded: the oldest leaves"
    assert [c.message_id for c in book.latest()] == ["m3", "m2"]


def enriched(mid: str, topic: dict[str, float], sentiment: dict[str, float], at: float = 100.0) -> Enriched:
    def result(dist: dict[str, float]) -> TaskResult:
        best = max(dist, key=dist.__getitem__)
        return TaskResult(best, dist[best], dist, "m@1")
    message = Message(mid, f"text {mid}", at, "wire", None, SourcePosition("in", 0, 0))
    return Enriched(message, Prediction({"topic": result(topic), "sentiment": result(sentiment)}), at)


SURE = {"business": 0.95, "sport": 0.05}
SENT_SURE = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}


@pytest.mark.parametrize("dist, expected", [({"a": 0.5, "b": 0.5}, 0.0), ({"a": 0.7, "b": 0.2, "c": 0.1}, 0.5),
                                            ({"a": 1.0}, 1.0)])
def test_margin(dist: dict[str, float], expected: float) -> None:
    assert margin(dist) == pytest.approx(expected)


def test_the_review_queue_ranks_uncertain_and_alerting_messages_first_and_stays_bounded() -> None:
    queue = ReviewQueue(max_items=3, max_age_seconds=60, max_margin=0.5)
    batch = [
        enriched("sure", SURE, SENT_SURE),
        enriched("close", {"business": 0.51, "sport": 0.49}, SENT_SURE),
        enriched("fairly", {"business": 0.7, "sport": 0.3}, SENT_SURE),
        enriched("shaky", SURE, {"negative": 0.4, "neutral": 0.35, "positive": 0.25}),
        enriched("exemplar", SURE, SENT_SURE),
    ]
    queue.observe(batch)
    assert len(queue) == 3
    ids = [i.enriched.message.id for i in queue.items(now=120)]
    assert ids == ["close", "shaky", "fairly"], "most uncertain first; confident ones never queued"
    alert = Alert("neg", "sport", AlertState.FIRING, "critical", "fp", "s", 0.9, 0.2, 5.0, 600, 0.0,
                  exemplars=(Exemplar("exemplar", "text exemplar", 0.9),))
    items = queue.items(now=120, firing=[alert], corrected={"close"})
    assert [i.enriched.message.id for i in items][:1] == ["exemplar"], "an alert's exemplar is reviewed first"
    assert "close" not in {i.enriched.message.id for i in items}, "corrected messages leave the queue"
    assert items[0].reasons[0] == "exemplar of neg on sport"
    assert queue.items(now=1000) == [], "old entries expire"


async def test_state_changing_requests_need_the_admin_bearer_token() -> None:
    calls: list[str] = []
    refused: list[str] = []

    async def change(_: web.Request) -> web.Response:
        calls.append("changed")
        return web.json_response({}, status=201)

    async def attempt(srv: HealthServer, auth: str | None) -> int:
        srv.app.router.add_post("/api/change", change)
        port = await srv.start()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(f"http://127.0.0.1:{port}/api/change", json={},
                                        headers={"Authorization": auth} if auth else {}) as resp:
                    return resp.status
        finally:
            await srv.stop()

    def server(admin: str | None, read: str | None = None) -> HealthServer:
        return HealthServer(Metrics(), dict, "127.0.0.1", 0, token=read, admin_token=admin, refused=refused.append)

    admin, read = "admin-token-0123456789", "read-token-0123456789"
    assert await attempt(server(None), f"Bearer {admin}") == 403
    assert await attempt(server(admin, read), None) == 401
    assert await attempt(server(admin, read), f"Bearer {read}") == 401, "the read token changes nothing"
    assert await attempt(server(admin, read), f"Bearer {admin}x") == 401
    assert calls == [] and refused == ["off", "unauthorised", "unauthorised", "unauthorised"]
    assert await attempt(server(admin, read), f"Bearer {admin}") == 201 and calls == ["changed"]
