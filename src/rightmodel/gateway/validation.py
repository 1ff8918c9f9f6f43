"""Request bodies: bounded reading and field-by-field checks with the field named on failure.

Hand-written rather than a pydantic model on purpose: it runs on every request of the hot path,
must accept every parameter it does not know (they pass through to remote models), and must
name the exact field (`messages.2.content.0.text`) in its errors. The OpenAPI schema the app
publishes describes the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from rightmodel.bounds import MAX_JSON_DEPTH, JsonTooDeep, too_deep
from rightmodel.gateway.deadlines import client_gone
from rightmodel.gateway.errors import APIError, invalid
from rightmodel.gateway.protocol import link_of

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


async def read_json(request: Request, limit: int, request_id: str | None = None) -> dict[str, Any]:
    """The body as a JSON object; 413 before buffering when the declared or streamed size passes
    `limit`; 400 naming the field nested past `MAX_JSON_DEPTH`; 499 when the client leaves while
    sending it (408 when the server cut it off for arriving too slowly: that answer carries
    `request_id`, the id of the ledger row that records it)."""
    link = link_of(request.scope)
    if link is not None:
        link.request_id = request_id
    declared = request.headers.get("content-length")
    try:
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise APIError(400, "Content-Length is not a number", param="Content-Length") from None
            if size > limit:
                raise APIError(413, f"request body of {size} bytes is over the limit of {limit}", code="request_too_large")
            raw = await request.body()
        else:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise APIError(413, f"request body is over the limit of {limit} bytes", code="request_too_large")
                chunks.append(chunk)
            raw = b"".join(chunks)
    except ClientDisconnect:
        raise client_gone(link) from None
    if not raw:
        raise APIError(400, "request body is empty: expected a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            raise too_deep_error(JsonTooDeep("(body)")) from None
        raise APIError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, "request body must be a JSON object", code="invalid_json")
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:  # cheap: fewer containers than the limit cannot nest past it
        path = too_deep(body)
        if path is not None:
            raise too_deep_error(JsonTooDeep(path))
    return body


def too_deep_error(exc: JsonTooDeep) -> APIError:
    """The 400 for a body nested past the limit: `param` is the field it starts in."""
    limit = f"request bodies may nest at most {exc.limit} levels of objects and arrays"
    if exc.path == "(body)":  # too deep to parse at all: no field to name
        return APIError(400, f"the request body is nested far more than {exc.limit} levels deep; {limit}", code="json_too_deep")
    parts = exc.path.split(".")
    param = ".".join(parts[:2]) if len(parts) > 1 and parts[1].isdigit() else parts[0]
    shown = exc.path if len(exc.path) <= 80 else exc.path[:77] + "..."
    return APIError(400, f"'{shown}' is nested more than {exc.limit} levels deep; {limit}", param=param, code="json_too_deep")


def type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _expect(body: dict, key: str, kinds: tuple[type, ...], what: str) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) and bool not in kinds:
        raise invalid(key, f"'{key}' must be {what}, got boolean", "invalid_type")
    if not isinstance(value, kinds):
        raise invalid(key, f"'{key}' must be {what}, got {type_name(value)}", "invalid_type")


def _range(body: dict, key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is not None and not (low <= value <= high):
        raise invalid(key, f"'{key}' must be between {low} and {high}, got {value}")


def _check_message(i: int, message: Any) -> None:
    where = f"messages.{i}"
    if not isinstance(message, dict):
        raise invalid(where, f"'{where}' must be an object with role and content, got {type_name(message)}", "invalid_type")
    role = message.get("role")
    if role not in ROLES:
        raise invalid(f"{where}.role", f"'{where}.role' must be one of {', '.join(ROLES)}, got {role!r}")
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        raise invalid(f"{where}.content", f"'{where}.content' is required for a {role} message", "missing_required_parameter")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(f"{where}.content", f"'{where}.content' must be a string or an array of parts, got {type_name(content)}", "invalid_type")
    for j, part in enumerate(content):
        path = f"{where}.content.{j}"
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            raise invalid(path, f"'{path}' must be an object whose type is one of {', '.join(PART_TYPES)}")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise invalid(f"{path}.text", f"'{path}.text' must be a string", "invalid_type")


def validate_chat(body: dict[str, Any], max_messages: int = 2048) -> None:
    """Check the fields a chat-completions request must have and the types of known options."""
    model = body.get("model")
    if model is None:
        raise invalid("model", "'model' is required", "missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise invalid("model", f"'model' must be a non-empty string, got {type_name(model)}", "invalid_type")
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages", "'messages' is required", "missing_required_parameter")
    if not isinstance(messages, list):
        raise invalid("messages", f"'messages' must be an array, got {type_name(messages)}", "invalid_type")
    if not messages:
        raise invalid("messages", "'messages' must contain at least one message")
    if len(messages) > max_messages:
        raise invalid("messages", f"'messages' holds {len(messages)} messages; at most {max_messages} per request (defaults.max_messages)",
                      "too_many_messages")
    for i, message in enumerate(messages):
        _check_message(i, message)
    _expect(body, "stream", (bool,), "a boolean")
    _expect(body, "stream_options", (dict,), "an object")
    _expect(body, "metadata", (dict,), "an object")
    _expect(body, "response_format", (dict,), "an object")
    _expect(body, "tools", (list,), "an array")
    _expect(body, "user", (str,), "a string")
    _expect(body, "stop", (str, list), "a string or an array of strings")
    stop = body.get("stop")
    if isinstance(stop, list):
        for i, item in enumerate(stop):
            if not isinstance(item, str):
                raise invalid(f"stop.{i}", f"'stop.{i}' must be a string, got {type_name(item)}", "invalid_type")
    for key in ("n", "max_tokens", "max_completion_tokens", "seed", "top_logprobs"):
        _expect(body, key, (int,), "an integer")
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _expect(body, key, (int, float), "a number")
    _range(body, "temperature", 0, 2)
    _range(body, "top_p", 0, 1)
    _range(body, "presence_penalty", -2, 2)
    _range(body, "frequency_penalty", -2, 2)
    _range(body, "n", 1, 128)
    for key in ("max_tokens", "max_completion_tokens"):
        _range(body, key, 1, 10_000_000)
    fmt = body.get("response_format")
    if fmt is not None and fmt.get("type") not in RESPONSE_FORMATS:
        raise invalid("response_format.type", f"'response_format.type' must be one of {', '.join(RESPONSE_FORMATS)}")
    metadata = body.get("metadata")
    if metadata is not None and "task" in metadata and not isinstance(metadata["task"], str):
        raise invalid("metadata.task", "'metadata.task' must be a string", "invalid_type")


def _check_texts(texts: list[str], max_inputs: int, max_chars: int) -> None:
    """Bounds of a batch endpoint's input: how many texts, how long each (400 naming the text)."""
    if len(texts) > max_inputs:
        raise invalid("input", f"'input' holds {len(texts)} texts; at most {max_inputs} per request (defaults.max_batch_inputs)",
                      "too_many_inputs")
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            where = "input" if len(texts) == 1 else f"input.{i}"
            raise invalid(where, f"'{where}' is {len(text)} characters; at most {max_chars} per text (defaults.max_input_chars)",
                          "input_too_long")


