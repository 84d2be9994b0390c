"""The shadow section of the status page in headless Chromium: a candidate's agreement per task and
the alerts each side would raise, as /api/shadow has them; after a promotion, the switch."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.settings import CandidateSettings
from tests.deploy.test_status_page import MarkedElements, chromium
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, http_get, produce

ADMIN = "admin-token-for-the-shadow-page"


async def test_the_page_shows_the_candidate_and_the_switch(broker, tiny_models, tmp_path):  # type: ignore[no-untyped-def]
    topic = unique("shadow-page")
    settings = daemon_settings(
        broker.bootstrap, {"topic": tiny_models["topic"], "sentiment": tiny_models["sentiment"]}, topic,
        http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN},
        trends={"warmup_buckets": 0, "dedup_window_seconds": 0},
        rules=[{"name": "negative-share", "detector": "negative_share", "threshold": 0.5, "min_volume": 5}],
    )
    candidate = CandidateSettings(topic=str(tiny_models["topic_business"]), sentiment=str(tiny_models["sentiment_negative"]))
    settings = settings.model_copy(update={"models": settings.models.model_copy(update={"candidate": candidate})})
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    now = time.time()
    await produce(broker.bootstrap, topic, [json.dumps({"id": f"m{i}", "timestamp": now,
                                                        "text": f"story {i} about {'bonds' if i % 2 else 'goals'}"}).encode()
                                            for i in range(40)])
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())
    try:
        await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= 40)
        url = f"http://127.0.0.1:{daemon.http_port}"
        shadow = json.loads((await http_get(url + "/api/shadow"))[1])
        page = MarkedElements()
        page.feed((await chromium(url + "/", tmp_path, "--dump-dom")).stdout)
        shown = {t["data-task"]: float(t["data-agreement"]) for t in page.found.get("shadow-task", [])}
        assert shown == {task: t["agreement"] for task, t in shadow["comparison"]["tasks"].items()}
        assert set(shown) == {"topic", "sentiment"}
        alerts = page.found["shadow-alerts"][0]
        assert int(alerts["data-candidate"]) >= 1 and int(alerts["data-live"]) == \
            sum(s.get("firing", 0) for s in shadow["alerts"]["live"]["raised"].values())

        shot = tmp_path / "shadow-page.png"
        await chromium(url + "/", tmp_path, f"--screenshot={shot}")
        print(f"status page with a candidate in shadow: {shot}")

        async with aiohttp.ClientSession() as session:
            version = shadow["candidate"]["models"]["sentiment"]
            async with session.post(url + "/api/models/promote", json={"version": version},
                                    headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                assert resp.status == 200, await resp.text()
        page = MarkedElements()
        page.feed((await chromium(url + "/", tmp_path, "--dump-dom")).stdout)
        assert len(page.found.get("switch", [])) == 1 and not page.found.get("shadow-task")
    finally:
        daemon.request_stop()
        assert await run == 0
