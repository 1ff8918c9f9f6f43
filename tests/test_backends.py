"""Remote backends against a real upstream server process: the OpenAI-compatible backend and the
shared HTTP plumbing (SSE framing, Retry-After, status mapping). The Anthropic backend is tested in
test_backends_anthropic.py.

`upstream_server.py` stands in for the paid APIs; the first tests check with the official `openai`
SDK that it speaks its protocol, so the backend tests below test against the real wire format.
No mocks: every backend call crosses a loopback TCP connection.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from typing import Any

import openai
import pytest
from backend_helpers import (  # noqa: F401  (_reset: autouse fixture)
    WEATHER_TOOL,
    _reset,
    chunks,
    collect,
    headers_of,
    run,
    streamed_text,
    user,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from upstream_server import Upstream, upstream  # noqa: F401  (module-scoped fixture)

from rightmodel.backends.base import ChatBackend, ChatStream, RemoteEndpoint, UpstreamError, Usage
from rightmodel.backends.http_client import HttpClient, SSEFramer, parse_retry_after, status_error
from rightmodel.backends.openai_http import OpenAICompatibleBackend


def openai_backend(up: Upstream, http: HttpClient, **endpoint: Any) -> OpenAICompatibleBackend:
    ep = RemoteEndpoint(base_url=up.openai_base, model="gpt-4o-mini", api_key="sk-test-123", **endpoint)
    return OpenAICompatibleBackend("openai-test", ep, http)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ============================================================================ the upstream server


def test_openai_sdk_against_upstream(upstream: Upstream):  # noqa: F811
    client = openai.OpenAI(base_url=upstream.openai_base, api_key="sk-x", max_retries=0)
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}])
    assert r.choices[0].message.content == "echo: hello there"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (2, 3)

    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}],
        stream=True, stream_options={"include_usage": True})
    got = list(stream)
    assert got[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "echo: one two three"
    assert [c.choices[0].finish_reason for c in got if c.choices][-1] == "stop"
    assert got[-1].choices == [] and got[-1].usage.completion_tokens == 4

    r = client.chat.completions.create(model="gpt-4o-mini", tools=[WEATHER_TOOL],
                                       messages=[{"role": "user", "content": 'call get_weather {"city": "Oslo"}'}])
    call = r.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    assert r.choices[0].finish_reason == "tool_calls"

    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"x-upstream-fault": "429"})
    assert info.value.response.headers["retry-after"] == "1"
    assert [m.id for m in client.models.list()][:1] == ["gpt-4o-mini"]


def test_upstream_records_requests_and_takes_control_faults(upstream: Upstream):  # noqa: F811
    client = openai.OpenAI(base_url=upstream.openai_base, api_key="sk-secret-value", max_retries=0)
    upstream.set_fault("500", count=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "private words"}])
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "private words"}])
    seen = upstream.received()
    assert [e["fault"] for e in seen] == ["500", "500", None]
    assert all(e["json"]["messages"][0]["content"] == "private words" for e in seen)
    assert headers_of(seen[0])["authorization"] == "Bearer sk-secret-value"
    upstream.clear()
    assert upstream.received() == []


# ============================================================================ pure helpers


def test_sse_framer_reframes_any_split():
    events = [b'data: {"a": 1}\n\n', b": comment\n\n", b'event: x\ndata: {"b": 2}\n\n', b"data: [DONE]\n\n"]
    stream = b"".join(events)
    rng = random.Random(7)
    for crlf in (False, True):
        raw = stream.replace(b"\n", b"\r\n") if crlf else stream
        for _ in range(200):
            cuts = sorted(rng.sample(range(1, len(raw)), rng.randint(1, 12)))
            framer = SSEFramer()
            frames = []
            for a, b in zip([0, *cuts], [*cuts, len(raw)]):
                frames.extend(framer.feed(raw[a:b]))
            assert frames == events
            assert framer.tail() == b""


def test_retry_after_parsing_and_status_mapping():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    import email.utils
    in_10s = parse_retry_after({"Retry-After": email.utils.formatdate(time.time() + 10, usegmt=True)})
    assert 8 <= in_10s <= 10
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    for status, retryable in ((400, False), (401, False), (404, False), (408, True), (409, True),
                              (422, False), (429, True), (500, True), (502, True), (529, True)):
        err = status_error("b", status, {}, b'{"error": {"message": "m"}}')
        assert (err.kind, err.status, err.retryable, err.body) == ("http", status, retryable, {"error": {"message": "m"}})
    assert status_error("b", 502, {}, b"<html>bad gateway</html>").body is None


# ============================================================================ OpenAI backend


def test_openai_backend_chat(upstream: Upstream):  # noqa: F811
    async def go(http):
        backend = openai_backend(upstream, http)
        assert isinstance(backend, ChatBackend)
        first = await backend.chat(user("hello big world", metadata={"cached": 2}))
        second = await backend.chat(user("again", stream=True, stream_options={"include_usage": True}))
        return first, second

    first, second = run(go)
    ChatCompletion.model_validate(first.body)
    assert first.body["choices"][0]["message"]["content"] == "echo: hello big world"
    assert first.usage == Usage(prompt_tokens=3, completion_tokens=4, cached_tokens=2, reported=True)
    assert first.upstream_ms > 0
    assert second.body["choices"][0]["message"]["content"] == "echo: again"
    seen = upstream.received()
    assert seen[0]["path"] == "/v1/chat/completions"
    headers = headers_of(seen[0])
    assert headers["authorization"] == "Bearer sk-test-123" and headers["content-type"] == "application/json"
    assert seen[0]["json"] == user("hello big world", metadata={"cached": 2})
    assert "stream" not in seen[1]["json"] and "stream_options" not in seen[1]["json"]
    assert seen[0]["client_port"] == seen[1]["client_port"]  # one pooled keep-alive connection


def test_openai_backend_stream(upstream: Upstream):  # noqa: F811
    async def go(http):
        backend = openai_backend(upstream, http)
        plain = await backend.open_stream(user("one two three"))
        assert isinstance(plain, ChatStream)
        plain_frames = await collect(plain)
        asked = await backend.open_stream(user("one two three", stream=True, stream_options={"include_usage": True}))
        asked_frames = await collect(asked)
        return plain, plain_frames, asked, asked_frames

    async def go_fragmented(http):
        backend = openai_backend(upstream, http, headers={"x-upstream-fault": "fragmented"})
        stream = await backend.open_stream(user("one two three"))
        return await collect(stream)

    plain, plain_frames, asked, asked_frames = run(go)
    parsed = chunks(plain_frames)
    for c in parsed:
        ChatCompletionChunk.model_validate(c)
    assert streamed_text(parsed) == "echo: one two three"
    assert all(c["choices"] for c in parsed)  # the usage chunk the client did not ask for is not passed on
    assert plain.usage == Usage(3, 4, 0, True)
    # the upstream's own bytes pass through (its json.dumps spacing, not a re-serialisation)
    assert all(b'"object": "chat.completion.chunk"' in f for f in plain_frames[:-1])
    asked_parsed = chunks(asked_frames)
    assert asked_parsed[-1]["choices"] == [] and asked_parsed[-1]["usage"]["completion_tokens"] == 4
    assert asked.usage == Usage(3, 4, 0, True)
    sent = upstream.received()
    assert sent[0]["json"]["stream"] is True and sent[0]["json"]["stream_options"] == {"include_usage": True}
    assert headers_of(sent[0])["accept"] == "text/event-stream"

    frags = run(go_fragmented)
    assert streamed_text(chunks(frags)) == "echo: one two three"
    assert upstream.received()[-1]["fault"] == "fragmented"


@pytest.mark.parametrize("fault, kind, status, retryable, retry_after", [
    ("429", "http", 429, True, 1.0),
    ("500", "http", 500, True, None),
    ("503", "http", 503, True, "date"),
    ("400", "http", 400, False, None),
    ("stall", "timeout", None, True, None),
    ("drop", "connect", None, True, None),
    ("malformed-json", "protocol", None, True, None),
    ("cut-stream", "connect", None, True, None),
])
def test_openai_backend_chat_faults(upstream: Upstream, fault, kind, status, retryable, retry_after):  # noqa: F811
    async def go(http):
        backend = openai_backend(upstream, http)
        t0 = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            await backend.chat(user("hi"), timeout=0.5)
        return info.value, time.monotonic() - t0

    upstream.set_fault(fault)
    err, took = run(go)
    assert (err.kind, err.status, err.retryable) == (kind, status, retryable), err
    if retry_after == "date":
        assert 0 <= err.retry_after <= 3
    else:
        assert err.retry_after == retry_after
    if fault == "stall":
        assert 0.4 < took < 2
    if status is not None:
        assert err.body == {"error": {"message": f"injected fault: HTTP {status}", "type": err.body["error"]["type"],
                                      "param": None, "code": None}}


def test_openai_backend_relays_upstream_400_and_handles_odd_answers(upstream: Upstream):  # noqa: F811
    async def go(http):
        backend = openai_backend(upstream, http)
        with pytest.raises(UpstreamError) as bad:
            await backend.chat({"model": "gpt-4o-mini", "messages": []})
        with pytest.raises(UpstreamError) as bad_stream:
            await backend.open_stream({"model": "gpt-4o-mini", "messages": []})
        upstream.set_fault("null-id", count=2)
        nulled = await backend.chat(user("x"))
        nulled_stream = await collect(await backend.open_stream(user("a b")))
        upstream.set_fault("slow:300")
        slow = await backend.chat(user("x"))
        return bad.value, bad_stream.value, nulled, nulled_stream, slow

    bad, bad_stream, nulled, nulled_stream, slow = run(go)
    relayed = {"error": {"message": "'messages' must be a non-empty array", "type": "invalid_request_error",
                         "param": None, "code": None}}
    for err in (bad, bad_stream):
        assert (err.kind, err.status, err.retryable, err.body) == ("http", 400, False, relayed)
    assert nulled.body["id"].startswith("chatcmpl-")
    ids = {c["id"] for c in chunks(nulled_stream)}
    assert len(ids) == 1 and None not in ids
    assert slow.upstream_ms >= 300


def test_openai_backend_connect_refused():
    async def go(http):
        ep = RemoteEndpoint(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", api_key="k")
        backend = OpenAICompatibleBackend("nobody", ep, http)
        with pytest.raises(UpstreamError) as a:
            await backend.chat(user("x"))
        with pytest.raises(UpstreamError) as b:
            await backend.open_stream(user("x"))
        return a.value, b.value

    for err in run(go):
        assert (err.kind, err.retryable, err.status) == ("connect", True, None)


@pytest.mark.parametrize("fault, kind, status, retryable, frames_before", [
    ("429", "http", 429, True, None),
    ("503", "http", 503, True, None),
    ("stall", "timeout", None, True, None),
    ("drop", "connect", None, True, None),
    ("cut-stream", "connect", None, True, 3),
    ("stall-stream", "timeout", None, True, 3),
    ("malformed-sse", "protocol", None, True, 2),
    ("error-event", "http", None, True, 3),
])
def test_openai_backend_stream_faults(upstream: Upstream, fault, kind, status, retryable, frames_before):  # noqa: F811
    async def go(http):
        backend = openai_backend(upstream, http)
        got: list[bytes] = []
        with pytest.raises(UpstreamError) as info:
            stream = await backend.open_stream(user("alpha beta gamma delta epsilon"), timeout=0.5)
            got.append(b"opened")
            async for frame in stream:
                got.append(frame)
        return info.value, got

    upstream.set_fault(fault)
    err, got = run(go)
    assert (err.kind, err.status, err.retryable) == (kind, status, retryable), err
    if frames_before is None:
        assert got == []  # raised by open_stream, before any frame: the caller can still fall back
    else:
        assert got[0] == b"opened" and len(got) - 1 == frames_before
        assert streamed_text(chunks([*got[1:], b"data: [DONE]\n\n"])).startswith("echo:")


def test_openai_stream_aclose_aborts_upstream(upstream: Upstream):  # noqa: F811
    words = " ".join(f"w{i}" for i in range(60))

    async def go(http):
        backend = openai_backend(upstream, http, headers={"x-upstream-fault": "slow-stream:50"})
        stream = await backend.open_stream(user(words))
        it = stream.__aiter__()
        first = [await it.__anext__(), await it.__anext__()]
        t0 = time.monotonic()
        await stream.aclose()
        await stream.aclose()  # idempotent
        closed_in = time.monotonic() - t0
        rest = [f async for f in stream]

        # closing from another task while the iterating task waits for bytes
        stream2 = await backend.open_stream(user(words))
        consumer = asyncio.create_task(collect(stream2))
        await asyncio.sleep(0.2)
        await stream2.aclose()
        partial = await asyncio.wait_for(consumer, 2)
        # the pool still works afterwards
        after = await backend.chat(user("after"))
        return first, closed_in, rest, partial, after

    first, closed_in, rest, partial, after = run(go)
    assert len(first) == 2 and closed_in < 0.1 and rest == []
    assert 0 < len(partial) < 20
    assert after.body["choices"][0]["message"]["content"] == "echo: after"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        outcomes = [e["outcome"] for e in upstream.received()]
        if outcomes[:2] == ["client-disconnected", "client-disconnected"]:
            break
        time.sleep(0.1)
    assert outcomes[:2] == ["client-disconnected", "client-disconnected"]
