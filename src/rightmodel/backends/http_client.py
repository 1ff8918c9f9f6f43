"""The HTTP plumbing every remote backend shares: one pooled client per app, failure mapping to
`UpstreamError`, Retry-After parsing, and SSE framing.

aiohttp, not httpx: on this machine's loopback an aiohttp ClientSession POST costs about a third of
the CPU of an httpx.AsyncClient POST (see the backends' report / tests/test_backends_perf.py), and
this is the pass-through hot path.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from rightmodel.backends.base import UpstreamError

USER_AGENT = "rightmodel/0.1"
RETRYABLE_STATUSES = frozenset({408, 409, 429})
# What aiohttp raises for a failed exchange (timeouts are asyncio.TimeoutError subclasses).
TRANSPORT_FAILURES = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class HttpClient:
    """One connection pool for every remote backend of an app (create it once, `aclose()` at exit).

    The aiohttp session is created on first use, inside the running event loop, so the client can
    be built before the loop starts. Cookies are ignored, proxies from the environment are not
    used (an API key must never go to a proxy nobody configured), redirects are not followed.
    """

    def __init__(
        self,
        *,
        limit: int = 1024,
        limit_per_host: int = 0,
        keepalive_timeout: float = 15.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.keepalive_timeout = keepalive_timeout
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[tuple[float | None, bool], aiohttp.ClientTimeout] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            if self._closed:
                raise RuntimeError("HttpClient is closed")
            connector = aiohttp.TCPConnector(
                limit=self.limit,
                limit_per_host=self.limit_per_host,
                keepalive_timeout=self.keepalive_timeout,
                ttl_dns_cache=300,
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout),
                trust_env=False,
                raise_for_status=False,
                skip_auto_headers=("User-Agent",),
            )
        return session

    def timeout(self, seconds: float | None, *, stream: bool = False) -> aiohttp.ClientTimeout:
        """`total` for a whole answer; for a stream, a limit on connecting and on every wait for
        bytes (headers, then each chunk), so a long stream that keeps flowing is never cut."""
        key = (seconds, stream)
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect = self.connect_timeout if seconds is None else min(seconds, self.connect_timeout)
            if stream:
                timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=seconds)
            else:
                timeout = aiohttp.ClientTimeout(total=seconds, connect=connect)
            if len(self._timeouts) < 256:
                self._timeouts[key] = timeout
        return timeout

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def make_http_client(**kwargs: Any) -> HttpClient:
    """The app's shared client (see `HttpClient` for the options). Safe to call outside the event
    loop: the pool itself is made on first use."""
    return HttpClient(**kwargs)


make_http_session = make_http_client


# ---------------------------------------------------------------------------- failures


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            ms = float(value)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms):
            return max(0.0, ms / 1000.0)
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def status_error(
    backend: str, status: int, headers: Mapping[str, str], raw: bytes, body: dict[str, Any] | None = None
) -> UpstreamError:
    """An error status from the upstream. `body` is the upstream's error JSON in OpenAI shape
    (`{"error": {...}}`); by default the raw body when it is a JSON object."""
    if body is None:
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
    detail = error_message(body) or raw[:200].decode("utf-8", "replace").strip() or "(no body)"
    return UpstreamError(
        f"{backend}: upstream answered HTTP {status}: {detail}",
        kind="http",
        status=status,
        retryable=is_retryable_status(status),
        retry_after=parse_retry_after(headers),
        body=body,
    )


def error_message(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if isinstance(body.get("message"), str):
            return body["message"]
    return None


def failure(backend: str, exc: BaseException) -> UpstreamError:
    """Map a transport exception (raised before or during a response) to an UpstreamError."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamError(f"{backend}: upstream timed out ({type(exc).__name__})", kind="timeout", retryable=True)
    if isinstance(exc, aiohttp.InvalidURL):
        return UpstreamError(f"{backend}: invalid upstream URL: {exc}", kind="connect", retryable=False)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamError(
            f"{backend}: upstream connection broke mid-response: {exc}", kind="connect", retryable=True
        )
    if isinstance(exc, aiohttp.ClientResponseError):  # unparseable HTTP from the upstream
        return UpstreamError(f"{backend}: invalid HTTP from upstream: {exc}", kind="protocol", retryable=True)
    return UpstreamError(
        f"{backend}: connection to upstream failed: {type(exc).__name__}: {exc}", kind="connect", retryable=True
    )


def protocol_error(backend: str, what: str, raw: bytes = b"") -> UpstreamError:
    snippet = raw[:120].decode("utf-8", "replace")
    return UpstreamError(
        f"{backend}: {what}" + (f": {snippet!r}" if raw else ""), kind="protocol", retryable=True
    )


# ---------------------------------------------------------------------------- SSE


class SSEFramer:
    """Cuts a byte stream into complete SSE events (each ending in a blank line), whatever the
    TCP chunk boundaries. Frames in `\\n` form come out as the exact upstream bytes; CR and CRLF
    line ends are normalised to `\\n`."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._buf:
            chunk = self._buf + chunk
        hold = b""
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):  # may be the first half of a CRLF split across chunks
                hold, chunk = b"\r", chunk[:-1]
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        frames = []
        start = 0
        find = chunk.find
        while True:
            end = find(b"\n\n", start)
            if end < 0:
                break
            frames.append(chunk[start : end + 2])
            start = end + 2
        self._buf = (chunk[start:] if start else chunk) + hold
        return frames

    def tail(self) -> bytes:
        """What is left once the stream ended (an event without its blank line, or nothing)."""
        rest, self._buf = self._buf, b""
        return rest.replace(b"\r", b"\n").strip(b"\n")


def parse_event(frame: bytes) -> tuple[bytes | None, bytes | None]:
    """(event name, data) of one SSE frame; data None for a frame without data (comments, retry)."""
    event = None
    data: list[bytes] = []
    for line in frame.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value
    return event, (b"\n".join(data) if data else None)


async def open_sse(
    http: HttpClient, url: Any, data: bytes, headers: Mapping[str, str], timeout: float, name: str
) -> tuple[aiohttp.ClientResponse | None, int, Any, bytes]:
    """POST a streaming request. Returns `(response, status, headers, b"")` when the upstream
    started an event stream, or `(None, status, headers, body)` when it answered anything else
    (an error status, or JSON instead of SSE) so the caller can map that answer its own way."""
    try:
        resp = await http.session.post(
            url, data=data, headers=headers, timeout=http.timeout(timeout, stream=True), allow_redirects=False
        )
    except TRANSPORT_FAILURES as exc:
        raise failure(name, exc) from exc
    status = resp.status
    if 200 <= status < 300 and resp.content_type != "application/json":
        return resp, status, resp.headers, b""
    try:
        raw = await resp.read()
    except TRANSPORT_FAILURES as exc:
        raise failure(name, exc) from exc
    finally:
        resp.release()
    return None, status, resp.headers, raw


async def post_json(
    http: HttpClient, url: Any, data: bytes, headers: Mapping[str, str], timeout: float, name: str
) -> tuple[int, Any, bytes, float]:
    """POST a whole (non-streamed) request: `(status, headers, body, milliseconds)`; transport
    failures become `UpstreamError`, statuses are left to the caller to map."""
    started = time.perf_counter()
    try:
        async with http.session.post(
            url, data=data, headers=headers, timeout=http.timeout(timeout), allow_redirects=False
        ) as resp:
            raw = await resp.read()
            status, resp_headers = resp.status, resp.headers
    except TRANSPORT_FAILURES as exc:
        raise failure(name, exc) from exc
    return status, resp_headers, raw, (time.perf_counter() - started) * 1000.0
