"""Other OpenAI APIs on top of chat completions: reshape the chat path's answer, whole or streamed.

/v1/completions and /v1/responses translate their request to a chat-completions body and hand
it to `chat.route_chat`, the one path that admits, routes, answers and records (so a specialist,
an escalation, a remote model, privacy, budgets and the ledger behave the same whichever API a
client speaks). What comes back is a chat answer: this module turns it into the other API's
shape. Errors (any status but 200) are already OpenAI-shaped JSON and pass through unchanged.

Reshaping afterwards, rather than teaching every branch of the chat path each API, keeps one
copy of the routing logic; its cost is one JSON parse of a whole answer (tens of microseconds)
and one per streamed frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

import orjson
from starlette.responses import Response, StreamingResponse

JSON = "application/json"
DONE = b"[DONE]"
_SKIPPED_HEADERS = ("content-type", "content-length")


class StreamReshaper(Protocol):
    """Turns the chat stream's events into another API's SSE frames."""

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        """Frames for one `chat.completion.chunk`."""

    def error(self, payload: dict[str, Any]) -> list[bytes]:
        """Frames for an in-band error (`{"error": {...}}`) after the stream began."""

    def done(self) -> list[bytes]:
        """Frames for the chat stream's `[DONE]`."""


def passthrough_headers(response: Response) -> dict[str, str]:
    """The chat answer's own headers (x-request-id, x-rightmodel-*), less the body's framing."""
    return {k: v for k, v in response.headers.items() if k not in _SKIPPED_HEADERS}


def reshape(response: Response, whole: Callable[[dict[str, Any]], dict[str, Any]], stream: Callable[[], StreamReshaper]) -> Response:
    """The chat path's `response` in another API's shape: `whole` maps a chat.completion object,
    `stream()` makes the reshaper of a streamed one. Error answers are returned as they are."""
    if response.status_code != 200:
        return response
    headers = passthrough_headers(response)
    if isinstance(response, StreamingResponse):
        return StreamingResponse(_reframed(response.body_iterator, stream()), media_type="text/event-stream", headers=headers)
    return Response(orjson.dumps(whole(orjson.loads(response.body))), media_type=JSON, headers=headers)


async def _reframed(frames: Any, reshaper: StreamReshaper) -> AsyncIterator[bytes]:
    """The chat stream's frames (split into SSE events whatever their chunking) reshaped.

    Closing this generator (client gone, server stopping) closes the chat stream too, so the
    chat path still records its row (499) and releases the upstream call."""
    buffer = b""
    try:
        async for piece in _aiter(frames):
            buffer += piece if isinstance(piece, bytes) else piece.encode()
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for out in _reshape_event(event, reshaper):
                    yield out
    finally:
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()


async def _aiter(frames: Any) -> AsyncIterator[Any]:
    if hasattr(frames, "__aiter__"):
        async for piece in frames:
            yield piece
    else:  # a specialist's answer: a list of frames made at once
        for piece in frames:
            yield piece


def _reshape_event(event: bytes, reshaper: StreamReshaper) -> Iterable[bytes]:
    data = b"".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
    if not data:
        return ()
    if data.startswith(DONE):
        return reshaper.done()
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return ()  # an upstream's malformed event: the chat path relays it as is; nothing to reshape
    if not isinstance(payload, dict):
        return ()
    if "error" in payload:
        return reshaper.error(payload)
    return reshaper.chunk(payload)


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def request_id_of(response: Response) -> str:
    return response.headers.get("x-request-id", "")
