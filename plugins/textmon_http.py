"""HTTP delivery shared by the webhook, Slack and Alertmanager sinks: timeouts and polite retries.

Retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff and
jitter, honouring ``Retry-After``; any other 4xx is final, since retrying cannot fix it.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, ClassVar, Generic, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationError

from monitor.logs import get_logger
from monitor.redact import register, safe_url, scrub
from monitor.sinks import SinkConfigError

log = get_logger(__name__)


class RetryOptions(BaseModel):
    """Timeout and retry options every HTTP sink accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(5.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    backoff_initial_seconds: float = Field(0.5, gt=0)
    backoff_max_seconds: float = Field(30.0, gt=0)


def secret_url(value: SecretStr) -> str:
    """The URL a ``SecretStr`` option holds, checked to be one (its path or query may be the credential)."""
    try:
        return str(HttpUrl(value.get_secret_value()))
    except ValidationError:  # its message would quote the URL
        raise ValueError("the URL is not a valid http(s) URL (value not shown: it is a credential)") from None


class DeliveryError(Exception):
    """The receiver did not accept the request after every attempt (or refused it outright)."""


async def post_with_retries(
    session: aiohttp.ClientSession, sink: str, url: str, body: bytes, headers: Callable[[], dict[str, str]],
    opts: RetryOptions,
) -> None:
    """POST ``body``; ``headers`` is called per attempt (signatures carry a timestamp). Errors name
    only the URL's scheme, host and port: its path or query may be the credential."""
    shown = safe_url(url)
    delay = opts.backoff_initial_seconds
    last = ""
    for attempt in range(1, opts.max_attempts + 1):
        retry_after: float | None = None
        try:
            async with session.post(url, data=body, headers=headers(),
                                    timeout=aiohttp.ClientTimeout(total=opts.timeout_seconds)) as resp:
                if resp.status < 300:
                    return
                last = scrub(f"HTTP {resp.status}: {(await resp.text())[:200]}")
                if resp.status < 500 and resp.status not in (408, 429):
                    raise DeliveryError(f"{shown} rejected the request: {last}")
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            last = scrub(repr(exc)).replace(url, shown)
        if attempt < opts.max_attempts:
            wait = retry_after if retry_after is not None else delay * random.uniform(0.5, 1.5)
            wait = min(wait, opts.backoff_max_seconds)
            log.warning("http sink retry", sink=sink, attempt=attempt, error=last, wait_seconds=round(wait, 2))
            await asyncio.sleep(wait)
            delay = min(delay * 2, opts.backoff_max_seconds)
    raise DeliveryError(f"{shown}: {opts.max_attempts} attempts failed, last: {last}")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


O = TypeVar("O", bound=RetryOptions)


class HttpSink(Generic[O]):
    """Base of the HTTP sinks: validates options at load (naming the sink) and owns the session."""

    kind: ClassVar[str]
    options_model: ClassVar[type[RetryOptions]]

    def __init__(self, name: str, **options: Any) -> None:
        try:
            self.options: O = self.options_model(**options)  # type: ignore[assignment]
            self.validate()
        except (ValidationError, ValueError) as exc:
            raise SinkConfigError(f"sink '{name}' ({self.kind}): {scrub(str(exc))}") from None
        # a sink built without the settings tree (tests, other programs) still keeps its secrets out of logs
        register(v.get_secret_value() for v in self.options.__dict__.values() if isinstance(v, SecretStr))
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    def validate(self) -> None:
        """Checks beyond the options model; raise ValueError."""

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, f"{type(self).__name__}.send() before start()"
        return self._session

    async def start(self) -> None:
        """Open the HTTP session."""
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Close the HTTP session; idempotent."""
        if self._session is not None:
            await self._session.close()
            self._session = None
