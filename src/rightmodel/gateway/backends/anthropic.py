"""A backend for the Anthropic Messages API, translating OpenAI chat completions both ways.

The translation functions are pure (`to_anthropic_request`, `from_anthropic_message`,
`anthropic_usage`, `AnthropicStreamTranslator`), so they are tested without a network.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from typing import Any

import aiohttp
import orjson
from yarl import URL

from rightmodel.gateway.backends.base import ChatResult, RemoteEndpoint, UpstreamError, Usage
from rightmodel.gateway.backends.http_client import (
    USER_AGENT,
    HttpClient,
    TRANSPORT_FAILURES,
    SSEFramer,
    failure,
    is_retryable_status,
    parse_event,
    protocol_error,
    status_error,
)

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error types -> the HTTP status the API uses for them (for errors met inside a stream).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

JSON_OBJECT_INSTRUCTION = "Respond only with a single valid JSON object, with no text before or after it."


class RequestTranslationError(UpstreamError):
    """The OpenAI request cannot be expressed in the Messages API (an OpenAI-shaped 400 in `body`).

    Not retryable on this backend; another backend may still accept the request."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(
            f"cannot translate the request for the Messages API: {message}",
            kind="http",
            status=400,
            retryable=False,
            body={"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}},
        )


# ---------------------------------------------------------------------------- OpenAI -> Anthropic


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise RequestTranslationError("image_url part without a url", "messages")
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        if not sep:
            raise RequestTranslationError("malformed data URL in image_url", "messages")
        media_type, *params = header.split(";")
        if "base64" in params:
            data = payload.strip()
        else:  # percent-encoded data URL
            data = base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode("ascii")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type or "image/png", "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise RequestTranslationError("image_url must be a data: URL or an http(s) URL", "messages")


