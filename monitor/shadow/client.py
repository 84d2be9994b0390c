"""``monitor models ...``: the running daemon's model lineup, through its admin API.

``status`` prints ``GET /api/models``; ``candidate`` loads one in shadow, ``drop`` removes it,
``promote VERSION`` and ``rollback`` switch the live models between batches. The daemon's
address is ``--url`` or ``http.host``:``http.port`` of the settings; changes send the admin token
``http.admin_token`` (``MONITOR_HTTP__ADMIN_TOKEN``) as Bearer, ``status`` sends ``http.auth_token``
when one guards the API.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The ``models`` command and its subcommands (the caller sets what runs them)."""
    models = sub.add_parser("models", help="the running daemon's models: status, shadow candidate, promote, rollback")
    models.add_argument("--url", help="the daemon's HTTP endpoint (default: http.host:http.port of the settings)")
    actions = models.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="live, candidate and previous models, and the switches made")
    cand = actions.add_parser("candidate", help="load a candidate in shadow beside a live route")
    cand.add_argument("--bundle", help="bundle folder or bundled:NAME")
    cand.add_argument("--topic", help="Hugging Face topic model folder")
    cand.add_argument("--sentiment", help="Hugging Face sentiment model folder")
    cand.add_argument("--route", default="default", help="the live route it shadows (default, or a language)")
    cand.add_argument("--sample-rate", type=float, default=1.0, help="share of the route's batches it classifies")
    actions.add_parser("drop", help="stop shadowing the candidate")
    promote = actions.add_parser("promote", help="make the candidate live, between batches")
    promote.add_argument("version", help="the candidate's name@version (monitor models status shows it)")
    actions.add_parser("rollback", help="make the models live before the last switch live again")
    return models  # type: ignore[no-any-return]


def run(args: argparse.Namespace, settings: Any) -> int:
    """Call the daemon for ``args.action``; print its JSON answer."""
    url = (args.url or _default_url(settings)).rstrip("/")
    token = settings.http.admin_token.get_secret_value() if settings.http.admin_token is not None else None
    if args.action == "status":
        reader = settings.http.auth_token.get_secret_value() if settings.http.auth_token is not None else None
        return _call("GET", f"{url}/api/models", None, reader)
    if args.action == "candidate":
        body = {k: v for k, v in (("bundle", args.bundle), ("topic", args.topic), ("sentiment", args.sentiment))
                if v is not None}
        return _call("POST", f"{url}/api/models/candidate",
                      {**body, "route": args.route, "sample_rate": args.sample_rate}, token)
    if args.action == "drop":
        return _call("DELETE", f"{url}/api/models/candidate", None, token)
    if args.action == "promote":
        return _call("POST", f"{url}/api/models/promote", {"version": args.version}, token)
    return _call("POST", f"{url}/api/models/rollback", {}, token)


def _default_url(settings: Any) -> str:
    host = settings.http.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{host}:{settings.http.port}"


def _call(method: str, url: str, body: dict[str, Any] | None, token: str | None) -> int:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        # a load warms the candidate up, and a switch waits for a batch boundary: both take a while
        with urllib.request.urlopen(request, timeout=300) as resp:  # noqa: S310 - the operator's own daemon
            print(json.dumps(json.loads(resp.read()), indent=2, ensure_ascii=False))
            return 0
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            error = exc.reason
        needed = "http.auth_token" if method == "GET" else "http.admin_token, e.g. MONITOR_HTTP__ADMIN_TOKEN"
        hint = f" (set {needed})" if exc.code in (401, 403) else ""
        print(f"refused ({exc.code}): {error}{hint}", file=sys.stderr)
        return EXIT_REFUSED
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the daemon at {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
