"""The HTTP endpoint's safe defaults: loopback, security headers everywhere, an optional token."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from monitor.metrics import Metrics
from monitor.server import HealthServer, without_text
from monitor.settings import HttpSettings, Settings

TOKEN = "a-long-enough-token-1234"


async def fetch(port: int, path: str, auth: str | None = None) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": auth} if auth else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
            return resp.status, dict(resp.headers), await resp.text()


@pytest.fixture
async def server():  # type: ignore[no-untyped-def]
    srv = HealthServer(Metrics(), lambda: {"ok": True}, "127.0.0.1", 0, lambda: {"topics": []}, TOKEN)
    port = await srv.start()
    yield port
    await srv.stop()


def test_the_default_bind_is_loopback() -> None:
    assert Settings().http.host == "127.0.0.1"
    with pytest.raises(ValueError, match="auth_token"):
        HttpSettings(auth_token="short")


@pytest.mark.parametrize("path", ["/", "/api/status", "/metrics", "/healthz", "/readyz", "/nowhere"])
async def test_every_response_carries_security_headers(server: int, path: str) -> None:
    _, headers, _ = await fetch(server, path)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


async def test_the_page_and_api_need_the_token_and_probes_do_not(server: int) -> None:
    for path in ("/", "/api/status"):
        status, headers, _ = await fetch(server, path)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        assert (await fetch(server, path, "Bearer wrong-token-xxxxxxxx"))[0] == 401
        assert (await fetch(server, path, f"Bearer {TOKEN}"))[0] == 200
        basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        assert (await fetch(server, path, f"Basic {basic}"))[0] == 200  # what a browser sends after asking
    for path in ("/metrics", "/healthz", "/readyz"):
        assert (await fetch(server, path))[0] == 200


def test_without_text_removes_snippets_and_terms() -> None:
    alert = {"summary": "s", "exemplars": [{"id": "m1", "snippet": "secret headline", "score": 0.9}], "terms": ["x"]}
    assert without_text(alert) == {"summary": "s", "exemplars": [{"id": "m1", "snippet": "", "score": 0.9}], "terms": []}


def test_without_text_reaches_annotations_and_incident_parts() -> None:
    part = {"summary": "p", "exemplars": [{"id": "m2", "snippet": "secret part", "score": 0.8}], "terms": ["secretterm"],
            "annotations": {"summary": "p", "terms": "secretterm"}}
    incident = {**part, "summary": "2 alerts", "parts": [part, part]}
    scrubbed = json.dumps(without_text(incident))
    assert "secret" not in scrubbed
    assert without_text(incident)["annotations"] == {"summary": "p"} and len(without_text(incident)["parts"]) == 2
