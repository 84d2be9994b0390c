"""The review queue on the status page, driven in headless Chromium over the DevTools protocol: a
hostile message shows as text, and a correction made with the page's button reaches the feedback
topic on the real broker."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.settings import feedback_topic
from tests.deploy.test_status_page import CHROMIUM_FLAGS
from tests.support.config import daemon_settings
from tests.support.kafka import unique
from tests.support.streams import consume_until, create_topics, produce, wait_until

ADMIN = "admin-token-for-the-page-test"
HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script> bank fails'


class DevTools:
    """Just enough of the Chrome DevTools protocol: evaluate an expression in the page, take a screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.ids = ws, itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == call_id:
                assert "error" not in message, message
                return message["result"]

    async def navigate(self, url: str) -> None:
        """Load ``url`` and return once its load event fired."""
        await self.call("Page.enable")
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": "Page.navigate", "params": {"url": url}})
        while (await self.ws.receive_json(timeout=30)).get("method") != "Page.loadEventFired":
            pass

    async def eval(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")


async def open_page(url: str, profile: Path) -> tuple[subprocess.Popen[str], aiohttp.ClientSession, DevTools]:
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time-budget")]
    proc = subprocess.Popen(["chromium", *flags, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = ""
    while "DevTools listening on" not in line:
        line = await asyncio.to_thread(proc.stderr.readline)
        assert line or proc.poll() is None, "chromium exited before it listened"
    port = re.search(r"ws://[^:]+:(\d+)/", line).group(1)  # type: ignore[union-attr]
    session = aiohttp.ClientSession()
    async with session.get(f"http://127.0.0.1:{port}/json") as resp:
        target = next(t for t in await resp.json() if t["type"] == "page")
    ws = await session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
    page = DevTools(ws)
    await page.navigate(url)
    return proc, session, page


async def test_a_correction_made_on_the_page_reaches_the_feedback_topic(broker, tiny_models, tmp_path):
    topic = unique("page")
    settings = daemon_settings(broker.bootstrap, tiny_models, topic,
                               http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN},
                               review={"max_margin": 1.0})  # random-weight models: queue everything
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    texts = [HOSTILE] + [f"lender {i} cuts its forecast" for i in range(9)]
    await produce(broker.bootstrap, topic, [json.dumps({"id": f"p{i}", "text": t}).encode() for i, t in enumerate(texts)])
    daemon = Daemon(settings, Metrics())
    run = asyncio.create_task(daemon.run())
    proc = session = None
    try:
        await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= len(texts))
        assert daemon.desk.log is not None
        await asyncio.wait_for(daemon.desk.log.ready.wait(), 60)
        proc, session, page = await open_page(f"http://127.0.0.1:{daemon.http_port}/", tmp_path / "profile")

        async def queue_drawn() -> bool:
            return await page.eval("document.querySelectorAll('[data-testid=review-item]').length") == len(texts)

        await wait_until(queue_drawn, timeout=30)
        # hostile text is shown as text: no element came from it, and its script never ran
        assert await page.eval("document.querySelectorAll('#review img, #review script').length") == 0
        assert HOSTILE in await page.eval("document.querySelector('[data-id=p0] .text').textContent")
        assert await page.eval("document.title") == "textmon status"

        current = await page.eval("document.querySelector('[data-id=p0] .labels b').textContent")
        wanted = "politics" if current != "politics" else "sport"
        await page.eval(f"""(() => {{
            document.querySelector('[data-testid=correct][data-id=p0]').click();
            const editor = document.querySelector('[data-id=p0] [data-testid=editor]');
            editor.querySelector('select[data-task=topic]').value = {json.dumps(wanted)};
            editor.querySelector('[data-field=who]').value = 'page-analyst';
            editor.querySelector('[data-field=token]').value = {json.dumps(ADMIN)};
            editor.querySelector('[data-testid=send]').click();
        }})()""")

        async def saved() -> bool:
            return await page.eval("document.querySelector('[data-id=p0] [data-testid=result]')?.textContent") == "saved"

        await wait_until(saved, timeout=30)
        shot = await page.call("Page.captureScreenshot", format="png")
        (tmp_path / "review-correction.png").write_bytes(base64.b64decode(shot["data"]))
        print(f"review queue screenshot: {tmp_path / 'review-correction.png'}")
    finally:
        if session is not None:
            await session.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        daemon.request_stop()
        assert await run == 0

    records = await consume_until(broker.bootstrap, [feedback_topic(settings)], lambda rs: len(rs) >= 1)
    written = [r.json() for r in records]
    assert [(w["id"], w["topic"], w["who"], w["text"]) for w in written] == [("p0", wanted, "page-analyst", HOSTILE)]
    assert written[0]["predicted"] == {"topic": current} and written[0]["model_versions"]["topic"]
