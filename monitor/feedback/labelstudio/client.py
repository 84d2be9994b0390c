"""The few calls of Label Studio's REST API that the round trip needs, over plain HTTP.

A token is either a personal access token (a JWT refresh token, exchanged once for an access token
sent as ``Bearer``) or a legacy API token (sent as ``Token``), as Label Studio's own SDK does. The
token is a ``SecretStr``: errors name the URL and what Label Studio answered, never the token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from pydantic import SecretStr

TIMEOUT = 120.0  # an import or export of a large project takes a while


class LabelStudioError(Exception):
    """Label Studio could not be reached or refused a call; the message says which and what to check."""


class LabelStudio:
    """A Label Studio server at ``url``, called with ``token``."""

    def __init__(self, url: str, token: SecretStr) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._authorization: str | None = None

    def create_project(self, title: str, label_config: str) -> int:
        """A new project annotated with ``label_config``; its id."""
        project = self._call("POST", "/api/projects", {"title": title, "label_config": label_config})
        return int(project["id"])

    def project(self, project_id: int) -> dict[str, Any]:
        """A project's settings (its ``label_config`` among them)."""
        return dict(self._call("GET", f"/api/projects/{project_id}"))

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Add tasks (with their predictions) to a project; how many it took."""
        answer = self._call("POST", f"/api/projects/{project_id}/import", tasks)
        return int(answer.get("task_count", len(tasks)))

    def export(self, project_id: int) -> list[Any]:
        """The project's tasks with their annotations, as its JSON export has them."""
        return list(self._call("GET", f"/api/projects/{project_id}/export?exportType=JSON&download_all_tasks=true"))

    def users(self) -> dict[int, str]:
        """User id -> email (annotations name their annotator by id)."""
        found = self._call("GET", "/api/users")
        items = found.get("results", []) if isinstance(found, dict) else found
        return {int(u["id"]): str(u.get("email") or u.get("username") or u["id"]) for u in items if "id" in u}

    def _auth(self) -> str:
        if self._authorization is None:
            token = self._token.get_secret_value().strip()
            if token.count(".") == 2:  # a JWT: a personal access token, good for short-lived access tokens
                access = self._request("POST", "/api/token/refresh/", {"refresh": token}, None)
                self._authorization = f"Bearer {access['access']}"
            else:
                self._authorization = f"Token {token}"
        return self._authorization

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, path, body, self._auth())

    def _request(self, method: str, path: str, body: Any, authorization: str | None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if authorization is not None:
            headers["Authorization"] = authorization
        url = self.url + path
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310 - the operator's own server
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace")
            hint = {401: "; is the token (LABEL_STUDIO_API_KEY) right, and are its kind of tokens enabled?",
                    403: "; may this token's user reach the project?",
                    404: "; does the project exist on this server?"}.get(exc.code, "")
            raise LabelStudioError(f"Label Studio {method} {_without_query(url)}: HTTP {exc.code} {detail}{hint}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabelStudioError(f"cannot reach Label Studio at {self.url}: {reason}; is the server up and the "
                                   "URL right?") from None
        try:
            return json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise LabelStudioError(f"Label Studio {method} {_without_query(url)} did not answer JSON; is {self.url} "
                                   "a Label Studio server?") from None


def _without_query(url: str) -> str:
    return urllib.parse.urlsplit(url)._replace(query="").geturl()
