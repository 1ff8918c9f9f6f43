"""POST /v1/responses (OpenAI's Responses API, text in and text out) served by the chat path.

The openai SDK's newer examples and agents call `client.responses.create`. `input` (a string,
or a list of message items) and `instructions` become chat messages; the chat answer becomes a
`response` object whose `output` holds one assistant `message` item with an `output_text` part,
which is what the SDK's `response.output_text` reads. Streams emit the Responses event sequence:
response.created, response.in_progress, response.output_item.added, response.content_part.added,
response.output_text.delta ..., response.output_text.done, response.content_part.done,
response.output_item.done, response.completed (or `error` then response.failed if the upstream
stream breaks).

Routing is the chat path's own (`chat.route_chat`). This gateway keeps no conversation state, so
`previous_response_id`, `conversation` and `background` are refused (400 naming the field), as
are tools (a different shape from chat's, not translated yet) and item types other than messages.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from rightmodel.gateway.chat import error_response, route_chat
from rightmodel.gateway.dialects import request_id_of, reshape, sse
from rightmodel.gateway.errors import APIError, invalid
from rightmodel.gateway.state import GatewayState
from rightmodel.gateway.ticket import Ticket
from rightmodel.gateway.validation import read_json, type_name

ENDPOINT = "/v1/responses"
SHARED = ("model", "stream", "temperature", "top_p", "user", "metadata", "seed")  # same name and meaning in chat
STATEFUL = ("previous_response_id", "conversation")
ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text")


def _content(where: str, content: Any) -> str | list[dict[str, Any]]:
    """A message item's content as chat content: a string, or text and image parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise invalid(where, f"'{where}' must be a string or a non-empty array of content parts, got {type_name(content)}", "invalid_type")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        path = f"{where}.{j}"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS:
            if not isinstance(part.get("text"), str):
                raise invalid(f"{path}.text", f"'{path}.text' must be a string", "invalid_type")
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail") or "auto"}})
        else:
            raise invalid(path, f"'{path}' must be a part of type input_text, output_text or input_image (with image_url), "
                                f"got {kind if isinstance(kind, str) else type_name(part)}", "unsupported_content")
    return parts


