"""A stand-in for the paid frontier APIs: OpenAI chat completions and the Anthropic Messages API
served on loopback by a real process, with fault injection and a record of every request.

Run it:   python tests/upstream_server.py --port 0 [--reply TEXT] [--api-key KEY]
It prints ``READY <port>`` on stdout once it listens on 127.0.0.1 (``--port 0``: a free port).

Use it from a test module::

    from upstream_server import upstream  # noqa: F401   (module-scoped fixture -> Upstream)

    def test_x(upstream):
        upstream.url          # "http://127.0.0.1:PORT"; OpenAI base_url is upstream.url + "/v1"
        upstream.set_fault("500", count=2)
        upstream.received()   # every request, decoded
        upstream.clear()

or ``with running_upstream() as up: ...`` / ``up = start_upstream(); ...; up.stop()`` anywhere.

Endpoints
- ``POST /v1/chat/completions``: the answer is ``"echo: " + <text of the last user message>``
  (``--reply`` fixes it). ``prompt_tokens`` = words in all message texts, ``completion_tokens`` =
  words in the answer, ``prompt_tokens_details.cached_tokens`` = ``metadata.cached`` or the
  ``x-upstream-cached`` header (capped at prompt_tokens). ``max_tokens``/``max_completion_tokens``
  truncate to that many words (finish_reason ``length``); ``stop`` truncates (``stop``). With
  ``tools`` and a last user text ``call <name> <json args>`` the answer is a tool call.
  ``stream: true`` gives SSE ``chat.completion.chunk`` events: role chunk, one chunk per word,
  finish chunk, a usage chunk when ``stream_options.include_usage``, ``data: [DONE]``.
  Requires ``Authorization: Bearer <non-empty>`` (``--api-key``: that exact key).
- ``POST /v1/messages`` (Anthropic): requires ``anthropic-version`` and a key, in ``x-api-key`` or
  as ``Authorization: Bearer`` (anthropic SDK 2.x sends the latter), and checks the
  request like the real API does (max_tokens, alternating roles starting with user, tool_result
  blocks first and answering the previous turn's tool_use ids, image sources, temperature <= 1).
  Same answer rule; ``stop_sequences`` and ``max_tokens`` give ``stop_sequence``/``max_tokens``.
  Tool trigger as above: a text block, then a ``tool_use`` block (streamed as input_json_delta).
  Usage: ``input_tokens`` = words minus cached ones; ``x-upstream-cache-read`` and
  ``x-upstream-cache-creation`` headers set ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``. Streams send the real event sequence (message_start,
  content_block_start, ping, content_block_delta..., content_block_stop, message_delta, message_stop).
- ``GET /v1/models``.
- ``GET /_received``: every request to the endpoints above (not to /_received, /_control), as
  ``[{"method", "path", "headers": [[name, value]...], "body_b64", "client_port", "fault",
  "outcome", "t"}]``;
  ``DELETE /_received`` clears. ``outcome`` is "ok", the fault name, or "client-disconnected" when
  the client went away while a stream was being written.
- ``POST /_control {"fault": F, "count": N}``: fault for the next N requests (count default 1; a
  null fault or count 0 clears; count -1: until cleared). A request's ``x-upstream-fault`` header
  takes precedence and does not use up a controlled fault. ``GET /_control`` shows the state.

Faults
- ``429`` (Retry-After: 1), ``500``, ``503`` (Retry-After as an HTTP date ~2 s ahead), ``529``
  (Anthropic overloaded), any other 3-digit status (e.g. ``400``, ``401``): an error in the
  endpoint's own error shape.
- ``stall``: never answers (sleeps an hour). ``stall-stream``: a stream that stops after 2 content
  chunks and then sends nothing, keeping the connection open.
- ``drop``: closes the connection without a response.
- ``malformed-sse``: a stream whose third event is broken JSON; on a non-stream request, a 200
  with a truncated JSON body (``malformed-json`` does that too).
- ``cut-stream``: a stream that stops after 2 content chunks, no [DONE], connection closed (a
  non-stream request gets half its Content-Length, then the close).
- ``error-event``: after 2 content chunks, an error event (Anthropic ``event: error`` with
  overloaded_error; OpenAI ``data: {"error": ...}``).
- ``null-id``: the response's (and every chunk's) ``id`` is null.
- ``slow:<ms>``: waits that long before answering. ``slow-stream:<ms>``: waits that long between
  stream events.
- ``fragmented``: every stream event is written in 3 pieces, a millisecond apart, so frames cross
  TCP segment boundaries.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.utils
import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

STALL_S = 3600.0
WORD_RE = re.compile(r"\s*\S+")
OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5")


# --------------------------------------------------------------------------------------------
# Server side (imports aiohttp lazily so that tests importing the helpers stay light)
# --------------------------------------------------------------------------------------------


@dataclass
class ServerState:
    reply: str | None = None
    api_key: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    fault: str | None = None
    fault_count: int = 0
    counter: int = 0

    def take_fault(self, header: str | None) -> str | None:
        if header:
            return header.strip()
        if self.fault is None or self.fault_count == 0:
            return None
        fault = self.fault
        if self.fault_count > 0:
            self.fault_count -= 1
            if self.fault_count == 0:
                self.fault = None
        return fault

    def next_id(self) -> int:
        self.counter += 1
        return self.counter


def words(text: str) -> int:
    return len(text.split())


def openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def anthropic_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(openai_text(block.get("content", "")) if not isinstance(block.get("content"), str)
                         else block["content"])
    return " ".join(parts)


def split_words(text: str) -> list[str]:
    return WORD_RE.findall(text) or [text]


def parse_tool_trigger(text: str, tool_names: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``call <name> <json>`` -> (name, args); the first tool when the name is not one of them."""
    if not tool_names or not text.startswith("call "):
        return None
    rest = text[5:].strip()
    name, _, args_text = rest.partition(" ")
    if name not in tool_names:
        name, args_text = tool_names[0], rest
    try:
        args = json.loads(args_text) if args_text.strip() else {}
    except ValueError:
        args = {"text": args_text}
    if not isinstance(args, dict):
        args = {"value": args}
    return name, args


