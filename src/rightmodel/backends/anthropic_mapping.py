"""OpenAI chat completions <-> Anthropic Messages: the pure request/response mapping.

No I/O here, so every rule is unit-tested without a network; `anthropic.py` holds the stream
translator and the backend that speak HTTP.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from typing import Any

import orjson

from rightmodel.backends.base import UpstreamError, Usage
from rightmodel.backends.http_client import is_retryable_status

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
        cache_write_tokens=cache_write,
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
