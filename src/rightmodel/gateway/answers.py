"""A specialist's label as an ordinary chat completion (whole or streamed), plus the
`rightmodel` field and `x-rightmodel-*` headers every answer carries.

`rightmodel.unsure` is true (and the `x-rightmodel-unsure: true` header is sent) when the label
is a guess: the specialist was below its threshold and the task's `on_unsure` is `guess`. A
client that must not act on a guess checks either.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from rightmodel.backends.specialist import Classification


@dataclass
class RouteInfo:
    """The routing facts a client sees in headers and in the `rightmodel` field."""

    request_id: str
    route: str  # specialist | escalated | remote | fallback
    reason: str
    model: str  # model@version or remote model name
    task: str | None = None
    confidence: float | None = None
    threshold: float | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    unsure: bool = False  # a specialist's label below its threshold, served as a guess (on_unsure: guess)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "request_id": self.request_id,
            "route": self.route,
            "reason": self.reason,
            "model": self.model,
            "task": self.task,
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "threshold": self.threshold,
            "cost_usd": self.cost_usd,
            "latency_ms": round(self.latency_ms, 3),
            "unsure": self.unsure,
        }
        return data

    def headers(self) -> dict[str, str]:
        headers = {
            "x-request-id": self.request_id,
            "x-rightmodel-route": self.route,
            "x-rightmodel-model": self.model,
            "x-rightmodel-reason": _header_safe(self.reason),
            "x-rightmodel-cost-usd": f"{self.cost_usd:.10f}",
            "x-rightmodel-latency-ms": f"{self.latency_ms:.3f}",
        }
        if self.task:
            headers["x-rightmodel-task"] = self.task
        if self.confidence is not None:
            headers["x-rightmodel-confidence"] = f"{self.confidence:.6f}"
        if self.unsure:
            headers["x-rightmodel-unsure"] = "true"
        return headers


def _header_safe(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii").replace("\r", " ").replace("\n", " ")[:300]


def wants_json(body: Mapping[str, Any], task_format: str) -> bool:
    fmt = body.get("response_format") or {}
    return task_format == "json" or fmt.get("type") in ("json_object", "json_schema")


def answer_text(cls: Classification, as_json: bool, multi_label: bool) -> str:
    if not as_json:
        return cls.label
    if multi_label:
        payload: dict[str, Any] = {"labels": list(cls.labels)}
    else:
        payload = {"label": cls.labels[0] if cls.labels else None}
    payload["confidence"] = round(cls.confidence, 6)
    return orjson.dumps(payload).decode()


def completion(request_id: str, model: str, text: str, prompt_tokens: int, completion_tokens: int, info: RouteInfo) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": None,
        "rightmodel": info.to_dict(),
    }


def sse(data: Mapping[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"data: {payload}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def completion_chunks(
    request_id: str,
    model: str,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    info: RouteInfo,
    include_usage: bool,
    best_guess: dict[str, Any] | None = None,
) -> list[bytes]:
    """The same answer as a stream: role, content, finish (with the rightmodel field), usage, [DONE]."""
    base = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model, "system_fingerprint": None}

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra})

    meta = info.to_dict()
    if best_guess is not None:
        meta.update(status="escalation_unavailable", best_guess=best_guess)
    frames = [chunk({"role": "assistant", "content": ""})]
    if text:
        frames.append(chunk({"content": text}))
    frames.append(chunk({}, "stop", rightmodel=meta))
    if include_usage:
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        frames.append(sse({**base, "choices": [], "usage": usage}))
    frames.append(DONE)
    return frames
