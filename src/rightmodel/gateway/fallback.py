"""Calling remote models: retries with jittered exponential backoff, then the next fallback.

A retryable failure (timeout, connection, 408/409/429/5xx) is retried on the same backend up to
`defaults.retries` times, waiting the upstream's Retry-After when it sent one (capped), else a
jittered exponential backoff; then the model's `fallbacks` are tried in order. A non-retryable
failure (a 4xx the client caused) is relayed at once: another backend would refuse it too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from rightmodel.gateway.backends.base import ChatBackend, UpstreamError
from rightmodel.gateway.errors import APIError

T = TypeVar("T")


@dataclass
class Attempts:
    """What happened on the way to an answer; goes into the ledger's `extra`."""

    served_by: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return bool(self.failures) and self.served_by is not None


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
) -> T:
    """`call(backend, model_name)` on each model of `chain` until one answers."""
    last: UpstreamError | None = None
    for name in chain:
        backend = backends[name]
        # The first attempt runs bare: the retry machinery is only built once something failed.
        try:
            result = await call(backend, name)
            attempts.served_by = name
            return result
        except UpstreamError as exc:
            attempts.failures.append(_describe(name, exc))
            if not exc.retryable:
                raise relay(exc, name) from None
            last = exc
        if policy.retries == 0:
            continue
        await asyncio.sleep(policy.first_wait(last))
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(policy.retries),
                wait=policy.wait,
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    try:
                        result = await call(backend, name)
                    except UpstreamError as exc:
                        attempts.failures.append(_describe(name, exc))
                        raise
            attempts.served_by = name
            return result
        except UpstreamError as exc:
            if not exc.retryable:
                raise relay(exc, name) from None
            last = exc
    assert last is not None
    raise exhausted(last, chain)


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