def _content_blocks(content: Any, *, allow_images: bool = True) -> list[dict[str, Any]]:
    """OpenAI message content (a string or a list of parts) -> Anthropic blocks, empty texts dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise RequestTranslationError("message content must be a string or a list of parts", "messages")
    blocks = []
    for part in content:
        if not isinstance(part, dict):
            raise RequestTranslationError("content parts must be objects", "messages")
        ptype = part.get("type")
        if ptype == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif ptype == "refusal":
            if part.get("refusal"):
                blocks.append({"type": "text", "text": part["refusal"]})
        elif ptype == "image_url" and allow_images:
            blocks.append(_image_block(part))
        else:
            raise RequestTranslationError(f"content part type {ptype!r} is not supported by this backend", "messages")
    return blocks


def _text_of(content: Any) -> str:
    return "".join(b["text"] for b in _content_blocks(content, allow_images=False))


def _tool_input(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    # A model's own invalid arguments, echoed back in the history: keep them rather than fail the turn.
    return value if isinstance(value, dict) else {"_raw_arguments": arguments}


def _tool_result_content(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    blocks = _content_blocks(content)
    return blocks if blocks else ""


def _convert_messages(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    if not isinstance(messages, list) or not messages:
        raise RequestTranslationError("'messages' must be a non-empty array", "messages")
    system: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise RequestTranslationError("each message must be an object", "messages")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _text_of(content)
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _content_blocks(content)
        elif role == "assistant":
            blocks = _content_blocks(content, allow_images=False)
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                blocks.append({
                    "type": "tool_use",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "input": _tool_input(function.get("arguments")),
                })
        elif role == "tool":
            blocks = [{
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": _tool_result_content(content),
            }]
            role = "user"
        else:
            raise RequestTranslationError(f"unsupported message role {role!r}", "messages")
        if blocks:
            turns.append((role, blocks))

    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": list(blocks)})
    for message in merged:
        content = message["content"]
        if message["role"] == "user" and any(b["type"] == "tool_result" for b in content):
            # The API wants tool results first in their user turn.
            content.sort(key=lambda b: b["type"] != "tool_result")
    if merged and merged[-1]["role"] == "assistant":  # a prefill may not end in whitespace
        last = merged[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                merged[-1]["content"].pop()
                if not merged[-1]["content"]:
                    merged.pop()
    return system, merged


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        out = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise RequestTranslationError(f"unsupported tool_choice {choice!r}", "tool_choice")
    if out is not None and parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def _response_format_instruction(fmt: Any) -> str | None:
    if not isinstance(fmt, dict):
        return None
    ftype = fmt.get("type")
    if ftype == "json_object":
        return JSON_OBJECT_INSTRUCTION
    if ftype == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is None:
            return JSON_OBJECT_INSTRUCTION
        return (
            "Respond only with a single JSON object that conforms to this JSON Schema, with no text "
            "before or after it:\n" + orjson.dumps(schema).decode()
        )
    return None


def to_anthropic_request(body: dict[str, Any], *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """An OpenAI chat-completions request -> a Messages API request (without `stream`).

    OpenAI-only parameters (n, seed, penalties, logprobs, logit_bias, stream_options, store...) are
    dropped. temperature is clamped to Anthropic's 0..1; top_p is dropped when temperature is set
    (recent Claude models refuse both together).
    """
    system, messages = _convert_messages(body.get("messages"))
    instruction = _response_format_instruction(body.get("response_format"))
    if instruction:
        system.append(instruction)
    out: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens,
    }
    if system:
        out["system"] = "\n\n".join(system)
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    elif body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else [s for s in stop if s]
    tools = body.get("tools")
    if tools:
        converted = []
        for tool in tools:
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise RequestTranslationError("only function tools are supported", "tools")
            function = tool.get("function") or {}
            item: dict[str, Any] = {
                "name": function.get("name"),
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
            if function.get("description"):
                item["description"] = function["description"]
            converted.append(item)
        out["tools"] = converted
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    return out


# ---------------------------------------------------------------------------- Anthropic -> OpenAI


def anthropic_usage(raw: Any) -> Usage:
    """Usage from a Messages API `usage`: prompt = input + cache reads + cache writes."""
    if not isinstance(raw, dict):
        return Usage()
    cache_read = int(raw.get("cache_read_input_tokens") or 0)
    cache_write = int(raw.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=int(raw.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=cache_read,
        reported=True,
    )


def openai_usage_dict(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def from_anthropic_message(msg: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """A Messages API answer -> an OpenAI `chat.completion` (thinking blocks are dropped)."""
    texts = []
    tool_calls = []
    for block in msg.get("content") or []:
        btype = block.get("type")
        if btype == "text":
            texts.append(block.get("text", ""))
        elif btype == "tool_use":
            tool_calls.append({
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": orjson.dumps(block.get("input") or {}).decode()},
            })
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    message["refusal"] = None
    usage = anthropic_usage(msg.get("usage"))
    return {
        "id": msg.get("id") or "msg_rm" + os.urandom(12).hex(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": msg.get("model"),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": STOP_REASONS.get(msg.get("stop_reason") or "end_turn", "stop"),
        }],
        "usage": openai_usage_dict(usage),
    }


def anthropic_error_body(raw: dict[str, Any]) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}` -> an OpenAI-shaped error body."""
    err = raw.get("error") if isinstance(raw.get("error"), dict) else {}
    return {"error": {
        "message": err.get("message") or str(raw)[:200],
        "type": err.get("type") or "api_error",
        "param": None,
        "code": None,
    }}


def stream_error(backend: str, data: dict[str, Any]) -> UpstreamError:
    body = anthropic_error_body(data)
    etype = body["error"]["type"]
    status = ERROR_STATUS.get(etype, 500)
    return UpstreamError(
        f"{backend}: upstream sent an error mid-stream: {etype}: {body['error']['message']}",
        kind="http",
        status=status,
        retryable=is_retryable_status(status),
        body=body,
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
        return orjson.dumps(request)

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
        started = time.perf_counter()
        try:
            async with self.http.session.post(
                self.url,
                data=data,
                headers=self._headers,
                timeout=self.http.timeout(timeout or self.endpoint.timeout_s),
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                status = resp.status
                headers = resp.headers
        except TRANSPORT_FAILURES as exc:
            raise failure(name, exc) from exc
        upstream_ms = (time.perf_counter() - started) * 1000.0
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
        try:
            resp = await self.http.session.post(
                self.url,
                data=data,
                headers=self._stream_headers,
                timeout=self.http.timeout(timeout or self.endpoint.timeout_s, stream=True),
                allow_redirects=False,
            )
        except TRANSPORT_FAILURES as exc:
            raise failure(name, exc) from exc
        status = resp.status
        if not 200 <= status < 300 or resp.content_type == "application/json":
            try:
                raw = await resp.read()
            except TRANSPORT_FAILURES as exc:
                raise failure(name, exc) from exc
            finally:
                resp.release()
            if not 200 <= status < 300:
                raise self._status_error(status, resp.headers, raw)
            raise protocol_error(name, "upstream answered a stream request with JSON, not SSE", raw)
        return AnthropicStream(name, resp, AnthropicStreamTranslator(name, include_usage=include_usage))

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()
