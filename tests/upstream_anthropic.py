"""The Anthropic Messages API half of upstream_server.py (``POST /v1/messages``): the real API's
request checks and the handler, split out to keep upstream_server.py short. Its behaviour is
described in upstream_server.py's docstring; build_app there wires it in."""

from __future__ import annotations

import base64
import json
from typing import Any

from upstream_common import apply_limits, openai_text, parse_tool_trigger, split_words, words


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


def anthropic_handlers(state: Any, *, pre_faults, finish_plain, stream_with_faults):
    """-> (anthropic_error, anthropic_messages), closures over build_app's shared plumbing."""
    from aiohttp import web

    def anthropic_error(status: int, message: str, etype: str = "invalid_request_error", headers=None):
        return web.json_response({"type": "error", "error": {"type": etype, "message": message}},
                                 status=status, headers=headers)

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

    return anthropic_error, anthropic_messages
