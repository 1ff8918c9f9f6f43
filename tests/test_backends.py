"""Remote backends (OpenAI-compatible, Anthropic) against a real upstream server process.

`upstream_server.py` stands in for the paid APIs; the first tests check with the official `openai`
and `anthropic` SDKs that it speaks their protocols, so the backend tests below test against
the real wire formats. No mocks: every backend call crosses a loopback TCP connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
import time
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from upstream_server import Upstream, upstream  # noqa: F401  (module-scoped fixture)

from rightmodel.gateway.backends.anthropic import AnthropicBackend, AnthropicStreamTranslator
from rightmodel.gateway.backends.anthropic_mapping import (
    JSON_OBJECT_INSTRUCTION,
    RequestTranslationError,
    anthropic_usage,
    from_anthropic_message,
    to_anthropic_request,
)
from rightmodel.gateway.backends.base import ChatBackend, ChatStream, RemoteEndpoint, UpstreamError, Usage
from rightmodel.gateway.backends.http_client import HttpClient, SSEFramer, parse_retry_after, status_error
from rightmodel.gateway.backends.openai_http import OpenAICompatibleBackend

PNG_1PX = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)).decode()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(autouse=True)
def _reset(upstream: Upstream):  # noqa: F811
    upstream.set_fault(None)
    upstream.clear()
    yield


def run(fn, *args: Any) -> Any:
    """Run `fn(http, *args)` in a fresh event loop with a fresh shared HttpClient."""
    async def main():
        async with HttpClient() as http:
            return await fn(http, *args)
    return asyncio.run(main())


def openai_backend(up: Upstream, http: HttpClient, **endpoint: Any) -> OpenAICompatibleBackend:
    ep = RemoteEndpoint(base_url=up.openai_base, model="gpt-4o-mini", api_key="sk-test-123", **endpoint)
    return OpenAICompatibleBackend("openai-test", ep, http)


def anthropic_backend(up: Upstream, http: HttpClient, **endpoint: Any) -> AnthropicBackend:
    ep = RemoteEndpoint(base_url=up.url, model="claude-test", api_key="sk-ant-test", **endpoint)
    return AnthropicBackend("anthropic-test", ep, http)


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


def test_anthropic_sdk_against_upstream(upstream: Upstream):  # noqa: F811
    client = anthropic.Anthropic(base_url=upstream.url, api_key="sk-ant-x", max_retries=0)
    msg = client.messages.create(model="claude-test", max_tokens=100, system="be brief",
                                 messages=[{"role": "user", "content": "hello there"}])
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello there"
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (4, 3)

    with client.messages.stream(model="claude-test", max_tokens=100,
                                messages=[{"role": "user", "content": "streaming works"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: streaming works"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3

    tool = {"name": "get_weather", "description": "weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
    ask = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
    msg = client.messages.create(model="claude-test", max_tokens=100, tools=[tool], messages=ask)
    assert msg.stop_reason == "tool_use"
    use = msg.content[1]
    assert (use.type, use.name, use.input) == ("tool_use", "get_weather", {"city": "Paris"})
    with client.messages.stream(model="claude-test", max_tokens=100, tools=[tool], messages=ask) as stream:
        final = stream.get_final_message()
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Paris"}
    assert final.content[0].text == "Calling get_weather."

    # the tool result turn passes the server's real-API checks
    followup = ask + [{"role": "assistant", "content": [b.model_dump() for b in msg.content]},
                      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]}]
    msg = client.messages.create(model="claude-test", max_tokens=100, tools=[tool], messages=followup)
    assert msg.content[0].text == "echo: tool result: 18C"

    with pytest.raises(anthropic.BadRequestError, match="alternate"):
        client.messages.create(model="claude-test", max_tokens=10, messages=[
            {"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="claude-test", max_tokens=10, messages=ask,
                               extra_headers={"x-upstream-fault": "529"})
    assert info.value.status_code == 529


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


def test_to_anthropic_request_mapping():
    body = {
        "model": "claude-x",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"},
                                         {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                                         {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}}]},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "20C"}]},
            {"role": "user", "content": "thanks"},
        ],
        "max_completion_tokens": 50, "max_tokens": 10, "temperature": 1.7, "top_p": 0.5, "stop": "END",
        "tools": [WEATHER_TOOL], "tool_choice": "required", "parallel_tool_calls": False,
        "response_format": {"type": "json_object"}, "user": "u-42",
        "n": 1, "seed": 3, "presence_penalty": 0.1, "logprobs": True, "stream_options": {"include_usage": True},
    }
    out = to_anthropic_request(body)
    assert out["system"] == "You are terse.\n\nAnswer in French.\n\n" + JSON_OBJECT_INSTRUCTION
    assert out["max_tokens"] == 50 and out["temperature"] == 1.0 and "top_p" not in out
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "u-42"}
    assert out["tools"] == [{"name": "get_weather", "description": "Current weather for a city",
                             "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert set(out) == {"model", "messages", "max_tokens", "system", "temperature", "stop_sequences", "tools",
                        "tool_choice", "metadata"}
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user"]
    first, assistant, results = out["messages"]
    assert first["content"] == [
        {"type": "text", "text": "first"}, {"type": "text", "text": "second"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}}]
    assert assistant["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}}]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "20C"}]},
        {"type": "text", "text": "thanks"}]


def test_to_anthropic_request_small_cases():
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    out = to_anthropic_request(base)
    assert out == {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                   "max_tokens": 1024}
    assert to_anthropic_request({**base, "max_tokens": 7, "top_p": 0.9})["top_p"] == 0.9
    assert to_anthropic_request({**base, "stop": ["a", "", "b"]})["stop_sequences"] == ["a", "b"]
    tools = {**base, "tools": [WEATHER_TOOL]}
    assert "tool_choice" not in to_anthropic_request(tools)
    assert to_anthropic_request({**tools, "tool_choice": "auto"})["tool_choice"] == {"type": "auto"}
    assert to_anthropic_request({**tools, "tool_choice": "none"})["tool_choice"] == {"type": "none"}
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert to_anthropic_request({**tools, "tool_choice": named})["tool_choice"] == {"type": "tool", "name": "get_weather"}
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    system = to_anthropic_request({**base, "response_format": fmt})["system"]
    assert json.dumps(schema, separators=(",", ":")) in system
    assert "system" not in to_anthropic_request({**base, "response_format": {"type": "text"}})
    url = "data:image/gif,GIF89a%01%00"
    block = to_anthropic_request({**base, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}]}]})["messages"][0]["content"][0]
    assert block["source"] == {"type": "base64", "media_type": "image/gif",
                               "data": base64.b64encode(b"GIF89a\x01\x00").decode()}
    # a prefill may not end in whitespace; empty assistant turns vanish
    out = to_anthropic_request({**base, "messages": [*base["messages"], {"role": "assistant", "content": "Sure: "}]})
    assert out["messages"][-1]["content"] == [{"type": "text", "text": "Sure:"}]
    out = to_anthropic_request({**base, "messages": [*base["messages"], {"role": "assistant", "content": None}]})
    assert [m["role"] for m in out["messages"]] == ["user"]
    # bad arguments of an earlier tool call are kept, not fatal
    bad = {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}
    out = to_anthropic_request({**base, "messages": [*base["messages"], bad]})
    assert out["messages"][-1]["content"][0]["input"] == {"_raw_arguments": "{oops"}
    for bad_body in ({**base, "messages": []},
                     {**base, "messages": [{"role": "wizard", "content": "x"}]},
                     {**base, "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
                     {**base, "messages": [{"role": "user", "content": [
                         {"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}):
        with pytest.raises(RequestTranslationError) as info:
            to_anthropic_request(bad_body)
        assert info.value.status == 400 and not info.value.retryable
        assert info.value.body["error"]["type"] == "invalid_request_error"


def test_from_anthropic_message_and_usage():
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
           "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                       {"type": "text", "text": "Let me check. "}, {"type": "text", "text": "One moment."},
                       {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}}],
           "stop_reason": "tool_use", "stop_sequence": None,
           "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5,
                     "output_tokens": 7}}
    out = from_anthropic_message(msg, created=123)
    ChatCompletion.model_validate(out)
    assert out["id"] == "msg_1" and out["created"] == 123 and out["model"] == "claude-x"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check. One moment."
    assert choice["message"]["tool_calls"] == [{"id": "toolu_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city":"Rome"}'}}]
    assert out["usage"] == {"prompt_tokens": 115, "completion_tokens": 7, "total_tokens": 122,
                            "prompt_tokens_details": {"cached_tokens": 100}}
    assert anthropic_usage(msg["usage"]) == Usage(115, 7, 100, True, cache_write_tokens=5)  # writes priced apart (1.25x input)
    assert anthropic_usage(None) == Usage()
    for reason, finish in (("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                           ("tool_use", "tool_calls"), ("refusal", "content_filter")):
        m = {**msg, "content": [{"type": "text", "text": "x"}], "stop_reason": reason}
        assert from_anthropic_message(m)["choices"][0]["finish_reason"] == finish
    only_tool = from_anthropic_message({**msg, "content": msg["content"][3:]})
    assert only_tool["choices"][0]["message"]["content"] is None


def test_stream_translator_events_to_chunks():
    t = AnthropicStreamTranslator("b", include_usage=True, created=5)
    events = [
        {"type": "message_start", "message": {"id": "msg_9", "model": "claude-x", "content": [],
                                              "usage": {"input_tokens": 3, "cache_read_input_tokens": 4,
                                                        "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi \"you\""}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "x"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2,
         "content_block": {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": " 1}"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "content_block_start", "index": 3,
         "content_block": {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {"k": "v"}}},
        {"type": "content_block_stop", "index": 3},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    frames = [f for e in events for f in t.feed(e)]
    parsed = chunks(frames)
    for c in parsed:
        ChatCompletionChunk.model_validate(c)
        assert (c["id"], c["created"], c["model"], c["object"]) == ("msg_9", 5, "claude-x", "chat.completion.chunk")
    deltas = [c["choices"][0]["delta"] for c in parsed if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"content": 'Hi "you"'}
    assert deltas[2] == {"tool_calls": [{"index": 0, "id": "toolu_a", "type": "function",
                                         "function": {"name": "f", "arguments": ""}}]}
    assert [d["tool_calls"][0]["function"]["arguments"] for d in deltas[3:5]] == ['{"a":', " 1}"]
    assert deltas[5]["tool_calls"][0]["id"] == "toolu_b" and deltas[5]["tool_calls"][0]["index"] == 1
    assert deltas[6] == {"tool_calls": [{"index": 1, "function": {"arguments": '{"k":"v"}'}}]}
    assert parsed[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert parsed[-1]["choices"] == []
    assert parsed[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16,
                                   "prompt_tokens_details": {"cached_tokens": 4}}
    assert t.done and t.usage == Usage(7, 9, 4, True)

    t = AnthropicStreamTranslator("b")
    t.feed(events[0])
    with pytest.raises(UpstreamError) as info:
        t.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert (info.value.status, info.value.retryable) == (529, True)
    assert info.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(UpstreamError) as info:
        AnthropicStreamTranslator("b").feed(events[3])
    assert info.value.kind == "protocol"


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


# ============================================================================ Anthropic backend


def test_anthropic_backend_chat_mapping(upstream: Upstream):  # noqa: F811
    body = {
        "model": "claude-test",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": "earlier answer"},
            {"role": "user", "content": "part one"},
            {"role": "user", "content": [{"type": "text", "text": "what is this"},
                                         {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}}]},
        ],
        "temperature": 0.3, "stop": ["never-there"], "user": "user-7", "seed": 1, "frequency_penalty": 0.2,
    }

    async def go(http):
        backend = anthropic_backend(upstream, http)
        return await backend.chat(body)

    result = run(go)
    ChatCompletion.model_validate(result.body)
    assert result.body["choices"][0]["message"] == {"role": "assistant", "content": "echo: part one what is this",
                                                    "refusal": None}
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert result.body["model"] == "claude-test" and result.body["id"].startswith("msg_")
    assert result.usage == Usage(prompt_tokens=11, completion_tokens=6, cached_tokens=0, reported=True)
    sent = upstream.received()[0]
    assert sent["path"] == "/v1/messages"
    headers = headers_of(sent)
    assert headers["x-api-key"] == "sk-ant-test" and headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert sent["json"]["system"] == "Be terse."
    assert [m["role"] for m in sent["json"]["messages"]] == ["user", "assistant", "user"]
    assert sent["json"]["messages"][2]["content"][2]["source"]["data"] == PNG_1PX
    assert sent["json"]["metadata"] == {"user_id": "user-7"} and sent["json"]["max_tokens"] == 1024


def test_anthropic_backend_stop_reasons_and_cache_usage(upstream: Upstream):  # noqa: F811
    async def go(http):
        cached = anthropic_backend(upstream, http, headers={"x-upstream-cache-read": "3",
                                                            "x-upstream-cache-creation": "2"})
        stopped = await cached.chat(user("alpha STOP beta", stop="STOP"))
        capped = await cached.chat(user("a b c d e f", max_tokens=2))
        stream = await cached.open_stream(user("a b c d e f", stream_options={"include_usage": True}))
        frames = await collect(stream)
        return stopped, capped, frames, stream.usage

    stopped, capped, frames, stream_usage = run(go)
    assert stopped.body["choices"][0]["message"]["content"] == "echo: alpha "
    assert stopped.body["choices"][0]["finish_reason"] == "stop"
    assert stopped.usage == Usage(prompt_tokens=3, completion_tokens=2, cached_tokens=3, reported=True)
    assert capped.body["choices"][0]["finish_reason"] == "length"
    assert capped.body["choices"][0]["message"]["content"] == "echo: a"
    parsed = chunks(frames)
    assert parsed[-1]["usage"] == {"prompt_tokens": 6, "completion_tokens": 7, "total_tokens": 13,
                                   "prompt_tokens_details": {"cached_tokens": 3}}
    assert stream_usage == Usage(6, 7, 3, True, cache_write_tokens=2)
    assert upstream.received()[0]["json"]["stop_sequences"] == ["STOP"]


def test_anthropic_backend_tools_round_trip(upstream: Upstream):  # noqa: F811
    ask = {"model": "claude-test", "tools": [WEATHER_TOOL], "tool_choice": "auto",
           "messages": [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]}

    async def go(http):
        backend = anthropic_backend(upstream, http)
        first = await backend.chat(ask)
        message = first.body["choices"][0]["message"]
        followup = {**ask, "messages": [
            *ask["messages"],
            {"role": "assistant", "content": message["content"], "tool_calls": message["tool_calls"]},
            {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "18C and sunny"},
        ]}
        second = await backend.chat(followup)
        stream = await backend.open_stream(ask)
        return first, second, await collect(stream), stream.usage

    first, second, frames, usage = run(go)
    choice = first.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Calling get_weather."
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("toolu_")
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == ("get_weather", {"city": "Paris"})
    assert second.body["choices"][0]["message"]["content"] == "echo: tool result: 18C and sunny"
    sent = upstream.received()
    assert sent[0]["json"]["tools"][0]["input_schema"] == WEATHER_TOOL["function"]["parameters"]
    assert sent[0]["json"]["tool_choice"] == {"type": "auto"}
    assert sent[1]["json"]["messages"][2]["content"][0]["type"] == "tool_result"

    parsed = chunks(frames)
    for c in parsed:
        ChatCompletionChunk.model_validate(c)
    assert "usage" not in parsed[-1]  # not asked for (stream_options)
    calls = [tc for c in parsed for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["id"].startswith("toolu_") and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"city": "Paris"}
    assert {tc["index"] for tc in calls} == {0}
    assert streamed_text(parsed) == "Calling get_weather."
    assert parsed[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert usage.reported and usage.completion_tokens > 0


def test_anthropic_backend_stream_text(upstream: Upstream):  # noqa: F811
    async def go(http):
        backend = anthropic_backend(upstream, http)
        assert isinstance(backend, ChatBackend)
        stream = await backend.open_stream(user("stream me please"))
        assert isinstance(stream, ChatStream)
        return await collect(stream), stream.usage

    frames, usage = run(go)
    parsed = chunks(frames)
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert streamed_text(parsed) == "echo: stream me please"
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage == Usage(3, 4, 0, True)
    assert upstream.received()[0]["json"]["stream"] is True


@pytest.mark.parametrize("fault, kind, status, retryable, retry_after, frames_before", [
    ("529", "http", 529, True, 1.0, None),
    ("429", "http", 429, True, 1.0, None),
    ("401", "http", 401, False, None, None),
    ("stall", "timeout", None, True, None, None),
    ("drop", "connect", None, True, None, None),
    ("error-event", "http", 529, True, None, 3),
    ("cut-stream", "connect", None, True, None, 3),
    ("malformed-sse", "protocol", None, True, None, 2),
])
def test_anthropic_backend_faults(upstream: Upstream, fault, kind, status, retryable, retry_after,  # noqa: F811
                                  frames_before):
    async def go(http):
        backend = anthropic_backend(upstream, http)
        got: list[bytes] = []
        with pytest.raises(UpstreamError) as info:
            stream = await backend.open_stream(user("alpha beta gamma delta"), timeout=0.5)
            async for frame in stream:
                got.append(frame)
        try:
            plain: Any = await backend.chat(user("alpha beta"), timeout=0.5)
        except UpstreamError as exc:
            plain = exc
        return info.value, got, plain

    upstream.set_fault(fault, count=2)  # the stream, then the same fault on a plain request
    err, got, plain = run(go)
    assert (err.kind, err.status, err.retryable, err.retry_after) == (kind, status, retryable, retry_after), err
    if frames_before is None:
        assert got == []
        assert (plain.kind, plain.status, plain.retryable) == (kind, status, retryable)
    else:
        assert len(got) == frames_before
        if fault == "error-event":  # a stream-only fault
            assert plain.body["choices"][0]["message"]["content"] == "echo: alpha beta"
        else:
            assert isinstance(plain, UpstreamError) and plain.kind == kind
    if fault == "401":
        assert err.body == {"error": {"message": "injected fault: HTTP 401", "type": "authentication_error",
                                      "param": None, "code": None}}
    if fault == "error-event":
        assert err.body["error"]["type"] == "overloaded_error"


def test_anthropic_backend_relays_invalid_request(upstream: Upstream):  # noqa: F811
    async def go(http):
        backend = anthropic_backend(upstream, http)
        with pytest.raises(UpstreamError) as rejected:  # a tool result for a call that never happened
            await backend.chat({"model": "m", "messages": [
                {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]})
        with pytest.raises(UpstreamError) as untranslatable:
            await backend.chat({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]})
        return rejected.value, untranslatable.value

    rejected, untranslatable = run(go)
    assert (rejected.kind, rejected.status, rejected.retryable) == ("http", 400, False)
    assert rejected.body == {"error": {"message": "messages.0.content.0: unexpected tool_use_id 'nope'",
                                       "type": "invalid_request_error", "param": None, "code": None}}
    assert (untranslatable.status, untranslatable.retryable) == (400, False)
    assert len(upstream.received()) == 1  # the untranslatable request never left the process
