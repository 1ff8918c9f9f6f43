"""The HTTP/1.1 connection limits uvicorn lacks, as a subclass of its httptools protocol.

uvicorn bounds nothing a client controls before the app runs (issue 17, measured): a header of
any size is buffered (httptools concatenates it as it arrives), a connection that sends nothing
stays open, a body trickled at 1 byte/s is waited for forever (`timeout_keep_alive` is reset by
every byte), and broken framing gets a plain-text 400. ASGI middleware cannot help: it runs only
once the headers are complete. So the limits live here, where the bytes arrive:

- **header bytes**: request line + headers over `max_header_bytes` → 431, decided as the bytes
  arrive (at most one read past the limit is ever buffered), checked exactly at the end of the
  headers.
- **idle connection**: nothing received for `idle_timeout_s` while no request is in progress
  (a new connection, or between keep-alive requests) → closed.
- **headers too slow**: not complete `header_timeout_s` after the request's first byte → 408.
- **body too slow**: the body's deadline is `body_timeout_s` after the headers plus one second per
  `body_min_rate` bytes received (Apache mod_reqtimeout's rule): a normal upload keeps extending
  it, a trickle does not → 408, and the app sees the request end (ledger row 408, via
  `ConnectionLink.refused`).
- **malformed framing** → an OpenAI-shaped JSON 400 instead of uvicorn's plain text.
- **a client that stops reading its answer** for `body_timeout_s` is disconnected (the answer
  would otherwise wait for it forever).

Refusals are written as OpenAI-shaped JSON with `connection: close`; the connection is then
half-closed and drained for `LINGER_S` before it is closed, so the client can read the answer
instead of getting a reset for the bytes it was still sending.

Each request's scope carries a `ConnectionLink` (`scope["rightmodel.link"]`): whether the client
went away (or the request was refused mid-body), and callbacks to run when that happens, so a
handler can stop its work at once (gateway/deadlines.py). Cost on the hot path: one small object
per request; timers are armed only for requests that do not arrive in one read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

LINK_KEY = "rightmodel.link"
LINGER_S = 1.0
IDLE, HEAD, BODY, HANDLING = 0, 1, 2, 3  # where the current request is


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may take (from the constellation's `defaults`)."""

    max_header_bytes: int = 32768
    idle_timeout_s: float = 5.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    body_min_rate: int = 1024

    @classmethod
    def from_defaults(cls, d: Any) -> "ConnectionLimits":
        return cls(d.max_header_bytes, d.idle_timeout_s, d.header_timeout_s, d.body_timeout_s, d.body_min_rate)


class ConnectionLink:
    """One request's view of its connection: `lost` once the client is gone (or the request was
    refused while its body arrived: `refused` holds that status), and callbacks run then."""

    __slots__ = ("lost", "refused", "request_id", "_callbacks")

    def __init__(self) -> None:
        self.lost = False
        self.refused: int | None = None
        self.request_id: str | None = None  # set by the app: a refusal mid-body carries it (x-request-id)
        self._callbacks: list[Callable[[], None]] | None = None

    def on_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` (on the event loop) when the client goes; returns the unregister function."""
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

        def unregister() -> None:
            if self._callbacks is not None and callback in self._callbacks:
                self._callbacks.remove(callback)

        return unregister

    def lose(self, refused: int | None = None) -> None:
        if self.lost:
            return
        self.lost = True
        self.refused = refused
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback()


def link_of(scope: dict[str, Any]) -> ConnectionLink | None:
    """The request's `ConnectionLink`, or None when another server runs the app (tests' ASGI clients)."""
    return scope.get(LINK_KEY)


def error_bytes(status: int, message: str, code: str, request_id: str | None = None) -> bytes:
    """A complete HTTP/1.1 response: OpenAI-shaped JSON error, connection closed after it."""
    etype = "timeout_error" if status == 408 else "invalid_request_error"
    body = orjson.dumps({"error": {"message": message, "type": etype, "param": None, "code": code}})
    rid = b"x-request-id: %s\r\n" % request_id.encode("ascii", "replace") if request_id else b""
    head = b"content-type: application/json\r\ncontent-length: %d\r\n%sconnection: close\r\n\r\n" % (len(body), rid)
    return STATUS_LINE[status] + head + body


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request we refuse."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of `limits` (set by `protocol_class`)."""

    limits: ConnectionLimits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = IDLE
        self._head_seen = 0  # bytes of the earlier reads that carried the current request's head
        self._read = 0  # size of the read being parsed
        self._phase_started = 0.0
        self._body_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, str] | None = None
        self._refused = False
        self._link: ConnectionLink | None = None

    # -- connection events ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms its keep-alive timer only after a response; a fresh connection gets ours.
        self.timeout_keep_alive_task = self.loop.call_later(self.limits.idle_timeout_s, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().connection_lost(exc)
        if self._link is not None and self._phase != IDLE:
            self._link.lose()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # draining before the close: never parsed
        self._unset_keepalive_if_required()
        before = self._phase
        self._read = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self._refuse(400, "the request is not valid HTTP/1.1 (malformed request line, header or body framing)", "invalid_http_request")
            return
        phase = self._phase
        if phase == HEAD:
            # The reads that carried this head bound its size from above (a read that began in a
            # body is left out: its head part is at most that one read).
            if before != BODY:
                self._head_seen += len(data)
            if self._head_seen > self.limits.max_header_bytes:
                self._refuse_headers()
                return
        if phase in (HEAD, BODY):
            if self._timer is None:
                self._arm(self._due())
        elif self._timer is not None:
            self._cancel_timer()

    # -- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = HEAD
        self._head_seen = 0
        self._phase_started = self.loop.time()
        self._cancel_timer()

    def on_headers_complete(self) -> None:
        limit = self.limits.max_header_bytes
        if self._head_seen + self._read > limit:  # the reads so far could hold more than the limit: count exactly
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > limit:
                self._refusal = self._header_refusal(size)
                raise _Refused()
        self._phase = BODY
        self._phase_started = self.loop.time()
        self._body_bytes = 0
        self._cancel_timer()
        link = self._link = ConnectionLink()
        self.scope[LINK_KEY] = link  # type: ignore[literal-required]
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = HANDLING
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._phase == HANDLING:
            self._phase = IDLE
        super().on_response_complete()

    # -- timers -----------------------------------------------------------------------------

    def _due(self) -> float:
        """When the request in progress must have arrived (event loop time)."""
        lim = self.limits
        if self._phase == HEAD:
            return self._phase_started + lim.header_timeout_s
        return self._phase_started + lim.body_timeout_s + self._body_bytes / lim.body_min_rate

    def _arm(self, when: float) -> None:
        self._timer = self.loop.call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._refused or self.transport.is_closing() or self._phase not in (HEAD, BODY):
            return
        if self.flow.read_paused:  # we stopped reading (a pipelined request waits, or the app has not read yet): not the client's doing
            self._phase_started, self._body_bytes = self.loop.time(), 0
            self._arm(self._due())
            return
        due = self._due()
        if self.loop.time() < due:  # the body kept up: its deadline moved on
            self._arm(due)
            return
        lim = self.limits
        if self._phase == HEAD:
            self._refuse(408, f"the request's headers did not arrive within {lim.header_timeout_s:g} s (defaults.header_timeout_s)",
                         "request_timeout")
        else:
            self._refuse(408, f"the request body arrived too slowly: {self._body_bytes} bytes in "
                              f"{self.loop.time() - self._phase_started:.1f} s (defaults.body_timeout_s {lim.body_timeout_s:g} s "
                              f"plus 1 s per {lim.body_min_rate} bytes, defaults.body_min_rate)", "request_timeout")

    # -- refusals ---------------------------------------------------------------------------

    def _header_refusal(self, size: int | None = None) -> tuple[int, str, str]:
        what = f"are {size} bytes" if size is not None else "go on past the limit"
        return (431, f"the request line and headers {what}; the limit is {self.limits.max_header_bytes} bytes "
                     "(defaults.max_header_bytes)", "request_header_fields_too_large")

    def _refuse_headers(self) -> None:
        self._refuse(*self._header_refusal())

    def send_400_response(self, msg: str) -> None:  # uvicorn's own path for unparseable requests
        self._refuse(400, f"the request is not valid HTTP/1.1: {msg}", "invalid_http_request")

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer `status` (unless a response already started), stop reading requests, drain the
        client's bytes for LINGER_S so it can read the answer, then close."""
        if self._refused:
            return
        self._refused = True
        self._cancel_timer()
        cycle = self.cycle
        started = False
        if cycle is not None and self._phase == BODY:  # this request's app runs (or has answered already)
            started = cycle.response_started
            if not cycle.response_complete:  # it is reading this body: it sees the request end, and why
                cycle.keep_alive = False
                cycle.disconnected = True
                cycle.message_event.set()
        elif cycle is not None and not cycle.response_complete:  # an earlier request is still being answered
            started = True  # never write into its response
            cycle.keep_alive = False
        if self._link is not None and self._phase == BODY:
            self._link.lose(refused=status)
        if not started:
            rid = self._link.request_id if self._link is not None and self._phase == BODY else None
            self.transport.write(error_bytes(status, message, code, rid))
        self.flow.resume_reading()  # drain (and discard) whatever the client still sends
        if self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except OSError:
                pass
        self.loop.call_later(LINGER_S, self._close)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def pause_writing(self) -> None:
        """The client stopped reading its answer: disconnect it unless it reads again within
        `body_timeout_s` (otherwise a response to a client that never reads waits forever)."""
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.body_timeout_s, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_stalled(self) -> None:
        self._write_timer = None
        if not self.transport.is_closing():
            self.transport.abort()  # the app's pending writes end as a disconnect (499 for a stream)

    def shutdown(self) -> None:
        if self._refused:
            self._close()
            return
        super().shutdown()


def protocol_class(limits: ConnectionLimits) -> type[BoundedHttpToolsProtocol]:
    """A protocol class with `limits` baked in (uvicorn builds protocols from a class: `http=`)."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})
