"""The status page at / in headless Chromium, against a daemon fed with the sample stream."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from tests.deploy.conftest import REPO
from tests.support.streams import http_get

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1280,1100",
    # Virtual time runs the page's scripts (and its fetch of /api/status) before the dump.
    "--virtual-time-budget=8000",
]


class MarkedElements(HTMLParser):
    """Collects the attributes of elements carrying data-testid, and the text inside #readiness."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[dict[str, str]]] = {}
        self.readiness = ""
        self._in_readiness = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-testid" in a:
            self.found.setdefault(a["data-testid"], []).append(a)
        self._in_readiness = a.get("id") == "readiness"

    def handle_data(self, data: str) -> None:
        if self._in_readiness:
            self.readiness += data

    def handle_endtag(self, tag: str) -> None:
        self._in_readiness = False


async def chromium(url: str, out: Path, *action: str) -> subprocess.CompletedProcess[str]:
    profile = out / f"profile-{len(list(out.glob('profile-*')))}"
    args = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, url]
    proc = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


async def test_status_page_shows_topics_alerts_models_and_readiness(fed_daemon, tmp_path):
    url = fed_daemon.url + "/"
    dom = (await chromium(url, tmp_path, "--dump-dom")).stdout
    _, body = await http_get(fed_daemon.url + "/api/status")
    status = json.loads(body)  # what the page read a moment ago (other tests may have added traffic)
    (tmp_path / "status.html").write_text(dom)
    page = MarkedElements()
    page.feed(dom)

    expected_topics = {t["topic"] for t in status["topics"]}
    shown_topics = {t["data-topic"] for t in page.found.get("topic", [])}
    assert shown_topics == expected_topics and len(shown_topics) >= 2, (shown_topics, expected_topics)

    firing = {(a["rule"], a["key"]) for a in status["alerts"]}
    shown_alerts = {(a["data-rule"], a["data-key"]) for a in page.found.get("alert", [])}
    assert shown_alerts & firing, (shown_alerts, firing)  # alerts may change between the page's read and ours
    # The alert's explanation, as rendered (the page's own script text left out).
    rendered = re.sub(r"<script.*?</script>", "", dom, flags=re.S)
    block = rendered[rendered.index('data-testid="alert"'):rendered.index('data-testid="topics"')]
    alert = next(a for a in status["alerts"] if (a["rule"], a["key"]) in shown_alerts)
    assert f"observed <b>{alert['observed'] * 100:.1f}%</b>" in block
    assert f"expected <b>{alert['expected'] * 100:.1f}%</b>" in block
    assert f"[{alert['severity']}] {alert['rule']} — " in block and 'class="summary"' in block
    assert alert["exemplars"] and all(e["id"] in block for e in alert["exemplars"])

    assert page.readiness.strip() == "ready"
    assert len(page.found.get("model", [])) >= 2  # topic and sentiment models of the default route
    assert dom.count("<polyline") == 2 * len(expected_topics)  # a volume and a sentiment line per topic

    shot = tmp_path / "status-page.png"
    await chromium(url, tmp_path, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"status page screenshot: {shot}")


def test_status_page_loads_nothing_from_elsewhere():
    page = (REPO / "monitor" / "bundled" / "status" / "index.html").read_text()
    assert not re.search(r"""(src|href|action)\s*=\s*["'](https?:)?//""", page), "external resource in the status page"
    assert not re.search(r"""(fetch|import)\s*\(\s*["'`](https?:)?//""", page), "the page may talk only to the daemon"
    assert sorted(re.findall(r"""fetch\(\s*["']([^"']+)""", page)) == ["api/feedback", "api/review", "api/shadow", "api/status"]
