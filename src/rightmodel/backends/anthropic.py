"""A backend for the Anthropic Messages API, translating OpenAI chat completions both ways.

The request/response mapping lives in `anthropic_mapping.py`; here are the stream translator
(pure: Anthropic events in, OpenAI chunks out, tested without a network) and the HTTP backend.
"""

from __future__ import annotations

import os
import time
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
    failure,
    open_sse,
    post_json,
    parse_event,
    protocol_error,
    status_error,
)
from rightmodel.backends.anthropic_mapping import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    STOP_REASONS,
    anthropic_error_body,
    anthropic_usage,
    from_anthropic_message,
    openai_usage_dict,
    stream_error,
    to_anthropic_request,
)


class AnthropicStreamTranslator:
    """Turns Messages API stream events into OpenAI `chat.completion.chunk` SSE frames.

    `feed(event)` takes one parsed event (the data object) and returns the frames it produces;
    `usage` accumulates; `done` is set by message_stop (the last frame then is `data: [DONE]`).
    The usage-only chunk is emitted only when `include_usage` (the client's stream_options).
    """

    def __init__(self, backend: str = "anthropic", *, include_usage: bool = False, created: int | None = None) -> None:
        self.backend = backend
        self.include_usage = include_usage
        self.created = int(time.time()) if created is None else created
        self.usage = Usage()
        self.done = False
        self._raw_usage: dict[str, Any] = {}
        self._head = b""  # b'data: {"id":...,"choices":[{"index":0,"delta":'
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._pending_input: dict[int, Any] = {}
        self._id = b""
        self._model = b""

    def _chunk(self, delta: bytes, finish: bytes = b"null") -> bytes:
        return self._head + delta + b',"logprobs":null,"finish_reason":' + finish + b"}]}\n\n"

    def _tool_delta(self, index: int, fields: dict[str, Any]) -> bytes:
        return self._chunk(b'{"tool_calls":[' + orjson.dumps({"index": index, **fields}) + b"]}")

    def _update_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})
            self.usage = anthropic_usage(self._raw_usage)

    def feed(self, event: dict[str, Any]) -> list[bytes]:
        etype = event.get("type")
        if not self._head and etype not in ("message_start", "ping", "error"):
            raise protocol_error(self.backend, f"stream event {etype!r} before message_start")
        if etype == "content_block_delta":
            delta = event.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                return [self._chunk(b'{"content":' + orjson.dumps(text) + b"}")] if text else []
            if dtype == "input_json_delta":
                index = event.get("index")
                self._pending_input.pop(index, None)
                partial = delta.get("partial_json")
                if not partial or index not in self._tools:
                    return []
                return [self._tool_delta(self._tools[index], {"function": {"arguments": partial}})]
            return []  # thinking, signature, citations
        if etype == "message_start":
            msg = event.get("message") or {}
            self._id = orjson.dumps(msg.get("id") or "msg_rm" + os.urandom(12).hex())
            self._model = orjson.dumps(msg.get("model"))
            self._head = (
                b'data: {"id":' + self._id + b',"object":"chat.completion.chunk","created":'
                + str(self.created).encode() + b',"model":' + self._model + b',"choices":[{"index":0,"delta":'
            )
            self._update_usage(msg.get("usage"))
            return [self._chunk(b'{"role":"assistant","content":""}')]
        if etype == "content_block_start":
            block = event.get("content_block") or {}
            btype = block.get("type")
            if btype == "text":
                text = block.get("text")
                return [self._chunk(b'{"content":' + orjson.dumps(text) + b"}")] if text else []
            if btype == "tool_use":
                index = event.get("index")
                call_index = self._tools[index] = len(self._tools)
                if block.get("input"):
                    self._pending_input[index] = block["input"]
                return [self._tool_delta(call_index, {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                })]
            return []
        if etype == "content_block_stop":
            index = event.get("index")
            pending = self._pending_input.pop(index, None)
            if pending and index in self._tools:  # a complete input given at block start, no deltas
                arguments = orjson.dumps(pending).decode()
                return [self._tool_delta(self._tools[index], {"function": {"arguments": arguments}})]
            return []
        if etype == "message_delta":
            self._update_usage(event.get("usage"))
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason is None:
                return []
            finish = STOP_REASONS.get(reason, "stop")
            return [self._chunk(b"{}", b'"' + finish.encode() + b'"')]
        if etype == "message_stop":
            self.done = True
            frames = []
            if self.include_usage:
                frames.append(
                    b'data: {"id":' + self._id + b',"object":"chat.completion.chunk","created":'
                    + str(self.created).encode() + b',"model":' + self._model + b',"choices":[],"usage":'
                    + orjson.dumps(openai_usage_dict(self.usage)) + b"}\n\n"
                )
            frames.append(b"data: [DONE]\n\n")
            return frames
        if etype == "error":
            raise stream_error(self.backend, event)
        return []  # ping and event types this version does not know