def validate_embeddings(body: dict[str, Any], max_inputs: int = 2048, max_chars: int = 32768) -> list[str]:
    """The input texts of an embeddings request (string or array of strings)."""
    if body.get("model") is not None and not isinstance(body.get("model"), str):
        raise invalid("model", "'model' must be a string", "invalid_type")
    value = body.get("input")
    if value is None:
        raise invalid("input", "'input' is required", "missing_required_parameter")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise invalid("input", "'input' must be a string or an array of strings (token arrays are not supported)", "invalid_type")
    if not texts:
        raise invalid("input", "'input' must not be empty")
    _check_texts(texts, max_inputs, max_chars)
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise invalid("encoding_format", "'encoding_format' must be 'float' or 'base64'")
    dims = body.get("dimensions")
    if dims is not None:
        raise invalid("dimensions", "'dimensions' is not supported: the bundled encoder has a fixed size", "unsupported_parameter")
    return texts


def validate_classify(body: dict[str, Any], max_inputs: int = 2048, max_chars: int = 32768) -> tuple[str, list[str], int]:
    """(model, texts, top_k) of a /v1/classify request."""
    model = body.get("model")
    if model is None:
        raise invalid("model", "'model' is required: a task or a specialist model", "missing_required_parameter")
    if not isinstance(model, str):
        raise invalid("model", "'model' must be a string", "invalid_type")
    value = body.get("input")
    if value is None:
        raise invalid("input", "'input' is required", "missing_required_parameter")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise invalid("input", "'input' must be a string or a non-empty array of strings", "invalid_type")
    _check_texts(texts, max_inputs, max_chars)
    top_k = body.get("top_k", 3)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise invalid("top_k", "'top_k' must be a positive integer", "invalid_type")
    return model, texts, top_k


FEEDBACK_FIELDS = ("request_id", "label", "labels", "score", "correct")


@dataclass(frozen=True)
class FeedbackInput:
    request_id: str
    labels: list[str] | None
    score: float | None
    correct: bool | None


def validate_feedback(body: dict[str, Any]) -> FeedbackInput:
    """A POST /v1/feedback body: the request id and at least one of label(s), score, correct."""
    for key in body:
        if key not in FEEDBACK_FIELDS:
            raise invalid(key, f"unknown field '{key}': feedback takes {', '.join(FEEDBACK_FIELDS)}", "unknown_parameter")
    request_id = body.get("request_id")
    if request_id is None:
        raise invalid("request_id", "'request_id' is required: the id of the answer (its 'id', or the x-request-id header)",
                      "missing_required_parameter")
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > 128:
        raise invalid("request_id", "'request_id' must be a non-empty string of at most 128 characters", "invalid_type")
    if body.get("label") is not None and body.get("labels") is not None:
        raise invalid("labels", "give 'label' or 'labels', not both")
    labels: list[str] | None = None
    if body.get("label") is not None:
        label = body["label"]
        if not isinstance(label, str) or not label.strip():
            raise invalid("label", f"'label' must be a non-empty string, got {type_name(label)}", "invalid_type")
        labels = [label]
    elif body.get("labels") is not None:
        labels = body["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise invalid("labels", "'labels' must be an array of non-empty strings (empty: no label applies)", "invalid_type")
        labels = sorted(set(labels))
    if labels is not None and any(len(x) > 256 for x in labels):
        raise invalid("label" if "label" in body else "labels", "a label is at most 256 characters")
    _expect(body, "score", (int, float), "a number between 0 and 1")
    score = body.get("score")
    if score is not None and not (math.isfinite(score) and 0 <= score <= 1):
        raise invalid("score", f"'score' must be between 0 and 1, got {score}")
    _expect(body, "correct", (bool,), "true or false")
    if labels is None and score is None and body.get("correct") is None:
        raise invalid("label", "feedback needs at least one of 'label' (or 'labels'), 'score' or 'correct'", "missing_required_parameter")
    return FeedbackInput(request_id.strip(), labels, None if score is None else float(score), body.get("correct"))
