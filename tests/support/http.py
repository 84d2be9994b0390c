"""Calling the daemon's JSON API as a client would."""

from __future__ import annotations

from typing import Any

import aiohttp


async def api(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """``method path`` on 127.0.0.1:``port`` with a JSON body and a bearer token; (status, JSON answer)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers) as resp:
            return resp.status, await resp.json()
