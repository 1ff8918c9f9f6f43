"""Helpers shared by test_backends.py (OpenAI-compatible backend) and test_backends_anthropic.py
(Anthropic backend), which were one file until it grew past 600 lines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from upstream_server import Upstream

from rightmodel.backends.base import ChatStream
from rightmodel.backends.http_client import HttpClient

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(autouse=True)
def _reset(upstream: Upstream):
    upstream.set_fault(None)
    upstream.clear()
    yield


def run(fn, *args: Any) -> Any:
    """Run `fn(http, *args)` in a fresh event loop with a fresh shared HttpClient."""
    async def main():
        async with HttpClient() as http:
            return await fn(http, *args)
    return asyncio.run(main())


def user(text: str, **body: Any) -> dict[str, Any]:
    return {"model": body.pop("model", "gpt-4o-mini"), "messages": [{"role": "user", "content": text}], **body}


async def collect(stream: ChatStream) -> list[bytes]:
    return [frame async for frame in stream]


def chunks(frames: list[bytes]) -> list[dict[str, Any]]:
    """Parse frames, checking each is one complete `data: ...\\n\\n` event and the last is [DONE]."""
    for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and frame.count(b"\n") == 2, frame
    assert frames[-1] == b"data: [DONE]\n\n"
    return [json.loads(f[6:]) for f in frames[:-1]]


def streamed_text(parsed: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in parsed if c["choices"])


def headers_of(entry: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in entry["headers"]}