class AnthropicStream:
    """A `ChatStream` over a Messages API SSE response, re-encoded as OpenAI chunks."""

    def __init__(self, backend: str, resp: aiohttp.ClientResponse, translator: AnthropicStreamTranslator) -> None:
        self._backend = backend
        self._resp = resp
        self._translator = translator
        self._gen: Any = None
        self._closed = False

    @property
    def usage(self) -> Usage:
        return self._translator.usage

    def __aiter__(self) -> Any:
        if self._gen is None:
            self._gen = self._frames()
        return self._gen

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._resp.close()
        gen = self._gen
        if gen is not None:
            try:
                await gen.aclose()
            except (RuntimeError, UpstreamError):
                pass

    async def _frames(self) -> Any:
        backend = self._backend
        resp = self._resp
        read = resp.content.readany
        framer = SSEFramer()
        translator = self._translator
        try:
            while True:
                chunk = await read()
                if not chunk:
                    break
                if translator.done:
                    continue
                for frame in framer.feed(chunk):
                    _, data = parse_event(frame)
                    if data is None:
                        continue
                    try:
                        event = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        raise protocol_error(backend, "malformed JSON in stream event", data) from None
                    if type(event) is not dict:
                        raise protocol_error(backend, "stream event is not a JSON object", data)
                    for out in translator.feed(event):
                        yield out
                    if translator.done:
                        break
            if not translator.done:
                raise UpstreamError(
                    f"{backend}: upstream closed the stream before message_stop", kind="connect", retryable=True
                )
        except TRANSPORT_FAILURES as exc:
            if self._closed or translator.done:
                return
            raise failure(backend, exc) from exc
        finally:
            if translator.done:
                resp.release()
            else:
                resp.close()


class AnthropicBackend:
    """`ChatBackend` for `POST {base_url}/v1/messages` (x-api-key, anthropic-version: 2023-06-01).

    `base_url` is the API root (`https://api.anthropic.com`); one ending in `/v1` works too.
    `http` is the app's shared `HttpClient`; without one the backend owns a private one.
    """

    def __init__(
        self,
        name: str,
        endpoint: RemoteEndpoint,
        http: HttpClient | None = None,
        *,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self._own_http = http is None
        self.http = http if http is not None else HttpClient()
        self.default_max_tokens = default_max_tokens
        base = endpoint.base_url.rstrip("/")
        self.url = URL(base + ("/messages" if base.endswith("/v1") else "/v1/messages"))
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if endpoint.api_key:
            headers["x-api-key"] = endpoint.api_key
        headers.update(endpoint.headers)
        self._headers = {**headers, "Accept": "application/json"}
        self._stream_headers = {**headers, "Accept": "text/event-stream"}

    def __repr__(self) -> str:
        return f"AnthropicBackend({self.name!r}, {self.endpoint.base_url!r})"

    def _request(self, body: dict[str, Any], stream: bool) -> bytes:
        if "model" not in body:
            body = {**body, "model": self.endpoint.model}
        request = to_anthropic_request(body, default_max_tokens=self.default_max_tokens)
        if stream:
            request["stream"] = True
        return dumps(request)  # a client's value nested too deep: JsonTooDeep (400), never a 500

    def _status_error(self, status: int, headers: Any, raw: bytes) -> UpstreamError:
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        body = anthropic_error_body(parsed) if isinstance(parsed, dict) else None
        return status_error(self.name, status, headers, raw, body)

    async def chat(self, body: dict[str, Any], *, timeout: float | None = None) -> ChatResult:
        data = self._request(body, stream=False)
        name = self.name
        status, headers, raw, upstream_ms = await post_json(
            self.http, self.url, data, self._headers, timeout or self.endpoint.timeout_s, name
        )
        if not 200 <= status < 300:
            raise self._status_error(status, headers, raw)
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise protocol_error(name, "upstream answered with malformed JSON", raw) from None
        if type(msg) is not dict or type(msg.get("content")) is not list:
            if type(msg) is dict and msg.get("type") == "error":
                raise stream_error(name, msg)
            raise protocol_error(name, "upstream answer is not a Messages API message", raw)
        out = from_anthropic_message(msg)
        return ChatResult(body=out, usage=anthropic_usage(msg.get("usage")), upstream_ms=upstream_ms)

    async def open_stream(self, body: dict[str, Any], *, timeout: float | None = None) -> AnthropicStream:
        data = self._request(body, stream=True)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        name = self.name
        resp, status, headers, raw = await open_sse(
            self.http, self.url, data, self._stream_headers, timeout or self.endpoint.timeout_s, name
        )
        if resp is None:
            if not 200 <= status < 300:
                raise self._status_error(status, headers, raw)
            raise protocol_error(name, "upstream answered a stream request with JSON, not SSE", raw)
        return AnthropicStream(name, resp, AnthropicStreamTranslator(name, include_usage=include_usage))

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()