def apply_limits(answer: str, max_tokens: int | None, stops: list[str]) -> tuple[str, str, str | None]:
    """Truncate at the first stop string, then at max_tokens words -> (text, reason, stop)."""
    for stop in stops:
        if stop and stop in answer:
            return answer[: answer.index(stop)], "stop_sequence", stop
    if max_tokens is not None and words(answer) > max_tokens:
        return "".join(split_words(answer)[:max_tokens]), "max_tokens", None
    return answer, "end_turn", None


def build_app(state: ServerState):
    from aiohttp import web

    def openai_error(status: int, message: str, etype: str = "invalid_request_error", headers=None):
        return web.json_response(
            {"error": {"message": message, "type": etype, "param": None, "code": None}},
            status=status, headers=headers)

    def anthropic_error(status: int, message: str, etype: str = "invalid_request_error", headers=None):
        return web.json_response({"type": "error", "error": {"type": etype, "message": message}},
                                 status=status, headers=headers)

    status_types = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    500: "api_error", 503: "api_error", 529: "overloaded_error"}

    def status_fault(provider: str, status: int):
        headers = {}
        if status in (429, 529):
            headers["Retry-After"] = "1"
        elif status == 503:
            headers["Retry-After"] = email.utils.formatdate(time.time() + 2, usegmt=True)
        etype = status_types.get(status, "api_error" if status >= 500 else "invalid_request_error")
        message = f"injected fault: HTTP {status}"
        if provider == "anthropic":
            return anthropic_error(status, message, etype, headers)
        return openai_error(status, message, etype, headers)

    async def drop(request):
        request.transport.close()
        return web.Response()  # its write fails quietly on the closed transport

    async def pre_faults(request, provider: str):
        """Faults that replace the answer; None when the request proceeds."""
        fault = request["entry"]["fault"]
        if not fault:
            return None
        if re.fullmatch(r"\d{3}", fault):
            return status_fault(provider, int(fault))
        if fault == "stall":
            await asyncio.sleep(STALL_S)
            return web.Response(status=504)
        if fault == "drop":
            return await drop(request)
        if fault.startswith("slow:"):
            await asyncio.sleep(float(fault[5:]) / 1000)
        return None

    @web.middleware
    async def record(request, handler):
        if request.path.startswith(("/_received", "/_control")):
            return await handler(request)
        raw = await request.read()
        fault = state.take_fault(request.headers.get("x-upstream-fault"))
        entry = {
            "method": request.method,
            "path": request.path_qs,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body_b64": base64.b64encode(raw).decode(),
            "client_port": (request.transport.get_extra_info("peername") or (None, None))[1]
            if request.transport else None,
            "fault": fault,
            "outcome": fault or "ok",
            "t": time.time(),
        }
        state.received.append(entry)
        request["entry"] = entry
        return await handler(request)

    async def write_stream(request, frames: list[bytes], *, cut_after: int | None = None,
                           stall_after: int | None = None, delay_s: float = 0.0,
                           fragmented: bool = False):
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            for i, frame in enumerate(frames):
                if cut_after is not None and i == cut_after:
                    request.transport.close()
                    return resp
                if stall_after is not None and i == stall_after:
                    await asyncio.sleep(STALL_S)
                if delay_s:
                    await asyncio.sleep(delay_s)
                if fragmented and len(frame) > 3:
                    third = len(frame) // 3
                    for piece in (frame[:third], frame[third:2 * third], frame[2 * third:]):
                        await resp.write(piece)
                        await asyncio.sleep(0.001)
                else:
                    await resp.write(frame)
        except ConnectionError:
            request["entry"]["outcome"] = "client-disconnected"
            return resp
        await resp.write_eof()
        return resp

    def stream_options(fault: str | None) -> dict[str, Any]:
        """Where a streaming fault strikes: frames index counted from the first frame."""
        if not fault:
            return {}
        if fault.startswith("slow-stream:"):
            return {"delay_s": float(fault[12:]) / 1000}
        if fault == "fragmented":
            return {"fragmented": True}
        return {}

    # ---------------------------------------------------------------- OpenAI

    async def openai_chat(request):
        early = await pre_faults(request, "openai")
        if early is not None:
            return early
        fault = request["entry"]["fault"]
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return openai_error(401, "missing bearer token", "authentication_error")
        if state.api_key is not None and auth[7:] != state.api_key:
            return openai_error(401, "incorrect API key", "authentication_error")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return openai_error(400, "request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return openai_error(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return openai_error(400, "'messages' must be a non-empty array")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return openai_error(400, f"invalid message: {m!r}"[:200])
        if "stream_options" in body and not body.get("stream"):
            return openai_error(400, "stream_options is only allowed when stream is true")

        prompt_tokens = sum(words(openai_text(m.get("content"))) for m in messages)
        cached = body.get("metadata", {}).get("cached") if isinstance(body.get("metadata"), dict) else None
        cached = int(cached or request.headers.get("x-upstream-cached", 0) or 0)
        cached = min(cached, prompt_tokens)
        last_user = next((openai_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        tool_names = [t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"]
        call = parse_tool_trigger(last_user, tool_names)
        n = state.next_id()
        rid = None if fault == "null-id" else f"chatcmpl-up{n:06d}"
        created = int(time.time())
        model = body["model"]
        stop = body.get("stop") or []
        stops = [stop] if isinstance(stop, str) else list(stop)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if call:
            text, reason = None, "tool_calls"
            tool_calls = [{"id": f"call_up{n:06d}", "type": "function",
                           "function": {"name": call[0], "arguments": json.dumps(call[1])}}]
            completion_tokens = 1 + words(tool_calls[0]["function"]["arguments"])
        else:
            answer = state.reply if state.reply is not None else "echo: " + last_user
            text, reason, _ = apply_limits(answer, max_tokens, stops)
            reason = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}[reason]
            tool_calls = None
            completion_tokens = words(text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0,
                                               "rejected_prediction_tokens": 0}}

        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
            if tool_calls:
                message["tool_calls"] = tool_calls
            out = json.dumps({
                "id": rid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}],
                "usage": usage, "service_tier": "default", "system_fingerprint": "fp_upstream",
            }).encode()
            return await finish_plain(request, out, fault)

        def chunk(delta, finish=None, **extra):
            obj = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": "fp_upstream",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            obj.update(extra)
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        u = {"usage": None} if include_usage else {}
        frames = [chunk({"role": "assistant", "content": "", "refusal": None}, **u)]
        if tool_calls:
            tc = tool_calls[0]
            frames.append(chunk({"tool_calls": [{"index": 0, "id": tc["id"], "type": "function",
                                                 "function": {"name": tc["function"]["name"], "arguments": ""}}]}, **u))
            args = tc["function"]["arguments"]
            for i in range(0, len(args), 8):
                frames.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 8]}}]}, **u))
        else:
            frames.extend(chunk({"content": piece}, **u) for piece in split_words(text))
        frames.append(chunk({}, reason, **u))
        if include_usage:
            frames.append(b"data: " + json.dumps({
                "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_upstream", "choices": [], "usage": usage}).encode() + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        return await stream_with_faults(request, frames, fault, b'data: {"error": {"message": '
                                        b'"injected mid-stream error", "type": "server_error", '
                                        b'"param": null, "code": null}}\n\n')

    async def finish_plain(request, out: bytes, fault: str | None):
        if fault in ("malformed-sse", "malformed-json"):
            return web.Response(body=out[: len(out) // 2], content_type="application/json")
        if fault == "cut-stream":
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            resp.content_length = len(out)
            await resp.prepare(request)
            await resp.write(out[: len(out) // 2])
            request.transport.close()
            return resp
        return web.Response(body=out, content_type="application/json")

    async def stream_with_faults(request, frames: list[bytes], fault: str | None, error_frame: bytes):
        """frames[0] is the role/start frame; the first content frame is frames[1] for OpenAI, and
        for Anthropic the caller passes frames so that index 2 content chunks in is `first + 2`."""
        first = request.get("first_content", 1)
        if fault == "cut-stream":
            return await write_stream(request, frames, cut_after=first + 2)
        if fault == "stall-stream":
            return await write_stream(request, frames, stall_after=first + 2)
        if fault == "malformed-sse":
            frames = frames[: first + 1] + [b'data: {"id": broken, "choices": [\n\n'] + frames[first + 1:]
            return await write_stream(request, frames)
        if fault == "error-event":
            return await write_stream(request, frames[: first + 2] + [error_frame])
        return await write_stream(request, frames, **stream_options(fault))

    # ---------------------------------------------------------------- Anthropic

    def check_anthropic(body: Any) -> str | None:
        """The request checks of the real Messages API that a translation layer can get wrong."""
        if not isinstance(body, dict):
            return "body must be an object"
        if not isinstance(body.get("model"), str):
            return "model: Field required"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            return "max_tokens: Field required"
        system = body.get("system")
        if system is not None and not isinstance(system, str):
            if not isinstance(system, list) or any(b.get("type") != "text" for b in system):
                return "system: must be a string or a list of text blocks"
        temp = body.get("temperature")
        if temp is not None and not (0 <= temp <= 1):
            return "temperature: range: 0..1"
        allowed = {"model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k",
                   "stop_sequences", "stream", "tools", "tool_choice", "metadata", "thinking",
                   "service_tier", "container", "mcp_servers"}
        extra = set(body) - allowed
        if extra:
            return f"{sorted(extra)[0]}: Extra inputs are not permitted"
        if isinstance(body.get("metadata"), dict) and set(body["metadata"]) - {"user_id"}:
            return "metadata: Extra inputs are not permitted"
        if "stop_sequences" in body and not (isinstance(body["stop_sequences"], list)
                                             and all(isinstance(s, str) for s in body["stop_sequences"])):
            return "stop_sequences: must be a list of strings"
        tools = body.get("tools")
        if tools is not None:
            for t in tools:
                if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("input_schema"), dict):
                    return "tools: each tool needs name and input_schema"
                if set(t) - {"name", "description", "input_schema", "cache_control", "type"}:
                    return "tools: Extra inputs are not permitted"
        choice = body.get("tool_choice")
        if choice is not None and (not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none")):
            return "tool_choice: invalid"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        prev_tool_ids: set[str] = set()
        for i, m in enumerate(messages):
            role = m.get("role")
            if role not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
            if i == 0 and role != "user":
                return "messages: first message must use the user role"
            if i > 0 and messages[i - 1].get("role") == role:
                return "messages: roles must alternate between user and assistant"
            content = m.get("content")
            if isinstance(content, str):
                if not content and not (role == "assistant" and i == len(messages) - 1):
                    return f"messages.{i}: text content blocks must be non-empty"
                blocks = []
            elif isinstance(content, list) and content:
                blocks = content
            else:
                return f"messages.{i}.content: must be a string or a non-empty list"
            seen_other = False
            tool_ids: set[str] = set()
            for j, b in enumerate(blocks):
                btype = b.get("type")
                where = f"messages.{i}.content.{j}"
                if btype == "text":
                    if not isinstance(b.get("text"), str) or not b["text"]:
                        return f"{where}: text content blocks must be non-empty"
                    seen_other = True
                elif btype == "image":
                    src = b.get("source") or {}
                    if src.get("type") == "base64":
                        if src.get("media_type") not in ("image/jpeg", "image/png", "image/gif", "image/webp"):
                            return f"{where}.source.media_type: invalid"
                        try:
                            base64.b64decode(src.get("data", ""), validate=True)
                        except ValueError:
                            return f"{where}.source.data: invalid base64"
                    elif src.get("type") != "url" or not isinstance(src.get("url"), str):
                        return f"{where}.source: invalid"
                    seen_other = True
                elif btype == "tool_use" and role == "assistant":
                    if not isinstance(b.get("input"), dict) or not b.get("id") or not b.get("name"):
                        return f"{where}: tool_use needs id, name and an object input"
                    tool_ids.add(b["id"])
                elif btype == "tool_result" and role == "user":
                    if seen_other:
                        return f"{where}: tool_result blocks must come first in the user message"
                    if b.get("tool_use_id") not in prev_tool_ids:
                        return f"{where}: unexpected tool_use_id {b.get('tool_use_id')!r}"
                else:
                    return f"{where}.type: invalid block type {btype!r} for role {role}"
            if role == "assistant":
                prev_tool_ids = tool_ids
            else:
                answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
                if prev_tool_ids - answered:
                    return f"messages.{i}: tool_use ids without tool_result blocks: {sorted(prev_tool_ids - answered)}"
                prev_tool_ids = set()
        last = messages[-1]
        if last["role"] == "assistant":
            content = last["content"]
            tail = content if isinstance(content, str) else (content[-1].get("text", "x") if content else "x")
            if isinstance(tail, str) and tail != tail.rstrip():
                return "final assistant content cannot end with trailing whitespace"
        return None

    async def anthropic_messages(request):
        early = await pre_faults(request, "anthropic")
        if early is not None:
            return early
        fault = request["entry"]["fault"]
        key = request.headers.get("x-api-key")
        auth = request.headers.get("Authorization", "")
        if not key and auth.startswith("Bearer "):  # what anthropic SDK 2.x sends for an api_key
            key = auth[7:].strip()
        if not key:
            return anthropic_error(401, "x-api-key header is required", "authentication_error")
        if state.api_key is not None and key != state.api_key:
            return anthropic_error(401, "invalid x-api-key", "authentication_error")
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return anthropic_error(400, "request body is not valid JSON")
        problem = check_anthropic(body)
        if problem:
            return anthropic_error(400, problem)

        messages = body["messages"]
        system = body.get("system") or ""
        system_text = system if isinstance(system, str) else " ".join(b["text"] for b in system)
        total_in = words(system_text) + sum(words(anthropic_text(m["content"])) for m in messages)
        cache_read = min(int(request.headers.get("x-upstream-cache-read", 0)), total_in)
        cache_creation = min(int(request.headers.get("x-upstream-cache-creation", 0)), total_in - cache_read)
        input_tokens = total_in - cache_read - cache_creation
        last_user = messages[-1] if messages[-1]["role"] == "user" else None
        last_text = ""
        if last_user is not None:
            content = last_user["content"]
            texts = [content] if isinstance(content, str) else [b["text"] for b in content if b["type"] == "text"]
            if texts:
                last_text = " ".join(texts)
            else:
                results = [b for b in content if b["type"] == "tool_result"]
                last_text = "tool result: " + " ".join(anthropic_text([r]) for r in results)
        tool_names = [t["name"] for t in body.get("tools") or []]
        call = None if (body.get("tool_choice") or {}).get("type") == "none" else parse_tool_trigger(last_text, tool_names)
        n = state.next_id()
        mid = None if fault == "null-id" else f"msg_up{n:06d}"
        model = body["model"]
        blocks: list[dict[str, Any]]
        if call:
            blocks = [{"type": "text", "text": f"Calling {call[0]}."},
                      {"type": "tool_use", "id": f"toolu_up{n:06d}", "name": call[0], "input": call[1]}]
            stop_reason, stop_seq = "tool_use", None
            output_tokens = 2 + words(json.dumps(call[1]))
        else:
            answer = state.reply if state.reply is not None else "echo: " + last_text
            text, stop_reason, stop_seq = apply_limits(answer, body["max_tokens"], body.get("stop_sequences") or [])
            blocks = [{"type": "text", "text": text}]
            output_tokens = words(text)
        usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": cache_creation,
                 "cache_read_input_tokens": cache_read, "output_tokens": output_tokens,
                 "service_tier": "standard"}

        if not body.get("stream"):
            out = json.dumps({"id": mid, "type": "message", "role": "assistant", "model": model,
                              "content": blocks, "stop_reason": stop_reason, "stop_sequence": stop_seq,
                              "usage": usage}).encode()
            return await finish_plain(request, out, fault)

        def event(name: str, data: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"

        start_usage = {**usage, "output_tokens": 1}
        frames = [
            event("message_start", {"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}}),
            event("ping", {"type": "ping"}),
        ]
        request["first_content"] = len(frames)
        for index, block in enumerate(blocks):
            if index > 0:
                if block["type"] == "tool_use":
                    start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                else:
                    start = {"type": "text", "text": ""}
                frames.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                            "content_block": start}))
            if block["type"] == "text":
                for piece in split_words(block["text"]) if block["text"] else []:
                    frames.append(event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                                "delta": {"type": "text_delta", "text": piece}}))
            else:
                args = json.dumps(block["input"])
                frames.append(event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                            "delta": {"type": "input_json_delta", "partial_json": ""}}))
                for i in range(0, len(args), 7):
                    frames.append(event("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": args[i:i + 7]}}))
            frames.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
        frames.append(event("message_delta", {"type": "message_delta",
                                              "delta": {"stop_reason": stop_reason, "stop_sequence": stop_seq},
                                              "usage": {"output_tokens": output_tokens}}))
        frames.append(event("message_stop", {"type": "message_stop"}))
        error = event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        return await stream_with_faults(request, frames, fault, error)

    # ---------------------------------------------------------------- misc

    async def models(request):
        early = await pre_faults(request, "openai")
        if early is not None:
            return early
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "upstream"} for m in OPENAI_MODELS]})

    async def get_received(request):
        return web.json_response(state.received)

    async def delete_received(request):
        state.received.clear()
        return web.json_response({"cleared": True})

    async def post_control(request):
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        fault = body.get("fault")
        count = int(body.get("count", 1))
        state.fault, state.fault_count = (fault, count) if fault and count != 0 else (None, 0)
        return web.json_response({"fault": state.fault, "count": state.fault_count})

    async def get_control(request):
        return web.json_response({"fault": state.fault, "count": state.fault_count})

    app = web.Application(middlewares=[record], client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", openai_chat)
    app.router.add_post("/v1/messages", anthropic_messages)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/_received", get_received)
    app.router.add_delete("/_received", delete_received)
    app.router.add_post("/_control", post_control)
    app.router.add_get("/_control", get_control)
    return app


async def serve(port: int, state: ServerState, host: str = "127.0.0.1") -> None:
    from aiohttp import web

    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed as READY <port>)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--reply", default=None, help="a fixed answer instead of 'echo: <last user text>'")
    ap.add_argument("--api-key", default=None, help="require exactly this key (default: any non-empty key)")
    args = ap.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port, ServerState(reply=args.reply, api_key=args.api_key), args.host))
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------------------------
# Test side: start the server as a real process and talk to its control endpoints (stdlib only)
# --------------------------------------------------------------------------------------------


