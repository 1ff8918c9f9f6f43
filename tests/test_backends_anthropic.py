"""The Anthropic backend (OpenAI <-> Messages API translation) against a real upstream server
process, split out of test_backends.py (which keeps the OpenAI-compatible backend) to keep each
file under 600 lines. The first test checks with the official `anthropic` SDK that
`upstream_server.py` speaks the Messages API, so the backend tests below test against the real
wire format. No mocks: every backend call crosses a loopback TCP connection.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
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

from rightmodel.backends.anthropic import AnthropicBackend, AnthropicStreamTranslator
from rightmodel.backends.anthropic_mapping import (
    JSON_OBJECT_INSTRUCTION,
    RequestTranslationError,
    anthropic_usage,
    from_anthropic_message,
    to_anthropic_request,
)
from rightmodel.backends.base import ChatBackend, ChatStream, RemoteEndpoint, UpstreamError, Usage
from rightmodel.backends.http_client import HttpClient

PNG_1PX = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)).decode()


def anthropic_backend(up: Upstream, http: HttpClient, **endpoint: Any) -> AnthropicBackend:
    ep = RemoteEndpoint(base_url=up.url, model="claude-test", api_key="sk-ant-test", **endpoint)
    return AnthropicBackend("anthropic-test", ep, http)


# ============================================================================ the upstream server


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


# ============================================================================ pure helpers


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
