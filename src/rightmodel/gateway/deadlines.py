"""Every request's work ends by its deadline or when its client leaves, whichever comes first.

`async with bounded(request, seconds, started, setting) as scope:` runs the block under one
`asyncio.timeout`: at the deadline the block is cancelled (an upstream call in flight is aborted,
CPU work in the pool is abandoned and told so through its `cancelled` check) and the request gets
a 504 `deadline_exceeded`. When the client goes away first (the connection's `ConnectionLink`,
gateway/protocol.py), the same timeout is moved to *now*, so the work stops at once and the
request ends as 499 `client_closed_request` (its ledger row says so; no traceback, not a 5xx).

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
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from rightmodel.bounds import DeadlineExceeded
from rightmodel.gateway.errors import APIError
from rightmodel.gateway.protocol import ConnectionLink, link_of

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Scope:
    """What work inside `bounded` may check: its deadline and whether it should stop."""

    deadline: float  # time.monotonic()
    link: ConnectionLink | None

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


@asynccontextmanager
async def bounded(request: Request, seconds: float, started: float, setting: str) -> AsyncIterator[Scope]:
    """Run the block within `seconds` of `started` (a perf_counter time) and while the client is
    there; 504 naming `setting` at the deadline, 499 when the client leaves."""
    remaining = max(0.0, seconds - (time.perf_counter() - started))
    link = link_of(request.scope)
    scope = Scope(time.monotonic() + remaining, link)
    if link is not None and link.lost:
        raise client_gone(link)
    loop = asyncio.get_running_loop()
    unhook = None
    try:
        async with asyncio.timeout(remaining) as timer:
            if link is not None:
                unhook = link.on_lost(lambda: _expire(timer, loop))
            try:
                yield scope
            finally:
                if unhook is not None:
                    unhook()
    except DeadlineExceeded:  # CPU work that reached the same deadline a moment before the timer
        if link is not None and link.lost:
            raise client_gone(link) from None
        raise _deadline_error(seconds, setting) from None
    except TimeoutError:
        if not timer.expired():
            raise
        if link is not None and link.lost:
            raise client_gone(link) from None
        raise _deadline_error(seconds, setting) from None


def _expire(timer: asyncio.Timeout, loop: asyncio.AbstractEventLoop) -> None:
    try:
        timer.reschedule(loop.time())
    except RuntimeError:  # the block is already over
        pass


def _deadline_error(seconds: float, setting: str) -> APIError:
    return APIError(504, f"the request did not complete within the gateway's deadline of {seconds:g} s ({setting})", code="deadline_exceeded")


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
