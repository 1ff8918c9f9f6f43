"""A generative specialist served by a real gateway process: a tiny random Llama converted to GGUF
by llama.cpp's converter, loaded by llama.cpp, queried with the openai SDK (streamed and not, stop
sequences, max_tokens, JSON schema), cancelled by a client that leaves, bounded in concurrency,
and recorded in the ledger like every other route."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from gateway_proc import running_gateway
from generative_models import tiny_model

pytestmark = pytest.mark.slow

SCHEMA = {
    "type": "object",
    "properties": {"urgency": {"type": "string", "enum": ["low", "high"]}, "refund": {"type": "boolean"}},
    "required": ["urgency", "refund"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, smollm2_tokenizer):
    from rightmodel.generative.gguf_export import to_gguf

    root = tmp_path_factory.mktemp("tiny-llama")
    hf = tiny_model("llama", smollm2_tokenizer, root / "hf")
    return to_gguf(hf, root / "tiny-llama.f16.gguf", "f16")


@pytest.fixture(scope="module")
def gw(tiny_gguf, tmp_path_factory):
    config = {
        "models": {"writer": {"kind": "generate", "path": str(tiny_gguf), "concurrency": 1, "queue": 0, "context_tokens": 512}},
        "defaults": {"retries": 0, "local_cost_per_hour": 3.6},
    }
    with running_gateway(config, tmp_path_factory.mktemp("gen-home")) as gateway:
        yield gateway


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="sk-test", max_retries=0)


def greedy(gw, **kwargs):
    return client(gw).chat.completions.create(model="writer", messages=MESSAGES, temperature=0, **kwargs)


def test_answers_and_streams_the_same_text_with_usage(gw):
    whole = greedy(gw, max_tokens=24)
    text = whole.choices[0].message.content
    assert text and whole.choices[0].finish_reason in ("length", "stop")
    assert whole.usage.prompt_tokens > 10 and 0 < whole.usage.completion_tokens <= 24
    assert whole.model == "writer"

    chunks = list(greedy(gw, max_tokens=24, stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # greedy: the same tokens either way
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really streamed, piece by piece
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens

    rows = [r for r in gw.ledger_rows(expect=2) if r["model"] == "writer"]
    assert len(rows) >= 2 and {r["route"] for r in rows} == {"remote"} and {r["status"] for r in rows} == {200}
    assert rows[0]["tokens_out"] == whole.usage.completion_tokens and rows[0]["cost_usd"] > 0  # compute time at 3.6 $/h


def test_max_tokens_and_stop_sequences(gw):
    five = greedy(gw, max_tokens=5)
    assert five.usage.completion_tokens == 5 and five.choices[0].finish_reason == "length"
    text = greedy(gw, max_tokens=24).choices[0].message.content
    stop = text[len(text) // 2: len(text) // 2 + 2]
    assert stop.strip(), f"no usable stop string in {text!r}"
    cut = greedy(gw, max_tokens=24, stop=[stop])
    assert cut.choices[0].message.content == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_json_schema_output_validates(gw):
    import jsonschema_rs

    for stream in (False, True):
        kwargs = dict(model="writer", messages=MESSAGES, max_tokens=120, temperature=0.8, seed=7,
                      response_format={"type": "json_schema", "json_schema": {"name": "ticket", "schema": SCHEMA, "strict": True}})
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in client(gw).chat.completions.create(stream=True, **kwargs) if c.choices)
        else:
            text = client(gw).chat.completions.create(**kwargs).choices[0].message.content
        jsonschema_rs.validate(SCHEMA, json.loads(text))
    anything = client(gw).chat.completions.create(model="writer", messages=MESSAGES, max_tokens=200, temperature=0, response_format={"type": "json_object"})
    assert anything.choices[0].finish_reason == "length" or isinstance(json.loads(anything.choices[0].message.content), (dict, list))


@pytest.mark.parametrize(
    "extra, param",
    [({"n": 2}, "n"), ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema.schema"),
     ({"temperature": 3}, "temperature"), ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools")],
)
def test_what_it_cannot_do_is_a_400_naming_the_field(gw, extra, param):
    r = httpx.post(f"{gw.v1}/chat/completions", json={"model": "writer", "messages": MESSAGES, "max_tokens": 4, **extra}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_a_client_that_leaves_stops_the_generation_and_frees_the_engine(gw):
    # Rows of earlier tests may still be on their way to the ledger: tell them apart by id, not count.
    before = {r["request_id"] for r in gw.ledger_rows()}
    with httpx.stream("POST", f"{gw.v1}/chat/completions", timeout=60,
                      json={"model": "writer", "messages": MESSAGES, "max_tokens": 400, "stream": True, "temperature": 1.0}) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
        assert any('"content"' in line for line in got)
    started = time.perf_counter()
    after = greedy(gw, max_tokens=3)  # concurrency 1, queue 0: served only if the engine came back
    assert after.usage.completion_tokens == 3
    assert time.perf_counter() - started < 20
    deadline = time.time() + 20
    while True:  # the 499 row is written when the server notices the disconnect, which may come last
        left = [r for r in gw.ledger_rows() if r["request_id"] not in before and r["status"] == 499]
        if left or time.time() > deadline:
            break
        time.sleep(0.2)
    assert left and left[0]["model"] == "writer" and 0 < left[0]["tokens_out"] <= 400


def test_concurrency_is_bounded_per_model(gw):
    """One engine, no queue: of requests arriving together one is served, the others get a 429 at once."""
    import asyncio

    async def burst():
        async with httpx.AsyncClient(timeout=120) as http:
            body = {"model": "writer", "messages": MESSAGES, "max_tokens": 400, "temperature": 1.0}
            return await asyncio.gather(*(http.post(f"{gw.v1}/chat/completions", json=body) for _ in range(4)))

    statuses = sorted(r.status_code for r in asyncio.run(burst()))
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    refused = [r for r in asyncio.run(burst()) if r.status_code == 429]
    assert refused and "busy" in refused[0].json()["error"]["message"]
