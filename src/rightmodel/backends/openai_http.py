"""A backend for any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, Ollama,
OpenRouter, Azure-style gateways...). This is the pass-through hot path: the request body is
serialised once, the answer parsed once, and stream frames go out as the upstream's own bytes.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import orjson
from yarl import URL

from rightmodel.backends.base import ChatResult, RemoteEndpoint, UpstreamError, Usage
from rightmodel.bounds import dumps
from rightmodel.backends.http_client import (
    USER_AGENT,
    HttpClient,
    TRANSPORT_FAILURES,
    SSEFramer,
    error_message,
    failure,
    open_sse,
    post_json,
    parse_event,
    protocol_error,
    status_error,
)

_DONE = b"data: [DONE]\n\n"
_SERVER_ERROR_TYPES = frozenset({"server_error", "api_error", "overloaded_error", "rate_limit_error", "timeout"})


def openai_usage(raw: Any) -> Usage:
    """`Usage` from an OpenAI `usage` object (zeros, reported=False, when there is none)."""
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
        reported=True,
    )


def _fallback_id() -> str:
    return "chatcmpl-rm" + os.urandom(12).hex()


def stream_error_event(backend: str, obj: dict[str, Any]) -> UpstreamError:
    """An `{"error": {...}}` event inside a stream (the upstream failed after it started)."""
    err = obj.get("error")
    etype = err.get("type") if isinstance(err, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    return UpstreamError(
        f"{backend}: upstream sent an error mid-stream: {error_message(obj) or obj!r}",
        kind="http",
        status=code if isinstance(code, int) else None,
        retryable=etype in _SERVER_ERROR_TYPES,
        body=obj,
    )


class OpenAIStream:
    """A `ChatStream` over an OpenAI-compatible SSE response."""

    def __init__(self, backend: str, resp: aiohttp.ClientResponse, *, hide_usage_chunk: bool) -> None:
        self.usage = Usage()
        self._backend = backend
        self._resp = resp
        self._hide_usage_chunk = hide_usage_chunk
        self._gen: Any = None
        self._closed = False

    def __aiter__(self) -> Any:
        if self._gen is None:
            self._gen = self._frames()
        return self._gen

    async def aclose(self) -> None:
        """Abort the upstream response unless it has been read to the end (then it is released
        to the pool). Safe to call at any time, from any task, more than once."""
        if self._closed:
            return
        self._closed = True
        self._resp.close()  # no-op for the connection if the body was already fully read
        gen = self._gen
        if gen is not None:
            try:
                await gen.aclose()
            except (RuntimeError, UpstreamError):  # running in another task, which will see the close
                pass

    async def _frames(self) -> Any:
        backend = self._backend
        resp = self._resp
        read = resp.content.readany
        framer = SSEFramer()
        feed = framer.feed
        loads = orjson.loads
        done = False
        last_choices: list[Any] = []
        fixed_id: str | None = None
        try:
            while True:
                chunk = await read()
                if not chunk:
                    break
                if done:
                    continue  # anything after [DONE] is ignored; keep reading to EOF to reuse the connection
                for frame in feed(chunk):
                    if frame.startswith(b"data: ") and frame.find(b"\n", 6) == len(frame) - 2:
                        data = frame[6:-2]
                    else:  # multi-line, `data:` without a space, comments, event/id fields
                        _, data = parse_event(frame)
                        if data is None:
                            continue
                        frame = b"data: " + data + b"\n\n"
                    if data == b"[DONE]":
                        done = True
                        yield _DONE
                        break
                    try:
                        obj = loads(data)
                    except orjson.JSONDecodeError:
                        raise protocol_error(backend, "malformed JSON in stream event", data) from None
                    if type(obj) is not dict:
                        raise protocol_error(backend, "stream event is not a JSON object", data)
                    choices = obj.get("choices")
                    if choices is None and "error" in obj:
                        raise stream_error_event(backend, obj)
                    if type(choices) is not list:
                        raise protocol_error(backend, "stream event without choices", data)
                    usage = obj.get("usage")
                    if usage:
                        self.usage = openai_usage(usage)
                        if not choices and self._hide_usage_chunk:
                            continue
                    if choices:
                        last_choices = choices
                    if obj.get("id") is None:
                        if fixed_id is None:
                            fixed_id = _fallback_id()
                        obj["id"] = fixed_id
                        frame = b"data: " + orjson.dumps(obj) + b"\n\n"
                    yield frame
            if not done:
                rest = framer.tail()
                if rest and rest.removeprefix(b"data:").strip() == b"[DONE]":
                    done = True
                    yield _DONE
                elif any(type(c) is dict and c.get("finish_reason") for c in last_choices):
                    # a server that ends its streams without [DONE], after the finish chunk
                    done = True
                    yield _DONE
                else:
                    raise UpstreamError(
                        f"{backend}: upstream closed the stream before it finished", kind="connect", retryable=True
                    )
        except TRANSPORT_FAILURES as exc:
            if self._closed or done:  # closed by the caller, or a failure after [DONE]: nothing lost
                return
            raise failure(backend, exc) from exc
        finally:
            if not done:
                resp.close()
            else:
                resp.release()


class OpenAICompatibleBackend:
    """`ChatBackend` for `POST {base_url}/chat/completions` with `Authorization: Bearer`.

    `http` is the app's shared `HttpClient` (connection pooling across requests); without one
    the backend makes its own and closes it in `aclose()`. With `stream_usage` (default) a stream
    always asks the upstream for usage (`stream_options.include_usage`) so that `ChatStream.usage`
    is known; the usage-only chunk is passed on only when the client asked for it itself.
    """

    def __init__(
        self,
        name: str,
        endpoint: RemoteEndpoint,
        http: HttpClient | None = None,
        *,
        stream_usage: bool = True,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self._own_http = http is None
        self.http = http if http is not None else HttpClient()
        self.stream_usage = stream_usage
        self.url = URL(endpoint.base_url.rstrip("/") + "/chat/completions")
        base = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        if endpoint.api_key:
            base["Authorization"] = f"Bearer {endpoint.api_key}"
        base.update(endpoint.headers)
        self._headers = {**base, "Accept": "application/json"}
        self._stream_headers = {**base, "Accept": "text/event-stream"}

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend({self.name!r}, {self.endpoint.base_url!r})"

    async def chat(self, body: dict[str, Any], *, timeout: float | None = None) -> ChatResult:
        if body.get("stream") or "stream_options" in body or "model" not in body:
            body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            body.setdefault("model", self.endpoint.model)
        data = dumps(body)  # a client's value nested too deep: JsonTooDeep (400), never a 500
        name = self.name
        status, headers, raw, upstream_ms = await post_json(
            self.http, self.url, data, self._headers, timeout or self.endpoint.timeout_s, name
        )
        if not 200 <= status < 300:
            raise status_error(name, status, headers, raw)
        try:
            out = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise protocol_error(name, "upstream answered with malformed JSON", raw) from None
        if type(out) is not dict or type(out.get("choices")) is not list:
            if type(out) is dict and "error" in out:
                raise stream_error_event(name, out)
            raise protocol_error(name, "upstream answer is not a chat.completion", raw)
        if out.get("id") is None:
            out["id"] = _fallback_id()
        return ChatResult(body=out, usage=openai_usage(out.get("usage")), upstream_ms=upstream_ms)

    async def open_stream(self, body: dict[str, Any], *, timeout: float | None = None) -> OpenAIStream:
        options = body.get("stream_options")
        client_wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        if not body.get("stream") or "model" not in body or (self.stream_usage and not client_wants_usage):
            body = {**body, "stream": True}
            body.setdefault("model", self.endpoint.model)
            if self.stream_usage and not client_wants_usage:
                body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        name = self.name
        resp, status, headers, raw = await open_sse(
            self.http, self.url, dumps(body), self._stream_headers, timeout or self.endpoint.timeout_s, name
        )
        if resp is None:
            if not 200 <= status < 300:
                raise status_error(name, status, headers, raw)
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and "error" in parsed:
                raise stream_error_event(name, parsed)
            raise protocol_error(name, "upstream answered a stream request with JSON, not SSE", raw)
        return OpenAIStream(name, resp, hide_usage_chunk=self.stream_usage and not client_wants_usage)

    async def aclose(self) -> None:
        """Closes the HTTP client only if this backend made it (a shared one belongs to the app)."""
        if self._own_http:
            await self.http.aclose()
