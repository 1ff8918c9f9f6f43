"""POST /v1/completions (the legacy text-completions API) served by the chat path.

LlamaIndex's `OpenAILike` calls this endpoint by default (`is_chat_model=False`), and older
clients still do. A prompt becomes one user message; the chat answer's content becomes
`choices[].text`; streams become `text_completion` chunks. Routing is the chat path's own
(`chat.route_chat`): `model` names a task, a model or `auto` exactly as it does there.

A list of several prompts is served as one chat request per prompt, concurrently, each with its
own ledger row (each may route differently: one prompt to a specialist, another to a remote
model), and answered as one completion with one choice per prompt. Streaming takes one prompt.
Token-array prompts, `echo`, `suffix`, `best_of` > 1 and `logprobs` have no chat equivalent and
are refused with a 400 naming the field.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from rightmodel.gateway.chat import error_response, route_chat
from rightmodel.gateway.dialects import JSON, passthrough_headers, request_id_of, reshape, sse
from rightmodel.gateway.errors import APIError, invalid
from rightmodel.gateway.state import GatewayState
from rightmodel.gateway.ticket import Ticket
from rightmodel.gateway.validation import read_json, type_name

ENDPOINT = "/v1/completions"
# Options with the same meaning in both APIs: copied to the chat body as they are (validate_chat checks them).
SHARED = ("model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "n", "stop", "presence_penalty",
          "frequency_penalty", "seed", "user", "logit_bias", "metadata")
MAX_PROMPTS = 16


def prompts_of(body: dict[str, Any]) -> list[str]:
    """The request's prompts, checked: a string or a non-empty array of strings."""
    prompt = body.get("prompt")
    if prompt is None:
        raise invalid("prompt", "'prompt' is required", "missing_required_parameter")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts:
        raise invalid("prompt", f"'prompt' must be a string or a non-empty array of strings, got {type_name(prompt)}", "invalid_type")
    for i, item in enumerate(prompts):
        if not isinstance(item, str):
            raise invalid(f"prompt.{i}", f"'prompt.{i}' must be a string (token arrays are not supported), got {type_name(item)}",
                          "invalid_type")
    if len(prompts) > MAX_PROMPTS:
        raise invalid("prompt", f"'prompt' holds {len(prompts)} prompts; at most {MAX_PROMPTS} per request", "too_many_prompts")
    if len(prompts) > 1 and body.get("stream") is True:
        raise invalid("prompt", "a streamed completion takes one prompt; send one request per prompt", "unsupported_parameter")
    return prompts


def chat_bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One chat-completions body per prompt (400 naming the field for what chat cannot express)."""
    if body.get("echo") is True:
        raise invalid("echo", "'echo' is not supported: answers come from the chat path, which does not repeat the prompt",
                      "unsupported_parameter")
    if body.get("suffix") not in (None, ""):
        raise invalid("suffix", "'suffix' (insertion) is not supported", "unsupported_parameter")
    best_of = body.get("best_of")
    if best_of is not None and best_of != 1:
        raise invalid("best_of", "'best_of' is not supported (only 1)", "unsupported_parameter")
    if body.get("logprobs") is not None:
        raise invalid("logprobs", "'logprobs' is not supported on /v1/completions", "unsupported_parameter")
    prompts = prompts_of(body)
    base = {key: body[key] for key in SHARED if key in body}
    if base.get("stream") is True:  # usage arrives as its own chunk; it is dropped again unless the client asked
        base["stream_options"] = {**(body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}),
                                  "include_usage": True}
    return [{**base, "messages": [{"role": "user", "content": prompt}]} for prompt in prompts]


def text_completion(chat: dict[str, Any], request_id: str, index: int = 0) -> dict[str, Any]:
    """A `chat.completion` object as a `text_completion` one (choice indexes start at `index`)."""
    choices = []
    for i, choice in enumerate(chat.get("choices") or []):
        message = choice.get("message") or {}
        choices.append({"text": message.get("content") or "", "index": index + i, "logprobs": None,
                        "finish_reason": choice.get("finish_reason")})
    out = {"id": f"cmpl-{request_id}", "object": "text_completion", "created": chat.get("created") or int(time.time()),
           "model": chat.get("model"), "choices": choices, "usage": chat.get("usage"), "system_fingerprint": chat.get("system_fingerprint")}
    if "rightmodel" in chat:
        out["rightmodel"] = chat["rightmodel"]
    return out


class CompletionStream:
    """chat.completion.chunk events → text_completion chunks (same ids, text instead of deltas)."""

    def __init__(self, request_id: str, include_usage: bool) -> None:
        self.id = f"cmpl-{request_id}"
        self.include_usage = include_usage

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        base = {"id": self.id, "object": "text_completion", "created": chunk.get("created") or int(time.time()), "model": chunk.get("model")}
        choices = chunk.get("choices") or []
        if not choices:
            if chunk.get("usage") is not None and self.include_usage:
                return [sse({**base, "choices": [], "usage": chunk["usage"]})]
            return []
        out = []
        for choice in choices:
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            if not text and choice.get("finish_reason") is None:
                continue  # the role chunk: nothing to say in this API
            out.append({"text": text, "index": choice.get("index", 0), "logprobs": None, "finish_reason": choice.get("finish_reason")})
        if not out:
            return []
        frame = {**base, "choices": out}
        if "rightmodel" in chunk:
            frame["rightmodel"] = chunk["rightmodel"]
        return [sse(frame)]

    def error(self, payload: dict[str, Any]) -> list[bytes]:
        return [sse(payload)]

    def done(self) -> list[bytes]:
        return [b"data: [DONE]\n\n"]


async def post_completions(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    t = Ticket(ENDPOINT)
    try:
        body = await read_json(request, state.constellation.defaults.max_body_bytes, t.request_id)
        t.stream = body.get("stream") is True
        bodies = chat_bodies(body)
    except APIError as err:
        return error_response(state, t, err)
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    if len(bodies) == 1:
        response = await route_chat(request, t, bodies[0])
        rid = request_id_of(response) or t.request_id
        return reshape(response, lambda chat: text_completion(chat, rid), lambda: CompletionStream(rid, include_usage))
    tickets = [t] + [Ticket(ENDPOINT) for _ in bodies[1:]]
    responses = await asyncio.gather(*(route_chat(request, ticket, b) for ticket, b in zip(tickets, bodies)))
    return merged(responses)


def merged(responses: list[Response]) -> Response:
    """One completion for several prompts: choice i answers prompt i; usage is the sum. Each
    prompt was its own request (ledger row, x-rightmodel-request-ids); the first refusal, if
    any, is the answer (the prompts answered meanwhile are in the ledger as answered)."""
    for response in responses:
        if response.status_code != 200:
            return response
    chats = [orjson.loads(r.body) for r in responses]
    ids = [request_id_of(r) for r in responses]
    out = text_completion(chats[0], ids[0])
    out["choices"] = []
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for i, chat in enumerate(chats):
        for choice in text_completion(chat, ids[i], index=len(out["choices"]))["choices"]:
            choice["rightmodel"] = chat.get("rightmodel")
            out["choices"].append(choice)
        for key in usage:
            usage[key] += int((chat.get("usage") or {}).get(key) or 0)
    out["usage"] = usage
    headers = passthrough_headers(responses[0])
    headers["x-rightmodel-request-ids"] = ",".join(ids)
    return Response(orjson.dumps(out), media_type=JSON, headers=headers)
