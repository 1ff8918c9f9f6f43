"""The API surface clients other than chat.completions use, against a real gateway (issue 21).

One `rightmodel serve` process on loopback: a specialist (the session's `built` fixture), a
remote model on tests/upstream_server.py (it answers "echo: <last user text>"), a remote model
whose upstream refuses connections (for breaker and error metrics), and an embeddings alias.
Clients are the real libraries: the openai SDK (`completions.create`, `responses.create`,
`responses.stream`), LangChain's `ChatOpenAI` (chat completions, and the Responses API) and
LlamaIndex's `OpenAILike` with default settings (which calls /v1/completions). /metrics is
scraped and parsed with prometheus_client's parser.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import INTENTS
from gateway_proc import free_port, running_gateway
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

pytestmark = pytest.mark.slow
ALIAS = "text-embedding-3-small"


@pytest.fixture(scope="module")
def gw(upstream, built, tmp_path_factory):  # noqa: F811
    home = tmp_path_factory.mktemp("gw-clients")
    remote = {"kind": "openai", "base_url": upstream.openai_base, "model": "up-primary", "api_key_env": "CLIENTS_TEST_KEY",
              "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}, "timeout_s": 10}
    dead = {**remote, "base_url": f"http://127.0.0.1:{free_port()}/v1"}  # nothing listens: connection refused
    config = {
        "models": {"intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version}, "primary": remote, "flaky": dead},
        "tasks": {
            "intent": {"specialist": "intent-v", "escalate_to": "primary", "threshold": 0.0},  # always answers locally
            "intent-esc": {"specialist": "intent-v", "escalate_to": "primary", "threshold": 1.000001},  # always escalates
        },
        "defaults": {"generalist": "primary", "frontier": "gpt-4o", "retries": 0, "breaker_failures": 2, "breaker_cooldown_s": 600},
        "embeddings": {"aliases": [ALIAS]},
    }
    args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(config, home, extra_args=args, env={"CLIENTS_TEST_KEY": "sk-up-clients"}) as g:
        yield g


def sdk(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)


def scrape(gw) -> dict[str, list]:
    r = httpx.get(f"{gw.url}/metrics", timeout=10)
    assert r.status_code == 200
    out: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[s.name].append((s.labels, s.value))
    return out


def by(rows, *names) -> dict[tuple, float]:
    return {tuple(labels[n] for n in names): value for labels, value in rows}


def extra(row: dict) -> dict:
    value = row["extra"]
    return json.loads(value) if isinstance(value, str) else value or {}


def rows_of(gw, request_id: str) -> dict:
    deadline = time.time() + 10
    while time.time() < deadline:
        found = [r for r in gw.ledger_rows() if r["request_id"] == request_id]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no ledger row {request_id}")


# -- /v1/embeddings ----------------------------------------------------------------------------


def test_embeddings_answer_only_the_names_they_serve(gw):
    c = sdk(gw)
    own = c.embeddings.create(model="all-MiniLM-L6-v2", input=["card arrival"])
    assert own.model == "all-MiniLM-L6-v2" and len(own.data[0].embedding) == 384
    aliased = c.embeddings.create(model=ALIAS, input="card arrival")
    assert aliased.model == ALIAS and aliased.data[0].embedding == pytest.approx(own.data[0].embedding, abs=1e-6)
    unnamed = httpx.post(f"{gw.v1}/embeddings", json={"input": "x"}, timeout=30)
    assert unnamed.status_code == 200 and unnamed.json()["model"] == "all-MiniLM-L6-v2"
    for name in ("text-embedding-3-large", "gpt-4o", "intent"):
        r = httpx.post(f"{gw.v1}/embeddings", json={"model": name, "input": "x"}, timeout=30)
        assert r.status_code == 404, r.text
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["param"] == "model" and err["code"] == "model_not_found" and err["type"] == "not_found_error"
        assert name in err["message"] and "all-MiniLM-L6-v2" in err["message"]
    with pytest.raises(openai.NotFoundError):
        c.embeddings.create(model="text-embedding-ada-002", input="x")
    rows = [r for r in gw.ledger_rows(expect=7) if r["endpoint"] == "/v1/embeddings"]
    assert {r["model"] for r in rows if r["status"] == 200} == {"all-MiniLM-L6-v2"}
    assert [extra(r).get("model_alias") for r in rows if r["status"] == 200].count(ALIAS) == 1
    got = scrape(gw)
    models = {labels["model"] for labels, _ in got["rightmodel_requests_total"] if labels["endpoint"] == "/v1/embeddings"}
    assert models == {"all-MiniLM-L6-v2", "none"}  # the encoder by name, never a path; refusals reached no model


def test_an_alias_that_is_a_model_name_is_refused_at_load():
    from rightmodel.constellation.config import parse_constellation
    from rightmodel.errors import ConfigError

    with pytest.raises(ConfigError, match=r"embeddings.aliases.0: 'big' is already a model"):
        parse_constellation({"models": {"big": {"kind": "openai", "base_url": "http://x"}}, "embeddings": {"aliases": ["big"]}})


# -- /v1/completions ---------------------------------------------------------------------------


def test_completions_through_the_openai_sdk(gw, upstream):  # noqa: F811
    c = sdk(gw)
    raw = c.completions.with_raw_response.create(model="intent", prompt="My card still hasn't arrived after two weeks")
    done = raw.parse()
    assert done.object == "text_completion" and done.choices[0].text in INTENTS and done.choices[0].finish_reason == "stop"
    assert done.id == f"cmpl-{raw.headers['x-request-id']}" and raw.headers["x-rightmodel-route"] == "specialist"
    assert done.model_extra["rightmodel"]["model"] == "intent@v1" and done.usage.prompt_tokens > 0
    row = rows_of(gw, raw.headers["x-request-id"])
    assert row["endpoint"] == "/v1/completions" and row["route"] == "specialist" and row["task"] == "intent"

    upstream.clear()
    remote = c.completions.create(model="primary", prompt="hello there", max_tokens=20, temperature=0.5)
    assert remote.choices[0].text == "echo: hello there" and remote.usage.completion_tokens == 3
    sent = upstream.received()[-1]["json"]
    assert sent["messages"] == [{"role": "user", "content": "hello there"}] and sent["max_tokens"] == 20 and sent["model"] == "up-primary"

    escalated = c.completions.create(model="intent-esc", prompt="what exchange rate do you use")
    assert escalated.model_extra["rightmodel"]["route"] == "escalated" and escalated.choices[0].text.startswith("echo: ")

    several = c.completions.with_raw_response.create(model="primary", prompt=["one", "two words"])
    answer = several.parse()
    assert [(ch.index, ch.text) for ch in answer.choices] == [(0, "echo: one"), (1, "echo: two words")]
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
    ids = several.headers["x-rightmodel-request-ids"].split(",")
    assert len(ids) == 2 and all(rows_of(gw, i)["endpoint"] == "/v1/completions" for i in ids)


def test_streamed_completions(gw):
    c = sdk(gw)
    chunks = list(c.completions.create(model="primary", prompt="one two three", stream=True))
    assert all(ch.object == "text_completion" for ch in chunks)
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == "echo: one two three"
    assert chunks[-1].usage is None  # usage only when asked for
    with_usage = list(c.completions.create(model="primary", prompt="a b", stream=True, stream_options={"include_usage": True}))
    assert with_usage[-1].usage.completion_tokens == 3 and with_usage[-1].choices == []
    local = list(c.completions.create(model="intent", prompt="I lost my card", stream=True))
    assert "".join(ch.choices[0].text for ch in local) in INTENTS
    assert local[-1].choices[0].finish_reason == "stop" and local[-1].model_extra["rightmodel"]["route"] == "specialist"


@pytest.mark.parametrize("body, param", [
    ({"model": "primary"}, "prompt"),
    ({"model": "primary", "prompt": [1, 2]}, "prompt.0"),
    ({"model": "primary", "prompt": []}, "prompt"),
    ({"model": "primary", "prompt": "x", "echo": True}, "echo"),
    ({"model": "primary", "prompt": "x", "logprobs": 2}, "logprobs"),
    ({"model": "primary", "prompt": ["a", "b"], "stream": True}, "prompt"),
    ({"prompt": "x"}, "model"),
    ({"model": "primary", "prompt": "x", "temperature": 9}, "temperature"),
    ({"model": "no-such-model", "prompt": "x"}, "model"),
])
def test_bad_completions_name_the_field(gw, body, param):
    r = httpx.post(f"{gw.v1}/completions", json=body, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["param"] == param, r.text


# -- /v1/responses -----------------------------------------------------------------------------


def test_responses_through_the_openai_sdk(gw, upstream):  # noqa: F811
    c = sdk(gw)
    upstream.clear()
    raw = c.responses.with_raw_response.create(model="primary", input="hello there", instructions="Be brief.", max_output_tokens=50)
    resp = raw.parse()
    assert resp.output_text == "echo: hello there" and resp.status == "completed" and resp.object == "response"
    assert resp.id == f"resp_{raw.headers['x-request-id']}" and resp.usage.output_tokens == 3 and resp.usage.input_tokens > 0
    sent = upstream.received()[-1]["json"]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
    assert sent["max_tokens"] == 50
    assert rows_of(gw, raw.headers["x-request-id"])["endpoint"] == "/v1/responses"

    turns = c.responses.create(model="primary", input=[
        {"role": "user", "content": "first"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "echo: first"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "and then"}]},
    ])
    assert turns.output_text == "echo: and then"
    local = c.responses.create(model="intent", input="My card still hasn't arrived after two weeks")
    assert local.output_text in INTENTS and local.model_extra["rightmodel"]["route"] == "specialist"
    truncated = c.responses.create(model="primary", input="one two three four", max_output_tokens=2)
    assert truncated.status == "incomplete" and truncated.incomplete_details.reason == "max_output_tokens"


def test_streamed_responses(gw):
    c = sdk(gw)
    events = list(c.responses.create(model="primary", input="one two three", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: one two three"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == "echo: one two three" and final.usage.output_tokens == 4
    # The SDK's stream helper rebuilds the response from the events: it checks their order and ids.
    with c.responses.stream(model="intent", input="I lost my card") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        assembled = stream.get_final_response()
    assert text in INTENTS and assembled.output_text == text


@pytest.mark.parametrize("body, param", [
    ({"model": "primary"}, "input"),
    ({"model": "primary", "input": 5}, "input"),
    ({"model": "primary", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]}, "input.0.type"),
    ({"model": "primary", "input": [{"role": "robot", "content": "x"}]}, "input.0.role"),
    ({"model": "primary", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input.0.content.0"),
    ({"model": "primary", "input": "x", "instructions": 3}, "instructions"),
    ({"model": "primary", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"model": "primary", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "primary", "input": "x", "tools": [{"type": "function", "name": "f"}]}, "tools"),
])
def test_bad_responses_name_the_field(gw, body, param):
    r = httpx.post(f"{gw.v1}/responses", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param, r.text


def test_a_client_leaving_a_streamed_response_still_leaves_its_row(gw, upstream):  # noqa: F811
    upstream.set_fault("slow-stream:300", count=1)
    body = {"model": "primary", "input": "one two three four five six", "stream": True}
    with httpx.stream("POST", f"{gw.v1}/responses", json=body, timeout=30) as r:
        request_id = r.headers["x-request-id"]
        for line in r.iter_lines():
            if "response.output_text.delta" in line:
                break  # the client goes away mid-answer
    row = rows_of(gw, request_id)
    assert row["endpoint"] == "/v1/responses" and row["status"] == 499 and row["stream"]


# -- client libraries --------------------------------------------------------------------------


def test_langchain_chat_openai(gw):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=gw.v1, api_key="unused", model="primary", max_retries=0)
    assert llm.invoke("hello langchain").content == "echo: hello langchain"
    assert "".join(chunk.content for chunk in llm.stream("one two")) == "echo: one two"
    local = ChatOpenAI(base_url=gw.v1, api_key="unused", model="intent", max_retries=0)
    assert local.invoke("My card still hasn't arrived after two weeks").content in INTENTS
    responses = ChatOpenAI(base_url=gw.v1, api_key="unused", model="primary", max_retries=0, use_responses_api=True)
    assert responses.invoke("via responses").text == "echo: via responses"


def test_llamaindex_openai_like_with_default_settings(gw):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(model="primary", api_base=gw.v1, api_key="unused")
    assert not llm.metadata.is_chat_model  # the default: every call goes to /v1/completions
    before = len(gw.ledger_rows())
    assert llm.complete("hello llama").text == "echo: hello llama"
    assert "".join(r.delta for r in llm.stream_complete("one two")) == "echo: one two"
    reply = llm.chat([ChatMessage(role="user", content="hi")])
    assert reply.message.content.startswith("echo: ")
    local = OpenAILike(model="intent", api_base=gw.v1, api_key="unused")
    assert local.complete("I lost my card").text in INTENTS
    rows = gw.ledger_rows(expect=before + 4)[before:]
    assert {r["endpoint"] for r in rows} == {"/v1/completions"} and all(r["status"] == 200 for r in rows)


# -- /metrics ----------------------------------------------------------------------------------


def test_metrics_breakers_upstream_errors_and_time_to_first_token(gw, upstream):  # noqa: F811
    c = sdk(gw)
    list(c.chat.completions.create(model="primary", messages=[{"role": "user", "content": "a b c"}], stream=True))
    list(c.completions.create(model="intent", prompt="I lost my card", stream=True))
    for _ in range(3):  # connection refused twice opens the circuit (breaker_failures: 2); the third skips it
        r = httpx.post(f"{gw.v1}/chat/completions", json={"model": "flaky", "messages": [{"role": "user", "content": "x"}]}, timeout=30)
        assert r.status_code in (502, 503), r.text
    assert r.status_code == 503 and "circuit" in r.json()["error"]["message"]
    upstream.set_fault("500", count=1)
    assert httpx.post(f"{gw.v1}/responses", json={"model": "primary", "input": "x"}, timeout=30).status_code == 502
    assert c.responses.create(model="primary", input="fine again").output_text == "echo: fine again"

    got = scrape(gw)
    states = by(got["rightmodel_circuit_state"], "model", "state")
    assert states[("flaky", "open")] == 1 and states[("flaky", "closed")] == 0 and states[("flaky", "half-open")] == 0
    assert states[("primary", "closed")] == 1 and states[("primary", "open")] == 0
    errors = by(got["rightmodel_upstream_errors_total"], "model", "kind")
    assert errors[("flaky", "connect")] == 2 and errors[("primary", "http_5xx")] == 1
    ttft = by(got["rightmodel_time_to_first_token_seconds_count"], "route", "model")
    assert ttft[("remote", "primary")] >= 1 and ttft[("specialist", "intent@v1")] >= 1
    streamed = [r for r in gw.ledger_rows() if r["stream"]]
    answered = [r for r in streamed if r["status"] == 200]
    assert answered and all(0 < extra(r)["first_token_ms"] <= r["latency_ms"] for r in answered)
    # one observation per stream that got its first token out (a client that left later counts too), as the ledger has them
    assert sum(ttft.values()) == len([r for r in streamed if "first_token_ms" in extra(r)])
    endpoints = {labels["endpoint"] for labels, _ in got["rightmodel_requests_total"]}
    assert {"/v1/completions", "/v1/responses", "/v1/embeddings", "/v1/chat/completions"} <= endpoints
    assert not any("/" in labels["model"] and "@" not in labels["model"] for labels, _ in got["rightmodel_requests_total"])


# -- no process: the translation itself ---------------------------------------------------------


def test_reshaping_survives_any_frame_boundaries_and_reports_a_broken_stream():
    import asyncio

    import orjson

    from rightmodel.gateway.dialects import _reframed
    from rightmodel.gateway.responses import ResponseStream, Shape

    def chunk(delta: dict, finish=None) -> bytes:
        return b"data: " + orjson.dumps({"id": "x", "object": "chat.completion.chunk", "model": "m",
                                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"

    wire = chunk({"role": "assistant", "content": ""}) + chunk({"content": "he"}) + chunk({"content": "llo"})
    broken = wire + b'data: {"error": {"message": "upstream cut", "type": "upstream_error", "param": null, "code": "upstream_stream_error"}}\n\n'

    async def events(data: bytes, size: int) -> list[dict]:
        async def pieces():
            for i in range(0, len(data), size):
                yield data[i:i + size]
        out = b"".join([f async for f in _reframed(pieces(), ResponseStream(Shape({"model": "m"}, "req_1")))])
        return [orjson.loads(line[6:]) for line in out.split(b"\n") if line.startswith(b"data: ")]

    whole = asyncio.run(events(wire + b"data: [DONE]\n\n", 10_000))
    for size in (1, 7, 50):
        assert asyncio.run(events(wire + b"data: [DONE]\n\n", size)) == whole
    assert "".join(e["delta"] for e in whole if e["type"] == "response.output_text.delta") == "hello"
    assert whole[-1]["type"] == "response.completed" and whole[-1]["response"]["output"][0]["content"][0]["text"] == "hello"
    failed = asyncio.run(events(broken, 13))
    assert [e["type"] for e in failed[-2:]] == ["error", "response.failed"]
    assert failed[-1]["response"]["status"] == "failed" and failed[-1]["response"]["error"]["code"] == "upstream_stream_error"


def test_max_output_tokens_over_the_cap_names_the_responses_field():
    from rightmodel.gateway.errors import APIError
    from rightmodel.gateway.responses import chat_body

    assert chat_body({"model": "m", "input": "x", "max_output_tokens": 5}, 10)["max_tokens"] == 5
    with pytest.raises(APIError) as info:
        chat_body({"model": "m", "input": "x", "max_output_tokens": 11}, 10)
    assert info.value.param == "max_output_tokens" and info.value.code == "max_tokens_exceeded"
