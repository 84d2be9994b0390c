"""The HTTP endpoint: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for Kubernetes,
the status page at ``/`` and its data at ``/api/status``.

Every response carries security headers (a content security policy that allows only the page's
own inline script and style, by hash). With a token configured, ``/`` and ``/api/*`` need it,
as ``Authorization: Bearer TOKEN`` or as the password of HTTP Basic (which a browser asks for and
then sends with the page's own requests); probes and metrics stay open for the kubelet and
Prometheus.

Every state-changing request (any method but GET, HEAD and OPTIONS) needs ``http.admin_token`` as
``Authorization: Bearer TOKEN`` instead: Bearer only, since a browser resends Basic credentials to
any site's form on its own. Without an admin token configured those requests get 403; with a
wrong or missing one, 401. Either way the handler never runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.metrics import Metrics

STATUS_PAGE = Path(__file__).resolve().parent / "bundled" / "status" / "index.html"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def content_security_policy(page: Path = STATUS_PAGE) -> str:
    """A policy that lets the status page run its own inline script and style, and nothing else."""
    html = page.read_text(encoding="utf-8") if page.is_file() else ""

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        digests = [base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in found]
        return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def security_headers(csp: str) -> dict[str, str]:
    """Headers sent with every response."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def without_text(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert's JSON with the message text in it removed: exemplar snippets, the over-represented
    terms (in ``terms`` and in the ``terms`` annotation), and the same in an incident's parts."""
    out = {**alert, "exemplars": [{**e, "snippet": ""} for e in alert.get("exemplars", [])], "terms": []}
    if "annotations" in alert:
        out["annotations"] = {k: v for k, v in alert["annotations"].items() if k != "terms"}
    if "parts" in alert:
        out["parts"] = [without_text(p) for p in alert["parts"]]
    return out


def authorised(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``token`` (Bearer, or Basic with it as the password)."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode(), token.encode())


class HealthServer:
    """Serves metrics, probes and the status page; the callables are asked on every request."""

    def __init__(
        self, metrics: Metrics, ready: Callable[[], dict[str, bool]], host: str, port: int,
        status: Callable[[], dict[str, Any]] | None = None, token: str | None = None,
        why: Callable[[], list[str]] | None = None, admin_token: str | None = None,
        refused: Callable[[str], None] | None = None,
    ) -> None:
        self.why = why
        self.admin_token = admin_token
        self.refused = refused  # told why a state-changing request was refused (a metric counts it)
        self.metrics = metrics
        self.token = token
        self.headers = security_headers(content_security_policy())
        self.ready = ready
        self.status = status
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._auth])
        self.app.on_response_prepare.append(self._secure)
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/api/status", self._status)
        self.app.router.add_get("/", self._page)

    async def _secure(self, _: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(self.headers)  # errors and 404s included

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in SAFE_METHODS:
            return await self._admin(request, handler)
        guarded = request.path == "/" or request.path.startswith("/api/")
        if self.token and guarded and not authorised(request.headers.get("Authorization"), self.token):
            return web.json_response({"error": "authorisation required (http.auth_token)"}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="textmon", charset="UTF-8"'})
        return await handler(request)

    async def _admin(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A state-changing request: off without an admin token, 401 without the right one."""
        if not self.admin_token:
            self._refuse("off")
            return web.json_response({"error": "state-changing endpoints are off: set http.admin_token"}, status=403)
        header = request.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), self.admin_token.encode()):
            self._refuse("unauthorised")
            return web.json_response({"error": "authorisation required (Bearer http.admin_token)"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="textmon-admin"'})
        return await handler(request)

    def _refuse(self, reason: str) -> None:
        if self.refused is not None:
            self.refused(reason)

    async def start(self) -> int:
        """Listen; returns the bound port (useful when configured as 0)."""
        assert self._runner is None, "HealthServer.start() called twice"
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound socket only here
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, _: web.Request) -> web.Response:
        checks = self.ready()
        ok = all(checks.values())
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        if self.why is not None and (why := self.why()):
            body["why"] = why
        return web.json_response(body, status=200 if ok else 503)

    async def _status(self, _: web.Request) -> web.Response:
        body = self.status() if self.status is not None else {}
        return web.json_response({"ready": all(self.ready().values()), "checks": self.ready(), **body},
                                 headers={"Cache-Control": "no-store"})

    async def _page(self, _: web.Request) -> web.Response:
        if not STATUS_PAGE.is_file():
            return web.Response(text="textmon: see /metrics, /healthz, /readyz, /api/status\n")
        return web.FileResponse(STATUS_PAGE, headers={"Cache-Control": "no-cache"})
