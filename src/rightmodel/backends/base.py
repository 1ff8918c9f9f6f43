"""The one interface every chat backend implements, and the values that cross it.

Bodies cross the interface as OpenAI chat-completions dicts in both directions, whatever the
backend speaks on the wire: the router and the app never see a provider's own format. A backend
raises `UpstreamError` for every failure so that retries and fallbacks are decided in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from rightmodel.errors import RightmodelError
from rightmodel.usage import Usage

FailureKind = Literal["timeout", "connect", "http", "protocol"]


@dataclass
class ChatResult:
    """A complete (non-streamed) answer, already in OpenAI `chat.completion` shape."""

    body: dict[str, Any]
    usage: Usage
    upstream_ms: float


class UpstreamError(RightmodelError):
    """A backend could not produce an answer.

    `retryable` says whether the same request may succeed on a retry or another backend
    (timeouts, connection failures, 408/409/429/5xx); `retry_after` carries the upstream's
    Retry-After in seconds when it sent one; `body` is the upstream's error JSON, if any, to relay.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.body = body


@runtime_checkable
class ChatStream(Protocol):
    """A streamed answer: iterate for OpenAI SSE events, each a complete `data: ...\\n\\n` frame
    (`chat.completion.chunk` JSON, the last frame `data: [DONE]\\n\\n`).

    `usage` is filled as the stream goes and final once iteration ends. Failures after the
    stream opened raise `UpstreamError` from the iterator; `aclose` releases the connection and
    is safe to call at any time (a client that disconnects must abort the upstream call).
    """

    usage: Usage

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ChatBackend(Protocol):
    """Something that answers OpenAI chat-completions requests.

    `body` is the client's request with `model` already set to the id this backend expects and
    rightmodel's own keys removed; other parameters pass through untouched. `open_stream` must
    raise `UpstreamError` before returning when the upstream refuses the request outright (an
    error status, a connection failure), so that the caller can still fall back.
    """

    name: str

    async def chat(self, body: dict[str, Any], *, timeout: float | None = None) -> ChatResult: ...

    async def open_stream(self, body: dict[str, Any], *, timeout: float | None = None) -> ChatStream: ...

    async def aclose(self) -> None: ...


@dataclass
class RemoteEndpoint:
    """Where and how to reach a remote model (resolved from the constellation file)."""

    base_url: str
    model: str
    api_key: str | None = None  # the secret itself, read from the env var the config names
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0
