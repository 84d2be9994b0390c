"""Topics defined by example through ``/api/topics`` on a real HTTP server, with the real base encoder
(all-MiniLM-L6-v2) and real BBC texts: only the admin token defines one, the answer says how good
it is, and the daemon's hook labels new texts with it."""

from __future__ import annotations

from monitor.feedback import AnalystDesk
from monitor.metrics import Metrics
from monitor.models.data import bbc
from monitor.server import HealthServer
from monitor.settings import Settings
from tests.support.http import api

ADMIN = "admin-token-for-the-topics-test"


async def test_a_topic_defined_through_the_api_reports_its_quality_and_labels_new_texts() -> None:
    splits = bbc()
    headline = {label: [e.text.split(" ", 12)[:12] for e in splits.train if e.label == label] for label in ("sport", "tech")}
    examples = {label: [" ".join(words) for words in rows[:15]] for label, rows in headline.items()}
    held_out = {label: [e.text[:300] for e in splits.test if e.label == label][:10] for label in ("sport", "tech")}

    settings = Settings(feedback={"enabled": False}, example_topics={"folds": 3, "store": False})
    metrics = Metrics()
    desk = AnalystDesk(settings, metrics, lambda: {"topic": frozenset({"business"})})
    server = HealthServer(metrics, dict, "127.0.0.1", 0, admin_token=ADMIN)
    desk.mount(server.app)
    port = await server.start()
    await desk.start()
    try:
        sport = {"name": "sport", "examples": examples["sport"]}
        assert (await api(port, "POST", "/api/topics", sport))[0] == 401
        assert (await api(port, "POST", "/api/topics", sport, "wrong-token-wrong-token"))[0] == 401
        assert (await api(port, "GET", "/api/topics"))[1]["topics"] == []
        for taken in ("business", "__all__"):  # a series of that name exists: the topic would be counted into it
            status, body = await api(port, "POST", "/api/topics", {"name": taken, "examples": examples["sport"],
                                                                   "counter_examples": examples["tech"]}, ADMIN)
            assert status == 400 and "a name of its own" in body["error"], body

        status, body = await api(port, "POST", "/api/topics", {"name": "sport", "examples": examples["sport"][:5]},
                                 ADMIN)
        assert status == 400 and "examples" in body["error"]
        status, body = await api(port, "POST", "/api/topics", sport, ADMIN)
        assert status == 400 and "counter-examples" in body["error"]

        status, body = await api(port, "POST", "/api/topics", {"name": "tech", "examples": examples["tech"]},
                                 ADMIN)
        assert status == 400  # still a lone topic: nothing was kept of the refused sport definition
        status, body = await api(port, "POST", "/api/topics",
                                 {"name": "sport", "examples": examples["sport"], "counter_examples": examples["tech"]},
                                 ADMIN)
        assert status == 201, body
        status, body = await api(port, "POST", "/api/topics", {"name": "tech", "examples": examples["tech"]},
                                 ADMIN)
        assert status == 201, body
        assert [t["name"] for t in body["topics"]] == ["sport", "tech"] and body["version"] == 2
        assert body["quality"]["folds"] == 3 and body["quality"]["macro_f1"] >= 0.8
        assert all(set(t) >= {"examples", "precision", "recall", "f1", "threshold"} for t in body["topics"])

        # the hook: new texts get their topic (or none); corrections may now name the new topics
        for label, texts in held_out.items():
            found = desk.example_topics.classify(texts)
            assert sum(bool(hits) and hits[0][0] == label for hits in found) >= 8, (label, found)
        assert desk.labels()["topic"] == {"business", "sport", "tech"}

        assert (await api(port, "DELETE", "/api/topics/sport"))[0] == 401
        status, body = await api(port, "DELETE", "/api/topics/sport", token=ADMIN)
        assert status == 409, "tech alone has no counter-examples"
        status, body = await api(port, "DELETE", "/api/topics/nothing", token=ADMIN)
        assert status == 404
    finally:
        await desk.stop()
        await server.stop()
