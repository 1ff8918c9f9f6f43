"""Every request's work ends by its deadline or when its client leaves, whichever comes first.

`async with bounded(request, seconds, started, setting) as scope:` runs the block under one
`Deadline` (an `asyncio.timeout` that cannot be swallowed): at the deadline the block is
cancelled (an upstream call in flight is aborted, CPU work in the pool is abandoned and told so
through its `cancelled` check) and the request gets a 504 `deadline_exceeded`. When the client
goes away first (the connection's `ConnectionLink`, gateway/protocol.py), the deadline is moved
to *now*, so the work stops at once and the request ends as 499 `client_closed_request` (its
ledger row says so; no traceback, not a 5xx).

`scope.deadline` (a `time.monotonic()` value) and `scope.cancelled()` are what CPU work gets:
`await state.cpu.run(fn, ..., deadline=scope.deadline, cancel=scope.cancelled)`.

Under a server other than ours (tests' in-process ASGI clients) there is no link: only the
deadline applies.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from rightmodel.bounds import DeadlineExceeded
from rightmodel.gateway.errors import APIError
from rightmodel.gateway.protocol import ConnectionLink, link_of

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Scope:
    """What work inside `bounded` may check: its deadline and whether it should stop. `progress`
    (set by the work, e.g. "800 of 2048 texts embedded") goes into the 504's message."""

    deadline: float  # time.monotonic()
    link: ConnectionLink | None
    progress: list[str] = field(default_factory=list)

    def cancelled(self) -> bool:
        """True once the client left or the deadline passed (safe to call from any thread)."""
        return (self.link is not None and self.link.lost) or time.monotonic() >= self.deadline

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


def client_gone(link: ConnectionLink | None) -> APIError:
    """What a request whose client left is recorded as: 499, or the status the server refused
    its body with (408 when it arrived too slowly)."""
    if link is not None and link.refused == 408:
        return APIError(408, "the request body arrived too slowly (defaults.body_timeout_s, defaults.body_min_rate)",
                        code="request_timeout")
    if link is not None and link.refused == 400:
        return APIError(400, "the request body's HTTP framing is malformed", code="invalid_http_request")
    return APIError(499, "the client closed the connection before the answer was ready", code="client_closed_request")


class Deadline:
    """`asyncio.timeout`, made robust to code that swallows a cancellation.

    aiohttp's timer context uncancels the task once per nested entry when its own timeout fires
    in the same instant as ours (its `TimerContext` is entered twice for one request over a
    pooled connection): our cancellation then turns into aiohttp's TimeoutError, the fallback
    code retries, and an `asyncio.timeout` deadline is silently missed (found by the hung
    upstream test: 9 s instead of 3). So once the deadline passes, the task is cancelled again
    every `RECHECK_S` for as long as the block runs and no cancellation of ours is pending.
    `expire()` moves the deadline to now (the client left).
    """

    RECHECK_S = 0.02

    def __init__(self, when: float) -> None:
        self.when = when  # event loop time
        self.fired = False
        self._task: asyncio.Task | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._base = 0
        self._issued = 0
        self._done = False

    async def __aenter__(self) -> "Deadline":
        self._task = asyncio.current_task()
        self._base = self._task.cancelling()
        self._handle = asyncio.get_running_loop().call_at(self.when, self._fire)
        return self

    def expire(self) -> None:
        """Stop the block now (as if the deadline had passed)."""
        if not self._done and not self.fired:
            if self._handle is not None:
                self._handle.cancel()
            self._fire()

    def _fire(self) -> None:
        self._handle = None
        if self._done:
            return
        self.fired = True
        task = self._task
        if task.cancelling() <= self._base:  # none of ours pending (never sent, or swallowed)
            self._issued += 1
            task.cancel()
        self._handle = asyncio.get_running_loop().call_later(self.RECHECK_S, self._fire)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._done = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.fired:
            return False
        task = self._task
        for _ in range(min(self._issued, task.cancelling() - self._base)):
            task.uncancel()
        if exc_type is asyncio.CancelledError and task.cancelling() <= self._base:
            raise TimeoutError from exc  # ours: the block was stopped by the deadline
        return False


@asynccontextmanager
async def bounded(request: Request, seconds: float, started: float, setting: str) -> AsyncIterator[Scope]:
    """Run the block within `seconds` of `started` (a perf_counter time) and while the client is
    there; 504 naming `setting` at the deadline, 499 when the client leaves."""
    remaining = max(0.0, seconds - (time.perf_counter() - started))
    link = link_of(request.scope)
    scope = Scope(time.monotonic() + remaining, link)
    if link is not None and link.lost:
        raise client_gone(link)
    timer = Deadline(asyncio.get_running_loop().time() + remaining)
    unhook = None
    try:
        async with timer:
            if link is not None:
                unhook = link.on_lost(timer.expire)
            try:
                yield scope
            finally:
                if unhook is not None:
                    unhook()
    except DeadlineExceeded:  # CPU work that reached the same deadline a moment before the timer
        if link is not None and link.lost:
            raise client_gone(link) from None
        raise _deadline_error(seconds, setting, scope.progress) from None
    except TimeoutError:
        if not timer.fired:
            raise
        if link is not None and link.lost:
            raise client_gone(link) from None
        raise _deadline_error(seconds, setting, scope.progress) from None


def _deadline_error(seconds: float, setting: str, progress: list[str] | None = None) -> APIError:
    done = f"; {progress[-1]}" if progress else ""
    return APIError(504, f"the request did not complete within the gateway's deadline of {seconds:g} s ({setting}){done}",
                    code="deadline_exceeded")


def with_deadline(setting: str) -> Callable[[Handler], Handler]:
    """A route handler run under `bounded` with the deadline `defaults.<setting>`, from its arrival
    (for routes that write no ledger row: their APIError is rendered by the app's handler)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            seconds = getattr(request.app.state.gateway.constellation.defaults, setting)
            async with bounded(request, seconds, started, f"defaults.{setting}"):
                return await handler(request)

        return run

    return wrap