@dataclass
class Upstream:
    """A running upstream_server.py process."""

    url: str  # http://127.0.0.1:PORT (OpenAI base_url: url + "/v1"; Anthropic base_url: url)
    port: int
    process: subprocess.Popen

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def received(self) -> list[dict[str, Any]]:
        """Every recorded request; each also gets ``body`` (raw bytes) and ``json`` (parsed or None)."""
        out = self._call("GET", "/_received")
        for entry in out:
            entry["body"] = base64.b64decode(entry["body_b64"])
            try:
                entry["json"] = json.loads(entry["body"]) if entry["body"] else None
            except ValueError:
                entry["json"] = None
        return out

    def clear(self) -> None:
        self._call("DELETE", "/_received")

    def set_fault(self, fault: str | None, count: int = 1) -> None:
        self._call("POST", "/_control", {"fault": fault, "count": count})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_upstream(*, reply: str | None = None, api_key: str | None = None, port: int = 0,
                   cpu: int | None = None, startup_timeout: float = 20.0) -> Upstream:
    """Start ``upstream_server.py`` in a new process and wait for its READY line.

    ``cpu`` pins it to one core (``taskset``), for measurements. Call ``.stop()`` when done.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--port", str(port)]
    if reply is not None:
        cmd += ["--reply", reply]
    if api_key is not None:
        cmd += ["--api-key", api_key]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + startup_timeout
    line = b""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            break
    if not line.startswith(b"READY "):
        proc.kill()
        proc.wait(timeout=5)
        raise RuntimeError(f"upstream_server did not start (exit {proc.returncode}, said {line!r})")
    bound = int(line.split()[1])
    return Upstream(url=f"http://127.0.0.1:{bound}", port=bound, process=proc)


@contextmanager
def running_upstream(**kwargs: Any) -> Iterator[Upstream]:
    up = start_upstream(**kwargs)
    try:
        yield up
    finally:
        up.stop()


pytest: Any = None
if __name__ != "__main__":  # the server process itself does not need pytest
    try:
        import pytest
    except ImportError:
        pass

if pytest is not None:

    @pytest.fixture(scope="module")
    def upstream() -> Iterator[Upstream]:
        """One upstream server per test module; faults and the record are cleared between uses
        by the tests that need it (``upstream.set_fault(None)``, ``upstream.clear()``)."""
        with running_upstream() as up:
            yield up


if __name__ == "__main__":
    main()