def messages_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`instructions` and `input` as chat messages."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise invalid("instructions", f"'instructions' must be a string, got {type_name(instructions)}", "invalid_type")
        messages.append({"role": "system", "content": instructions})
    value = body.get("input")
    if value is None:
        raise invalid("input", "'input' is required", "missing_required_parameter")
    if isinstance(value, str):
        return [*messages, {"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise invalid("input", f"'input' must be a string or a non-empty array of message items, got {type_name(value)}", "invalid_type")
    for i, item in enumerate(value):
        where = f"input.{i}"
        if not isinstance(item, dict):
            raise invalid(where, f"'{where}' must be a message item (an object with role and content), got {type_name(item)}", "invalid_type")
        if item.get("type", "message") != "message":
            raise invalid(f"{where}.type", f"'{where}.type' {item.get('type')!r} is not supported: only message items are", "unsupported_item")
        role = item.get("role")
        if role not in ROLES:
            raise invalid(f"{where}.role", f"'{where}.role' must be one of {', '.join(ROLES)}, got {role!r}")
        if "content" not in item:
            raise invalid(f"{where}.content", f"'{where}.content' is required", "missing_required_parameter")
        messages.append({"role": role, "content": _content(f"{where}.content", item["content"])})
    return messages


def chat_body(body: dict[str, Any], max_tokens_cap: int | None = None) -> dict[str, Any]:
    """The chat-completions body of a Responses request (400 naming the field it cannot serve;
    `max_tokens_cap` is defaults.max_tokens, checked here so the 400 names this API's field)."""
    for key in STATEFUL:
        if body.get(key) is not None:
            raise invalid(key, f"'{key}' is not supported: this gateway keeps no conversation state; send the whole input",
                          "unsupported_parameter")
    if body.get("background") is True:
        raise invalid("background", "'background' is not supported", "unsupported_parameter")
    if body.get("tools"):
        raise invalid("tools", "'tools' is not supported on /v1/responses yet; use /v1/chat/completions for tool calls", "unsupported_parameter")
    chat = {key: body[key] for key in SHARED if key in body}
    chat["messages"] = messages_of(body)
    limit = body.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise invalid("max_output_tokens", f"'max_output_tokens' must be a positive integer, got {limit!r}", "invalid_type")
        if max_tokens_cap is not None and limit > max_tokens_cap:
            raise invalid("max_output_tokens", f"'max_output_tokens' is {limit}; this gateway allows at most {max_tokens_cap} "
                                               "(defaults.max_tokens)", "max_tokens_exceeded")
        chat["max_tokens"] = limit
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {k: v for k, v in fmt.items() if k != "type"}}
    if chat.get("stream") is True:
        chat["stream_options"] = {"include_usage": True}  # response.completed carries usage
    return chat


def _usage(chat_usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if not chat_usage:
        return None
    cached = ((chat_usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
    reasoning = ((chat_usage.get("completion_tokens_details") or {}).get("reasoning_tokens")) or 0
    prompt, completion = int(chat_usage.get("prompt_tokens") or 0), int(chat_usage.get("completion_tokens") or 0)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": prompt + completion}


class Shape:
    """What every response object of one request shares (id, model, the request's echoed options)."""

    def __init__(self, body: dict[str, Any], request_id: str) -> None:
        self.body = body
        self.id = f"resp_{request_id}"
        self.message_id = f"msg_{request_id}"
        self.created = int(time.time())

    def response(self, status: str, output: list[dict[str, Any]], model: Any, usage: dict[str, Any] | None = None,
                 finish: str | None = None, rightmodel: Any = None, error: Any = None) -> dict[str, Any]:
        body = self.body
        incomplete = {"reason": "max_output_tokens"} if finish == "length" else {"reason": "content_filter"} if finish == "content_filter" else None
        if incomplete is not None and status == "completed":
            status = "incomplete"
        out = {
            "id": self.id, "object": "response", "created_at": self.created, "status": status, "error": error,
            "incomplete_details": incomplete, "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": model or body.get("model"), "output": output, "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None}, "store": False, "temperature": body.get("temperature"),
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": body.get("top_p"),
            "truncation": "disabled", "usage": usage, "user": body.get("user"), "metadata": body.get("metadata") or {},
        }
        if rightmodel is not None:
            out["rightmodel"] = rightmodel
        return out

    def message(self, text: str, status: str = "completed") -> dict[str, Any]:
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
        return {"type": "message", "id": self.message_id, "status": status, "role": "assistant", "content": content}

    def whole(self, chat: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion object as a response object."""
        choice = (chat.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        return self.response("completed", [self.message(text)], chat.get("model"), _usage(chat.get("usage")),
                             choice.get("finish_reason"), chat.get("rightmodel"))


class ResponseStream:
    """chat.completion.chunk events → the Responses API's streaming events."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.sequence = 0
        self.started = False
        self.parts: list[str] = []
        self.model: Any = None
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.rightmodel: Any = None

    def _event(self, kind: str, **data: Any) -> bytes:
        frame = sse({"type": kind, "sequence_number": self.sequence, **data}, event=kind)
        self.sequence += 1
        return frame

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.shape.message_id, "output_index": 0, "content_index": 0}

    def _start(self) -> list[bytes]:
        self.started = True
        s = self.shape
        early = s.response("in_progress", [], self.model)
        return [
            self._event("response.created", response=early),
            self._event("response.in_progress", response=early),
            self._event("response.output_item.added", output_index=0, item=s.message("", "in_progress")),
            self._event("response.content_part.added", **self._where(), part={"type": "output_text", "text": "", "annotations": []}),
        ]

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        self.model = self.model or chunk.get("model")
        out = [] if self.started else self._start()
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        if "rightmodel" in chunk:
            self.rightmodel = chunk["rightmodel"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            text = (choice.get("delta") or {}).get("content")
            if text:
                self.parts.append(text)
                out.append(self._event("response.output_text.delta", **self._where(), delta=text, logprobs=[]))
            if choice.get("finish_reason") is not None:
                self.finish = choice["finish_reason"]
        return out

    def error(self, payload: dict[str, Any]) -> list[bytes]:
        err = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        out = [] if self.started else self._start()
        out.append(self._event("error", code=err.get("code"), message=err.get("message"), param=err.get("param")))
        failed = self.shape.response("failed", [], self.model, self.usage, rightmodel=self.rightmodel,
                                     error={"code": err.get("code") or "server_error", "message": err.get("message") or ""})
        out.append(self._event("response.failed", response=failed))
        return out

    def done(self) -> list[bytes]:
        out = [] if self.started else self._start()
        text = "".join(self.parts)
        item = self.shape.message(text)
        part = item["content"][0]
        final = self.shape.response("completed", [item], self.model, self.usage, self.finish, self.rightmodel)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        out += [
            self._event("response.output_text.done", **self._where(), text=text, logprobs=[]),
            self._event("response.content_part.done", **self._where(), part=part),
            self._event("response.output_item.done", output_index=0, item=item),
            self._event(kind, response=final),
        ]
        return out


async def post_responses(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    t = Ticket(ENDPOINT)
    try:
        body = await read_json(request, state.constellation.defaults.max_body_bytes, t.request_id)
        t.stream = body.get("stream") is True
        chat = chat_body(body, state.constellation.defaults.max_tokens)
    except APIError as err:
        return error_response(state, t, err)
    response = await route_chat(request, t, chat)
    shape = Shape(body, request_id_of(response) or t.request_id)
    return reshape(response, shape.whole, lambda: ResponseStream(shape))
