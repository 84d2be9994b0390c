"""Credentials out of logs and error messages, structurally rather than by care at each call site.

Every secret the settings hold is registered at start-up (``register_settings``); the structlog
processor ``redact_event`` replaces any registered value, wherever it appears in a log event's
strings (an exception's text included), and also masks what looks like a credential without
being registered: a URL's user-info, query parameters named like a credential, values under a
key named like one. ``safe_url`` renders a URL for messages with only its scheme, host and port.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

MASK = "**********"
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "authorization", "webhook_url")
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:]+(:[^/\s@]*)?@")
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;](?:[a-z0-9_-]*(?:token|key|secret|password|sig|signature|auth|code)[a-z0-9_-]*)=)[^&#\s\"']+",
    re.IGNORECASE,
)

_known: set[str] = set()
_lock = threading.Lock()


def is_secret_key(key: str) -> bool:
    """Whether a setting or log field named ``key`` holds a credential (``max_tokens`` does not: a number)."""
    return any(word in key.lower() for word in SECRET_WORDS)


def carries_credential(url: str) -> bool:
    """Whether a URL holds a credential in its user-info or query string."""
    parts = urlsplit(url)
    return bool(parts.username or parts.password or parts.query)


def register(values: Iterable[str]) -> None:
    """Remember credential values so that ``scrub`` masks them wherever they appear."""
    with _lock:
        for value in values:
            if len(value) >= MIN_SECRET_CHARS:
                _known.add(value)
                # a URL's query values and path are often the token itself (Slack, Discord, ?token=)
                parts = urlsplit(value) if "://" in value else None
                if parts is not None and parts.netloc:
                    _known.update(p for p in (parts.path, parts.query) if len(p.strip("/")) >= MIN_SECRET_CHARS)
                    _known.update(v.split("=", 1)[1] for v in parts.query.split("&")
                                  if "=" in v and len(v.split("=", 1)[1]) >= MIN_SECRET_CHARS)


def register_settings(settings: BaseModel) -> None:
    """Register every ``SecretStr`` in a settings tree (sink options included)."""
    register(_secrets(settings))


def _secrets(value: Any) -> Iterable[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secrets(item)


def scrub(text: str) -> str:
    """``text`` with registered secrets, URL user-info and credential-like query values masked."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)  # a whole URL before its parts
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['name']}{MASK}", text)


def safe_url(url: str) -> str:
    """A URL as it may appear in logs and errors: scheme, host and port only."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme else MASK


def redact(value: Any, key: str = "") -> Any:
    """A log value with credentials masked (recursing into containers)."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        return MASK if key and is_secret_key(key) else scrub(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value]
    if isinstance(value, BaseException):
        return scrub(repr(value))
    return value


def redact_event(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask credentials in every field of the event (after exceptions are formatted)."""
    return {k: redact(v, k if k not in ("event", "level", "timestamp", "logger") else "") for k, v in event.items()}
