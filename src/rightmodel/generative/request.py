"""An OpenAI chat-completions body read as what a local generator needs, or a 400 naming the field.

The gateway validates the common shape (messages, roles) before a backend sees a body; this reads
the sampling parameters a llama.cpp generator honours and refuses, by name, what it cannot do
(several choices, tools, images), rather than silently answering something else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rightmodel.backends.base import UpstreamError

UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "modalities", "prediction")


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: the conversation, the sampling settings and the output constraint."""

    messages: list[dict[str, str]]
    max_tokens: int | None = None  # None: up to the context window
    temperature: float = 1.0  # OpenAI's defaults
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    json_schema: dict[str, Any] | None = None  # response_format json_schema
    json_mode: bool = False  # response_format json_object (any JSON object)
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage


def bad_request(param: str, message: str, code: str = "invalid_request") -> UpstreamError:
    """A client error as backends report it: relayed as a 400 naming `param` (gateway/fallback.relay)."""
    return UpstreamError(message, kind="http", status=400, retryable=False,
                         body={"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})


def _number(body: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(key, f"{key} must be a number from {low:g} to {high:g}")
    return float(value)


def _text(message: dict[str, Any], i: int) -> str:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_request(f"messages.{i}.content.{j}", "a local generator reads text parts only")
            parts.append(part["text"])
        return "\n".join(parts)
    raise bad_request(f"messages.{i}.content", "content must be a string or a list of text parts")


def _response_format(body: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    fmt = body.get("response_format")
    if fmt is None:
        return None, False
    if not isinstance(fmt, dict):
        raise bad_request("response_format", "response_format must be an object")
    kind = fmt.get("type")
    if kind == "text":
        return None, False
    if kind == "json_object":
        return None, True
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request("response_format.json_schema.schema", "a json_schema response_format needs json_schema.schema, an object")
        return schema, False
    raise bad_request("response_format.type", "response_format.type must be text, json_object or json_schema")


def parse_request(body: dict[str, Any]) -> GenerationRequest:
    """The body as a `GenerationRequest`; `UpstreamError` 400 naming the field it cannot honour."""
    for key in UNSUPPORTED:
        if body.get(key) not in (None, [], False):
            raise bad_request(key, f"{key} is not supported by a local generator")
    n = body.get("n")
    if n not in (None, 1):
        raise bad_request("n", "a local generator returns one choice (n must be 1)")
    messages = []
    for i, message in enumerate(body.get("messages") or []):
        role = message.get("role")
        role = "system" if role == "developer" else role
        if role not in ("system", "user", "assistant"):
            raise bad_request(f"messages.{i}.role", f"role {role!r} is not supported by a local generator (system, user, assistant)")
        messages.append({"role": role, "content": _text(message, i)})
    if not messages:
        raise bad_request("messages", "messages must not be empty")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise bad_request("max_completion_tokens" if "max_completion_tokens" in body else "max_tokens", "must be a positive integer")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise bad_request("stop", "stop must be a string or a list of up to 4 non-empty strings")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad_request("seed", "seed must be an integer")
    schema, json_mode = _response_format(body)
    options = body.get("stream_options") or {}
    return GenerationRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        stop=stops,
        seed=seed,
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        json_schema=schema,
        json_mode=json_mode,
        stream=body.get("stream") is True,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )
