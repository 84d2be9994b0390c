"""The HTTP endpoints of shadow and promotion, mounted on the daemon's server.

``GET /api/shadow`` (the comparison, both sides' alerts, the switches), ``GET /api/models`` (what
runs), ``POST /api/models/candidate`` (load a candidate in shadow: the body is a
``models.candidate`` spec), ``DELETE /api/models/candidate``, ``POST /api/models/promote``
(``{"version": "name@version"}``) and ``POST /api/models/rollback``. The server's middleware
(``monitor.server``) guards every state-changing request with ``http.admin_token`` first.
A bad request is answered 400 naming the field; it never stops the daemon.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from monitor.settings import CandidateSettings
from monitor.shadow.desk import ShadowDesk
from monitor.shadow.lineup import LineupError


class ShadowApi:
    """Routes over one ``ShadowDesk``."""

    def __init__(self, desk: ShadowDesk) -> None:
        self.desk = desk

    def mount(self, app: web.Application) -> None:
        """Add the routes to the HTTP server's application (before it starts)."""
        app.router.add_get("/api/shadow", self._shadow)
        app.router.add_get("/api/models", self._models)
        app.router.add_post("/api/models/candidate", self._load)
        app.router.add_delete("/api/models/candidate", self._drop)
        app.router.add_post("/api/models/promote", self._promote)
        app.router.add_post("/api/models/rollback", self._rollback)

    async def _shadow(self, _: web.Request) -> web.Response:
        return web.json_response(self.desk.to_json(), headers={"Cache-Control": "no-store"})

    async def _models(self, _: web.Request) -> web.Response:
        body = self.desk.to_json()
        return web.json_response({k: body[k] for k in ("live", "candidate", "previous", "switches")},
                                 headers={"Cache-Control": "no-store"})

    async def _load(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        try:
            spec = CandidateSettings(**body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "candidate"
            raise _refusal(400, where, err["msg"]) from None
        except TypeError as exc:
            raise _refusal(400, "candidate", str(exc)) from None
        try:
            candidate = await self.desk.load(spec, via="api")
        except LineupError as exc:
            raise _refusal(exc.status, exc.field, str(exc)) from None
        return web.json_response({"candidate": candidate.to_json()}, status=201)

    async def _drop(self, _: web.Request) -> web.Response:
        if not self.desk.drop():
            raise _refusal(404, "candidate", "no candidate is loaded")
        return web.json_response({"candidate": None})

    async def _promote(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        version = body.get("version")
        if not isinstance(version, str) or not version:
            raise _refusal(400, "version", "name the candidate's model version to promote, as name@version")
        try:
            switch = await self.desk.promote(version)
        except LineupError as exc:
            raise _refusal(exc.status, exc.field, str(exc)) from None
        return web.json_response({"switch": switch})

    async def _rollback(self, _: web.Request) -> web.Response:
        try:
            switch = await self.desk.rollback()
        except LineupError as exc:
            raise _refusal(exc.status, exc.field, str(exc)) from None
        return web.json_response({"switch": switch})


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise _refusal(415, "body", "send application/json")
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _refusal(400, "body", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _refusal(400, "body", "the body must be a JSON object")
    return body


def _refusal(status: int, field: str, message: str) -> web.HTTPException:
    """An error answer naming the field at fault."""
    text = message if message.startswith(f"{field}:") else f"{field}: {message}"
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 409: web.HTTPConflict, 415: web.HTTPUnsupportedMediaType,
           503: web.HTTPServiceUnavailable}.get(status, web.HTTPBadRequest)
    return cls(text=json.dumps({"error": text, "field": field}), content_type="application/json")
