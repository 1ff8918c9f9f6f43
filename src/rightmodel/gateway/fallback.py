"""Calling remote models: circuit breakers, retries with jittered exponential backoff, then the
next fallback; for streams, all of that up to the first content token.

A backend whose circuit is open is skipped (backends/breaker.py). A retryable failure (timeout,
connection, 408/409/429/5xx, a stream that breaks before its first content) is retried on the same
backend up to `defaults.retries` times, waiting the upstream's Retry-After when it sent one
(capped), else a jittered exponential backoff; then the model's `fallbacks` are tried in order. A
non-retryable failure (a 4xx the client caused) is relayed at once: another backend would refuse
it too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from tenacity import AsyncRetrying, retry_if_exception

from rightmodel.backends.base import ChatBackend, ChatStream, UpstreamError, Usage
from rightmodel.backends.breaker import UNGUARDED, CircuitBreaker, Permit, seconds_until_probe
from rightmodel.gateway.errors import APIError

T = TypeVar("T")


@dataclass
class Attempts:
    """What happened on the way to an answer; goes into the ledger's `extra` and the reason."""

    served_by: str | None = None
    failures: list[str] = field(default_factory=list)  # one line per failed attempt
    failed: list[str] = field(default_factory=list)  # backends tried and given up on
    circuit_open: list[str] = field(default_factory=list)  # backends skipped: their circuit was open
    passed_over: list[str] = field(default_factory=list)  # "primary circuit open", "backup failed", in chain order
    errors: list[tuple[str, str]] = field(default_factory=list)  # (model, error_kind) per failed attempt, for /metrics

    @property
    def fell_back(self) -> bool:
        return bool(self.passed_over) and self.served_by is not None

    def fallback_reason(self) -> str:
        """e.g. "primary circuit open, fell back to backup" (empty when nothing was passed over)."""
        if not self.passed_over:
            return ""
        tail = f", fell back to {self.served_by}" if self.served_by else ""
        return ", ".join(self.passed_over) + tail

    def ledger_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.failures:
            extra["attempts"] = self.failures
        if self.failed:
            extra["failed"] = self.failed
        if self.circuit_open:
            extra["circuit_open"] = self.circuit_open
        return extra


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.retryable


class RetryPolicy:
    """Jittered exponential backoff: retry k (k = 1, 2, ...) waits backoff·2^(k-1) plus up to one
    `backoff` of random jitter, capped; an upstream's Retry-After replaces it (also capped)."""

    def __init__(self, retries: int, backoff_s: float, backoff_max_s: float) -> None:
        self.retries = retries
        self.backoff = backoff_s
        self.cap = backoff_max_s

    def delay(self, retry: int, exc: BaseException | None) -> float:
        if isinstance(exc, UpstreamError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.cap)
        return min(self.cap, self.backoff * 2 ** (retry - 1) + random.uniform(0, self.backoff))

    def first_wait(self, exc: UpstreamError) -> float:
        return self.delay(1, exc)

    def wait(self, state) -> float:
        """tenacity's wait hook; its attempt 1 is our first retry, so the next wait is retry 2."""
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(state.attempt_number + 1, exc)


async def call_with_fallbacks(
    chain: list[str],
    backends: Mapping[str, ChatBackend],
    policy: RetryPolicy,
    call: Callable[[ChatBackend, str], Awaitable[T]],
    attempts: Attempts,
    breakers: Mapping[str, CircuitBreaker] | None = None,
) -> T:
    """`call(backend, model_name)` on each model of `chain` until one answers.

    A model whose circuit is open is skipped; each turn's outcome is reported to its breaker
    (success; retryable failure; or neither, for a relayed 4xx or a cancelled request). When every
    model of the chain was skipped the answer is a 503 with Retry-After = time to the first probe.
    """
    last: UpstreamError | None = None
    for name in chain:
        breaker = breakers.get(name) if breakers is not None else None
        permit = breaker.acquire() if breaker is not None else UNGUARDED
        if permit is None:
            attempts.circuit_open.append(name)
            attempts.passed_over.append(f"{name} circuit open")
            continue
        try:
            result = await _turn(name, backends[name], policy, call, attempts, permit)
        except UpstreamError as exc:
            if not exc.retryable:
                permit.release()
                raise relay(exc, name) from None
            permit.fail()
            attempts.failed.append(name)
            attempts.passed_over.append(f"{name} failed")
            last = exc
            continue
        except BaseException:
            permit.release()  # cancelled (client gone, shutdown): says nothing about the upstream
            raise
        permit.succeed()
        attempts.served_by = name
        return result
    if last is None:
        raise circuits_open(chain, [breakers[n] for n in chain if breakers is not None and n in breakers])
    raise exhausted(last, chain)


async def _turn(
    name: str,
    backend: ChatBackend,
    policy: RetryPolicy,
    call: Callable[[ChatBackend, str], Awaitable[T]],
    attempts: Attempts,
    permit: Permit,
) -> T:
    """One backend's go: a first attempt, then up to `policy.retries` retries of retryable
    failures, for as long as its circuit stays as it was when the turn began."""
    # The first attempt runs bare: the retry machinery is only built once something failed.
    try:
        return await call(backend, name)
    except UpstreamError as exc:
        _failed(attempts, name, exc)
        if not exc.retryable or policy.retries == 0:
            raise
        first = exc
    await asyncio.sleep(policy.first_wait(first))
    if not permit.current:
        raise first  # other requests opened the circuit meanwhile: stop hammering this backend
    result: Any = None
    async for attempt in AsyncRetrying(
        stop=lambda state: state.attempt_number >= policy.retries or not permit.current,
        wait=policy.wait,
        retry=retry_if_exception(_retryable),
        reraise=True,
    ):
        with attempt:
            try:
                result = await call(backend, name)
            except UpstreamError as exc:
                _failed(attempts, name, exc)
                raise
    return result


def error_kind(exc: UpstreamError) -> str:
    """A failure's kind for the upstream-errors metric, from a fixed set: timeout, connect,
    protocol, http_429, http_5xx, http_4xx (so an upstream's status can never widen the labels)."""
    if exc.kind != "http":
        return exc.kind if exc.kind in ("timeout", "connect", "protocol") else "other"
    status = exc.status or 0
    return "http_429" if status == 429 else "http_5xx" if status >= 500 else "http_4xx"


def _failed(attempts: Attempts, name: str, exc: UpstreamError) -> None:
    attempts.failures.append(_describe(name, exc))
    attempts.errors.append((name, error_kind(exc)))


def _describe(name: str, exc: UpstreamError) -> str:
    return f"{name}: {exc.kind} {exc.status or ''} {exc}".strip()[:200]


def relay(exc: UpstreamError, name: str) -> APIError:
    """An upstream's own refusal (4xx), passed to the client with its message."""
    status = exc.status if exc.status and 400 <= exc.status < 500 else 502
    upstream = (exc.body or {}).get("error") if isinstance(exc.body, dict) else None
    message = upstream.get("message") if isinstance(upstream, dict) and upstream.get("message") else str(exc)
    param = upstream.get("param") if isinstance(upstream, dict) else None
    code = upstream.get("code") if isinstance(upstream, dict) else None
    return APIError(status, f"{name}: {message}", param=param, code=code or "upstream_error")


def exhausted(exc: UpstreamError, chain: list[str]) -> APIError:
    """Every model of the chain failed; 504 if the last failure was a timeout, 429 if rate limited."""
    status = 504 if exc.kind == "timeout" else 429 if exc.status == 429 else 502
    headers: dict[str, Any] = {}
    if status == 429 and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return APIError(status, f"no model could answer ({' -> '.join(chain)}): {exc}", code="upstream_unavailable", headers=headers)


def circuits_open(chain: list[str], breakers: list[CircuitBreaker]) -> APIError:
    """Every model of the chain was skipped: their upstreams failed repeatedly and are resting."""
    wait = seconds_until_probe(breakers)
    return APIError(
        503,
        f"no model could answer ({' -> '.join(chain)}): the circuit of each is open after repeated upstream failures;"
        f" retry in {wait} s",
        code="upstream_unavailable",
        headers={"Retry-After": str(wait)},
    )


# ---------------------------------------------------------------------------- streams up to first content

# Delta fields that put part of the answer in front of the client. Reasoning counts: once a
# client has seen it, another model's answer could no longer be spliced in without showing.
_CONTENT_FIELDS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content", "reasoning")
_DONE_PREFIX = b"data: [DONE]"


def carries_content(frame: bytes) -> bool:
    """Whether a `data: {chat.completion.chunk}` frame holds a non-empty piece of the answer."""
    try:
        chunk = orjson.loads(frame[6:] if frame.startswith(b"data:") else frame)
    except orjson.JSONDecodeError:
        return False
    choices = chunk.get("choices") if type(chunk) is dict else None
    if type(choices) is not list:
        return False
    for choice in choices:
        delta = choice.get("delta") if type(choice) is dict else None
        if type(delta) is dict and any(delta.get(key) for key in _CONTENT_FIELDS):
            return True
    return False


class PrimedStream:
    """A `ChatStream` already read up to its first content frame (or its end): replays the frames
    read so far, then goes on with the upstream's."""

    def __init__(self, inner: ChatStream, head: list[bytes], rest: AsyncIterator[bytes]) -> None:
        self._inner = inner
        self._head = head
        self._rest = rest
        self._gen: Any = None

    @property
    def usage(self) -> Usage:
        return self._inner.usage

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._gen is None:
            self._gen = self._frames()
        return self._gen

    async def _frames(self) -> AsyncIterator[bytes]:
        head, self._head = self._head, []
        for frame in head:
            yield frame
        async for frame in self._rest:
            yield frame

    async def aclose(self) -> None:
        """Aborts the upstream call (see `ChatStream.aclose`); safe at any time, more than once."""
        await self._inner.aclose()
        gen = self._gen
        if gen is not None:
            try:
                await gen.aclose()
            except RuntimeError:  # running in another task, which will see the upstream closed
                pass


async def open_primed(backend: ChatBackend, body: dict[str, Any], first_token_s: float) -> PrimedStream:
    """Open a stream and read it up to the first frame that carries content (or `[DONE]`).

    An upstream can answer 200 and then send an error event, malformed SSE, nothing at all, or
    close the connection. Before any content has reached the client such a stream is a failure of
    this backend like an error status (retried, then the next fallback, counted by its breaker),
    rather than an in-band error in an answer that has barely started. `first_token_s` bounds the
    time from sending the request to the first content.
    """
    stream: ChatStream | None = None
    head: list[bytes] = []
    try:
        async with asyncio.timeout(first_token_s):
            stream = await backend.open_stream(body)
            frames = aiter(stream)
            async for frame in frames:  # a break leaves the generator open for PrimedStream
                head.append(frame)
                if frame.startswith(_DONE_PREFIX) or carries_content(frame):
                    break
    except TimeoutError:
        if stream is not None:
            await stream.aclose()
        raise UpstreamError(
            f"{backend.name}: no content within the first-token timeout ({first_token_s:g} s)", kind="timeout", retryable=True
        ) from None
    except BaseException:
        if stream is not None:
            await stream.aclose()
        raise
    return PrimedStream(stream, head, frames)
