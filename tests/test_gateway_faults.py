"""Upstream faults through a real gateway: retries honouring Retry-After, fallbacks, stalls,
dropped connections, streams that fail before their first content token (fall back) or after it
(clean in-band error), null and duplicate upstream ids, and circuit breakers that open on a 5xx
storm, skip the model, let one probe through and close again.

The upstreams are tests/upstream_server.py processes that misbehave on command. Three of them, so
that a fault hits one model and not its fallback: `upstream` (the primary models), `backup_up`
(the fallback) and `hollow_up`, started with an empty reply: its streams carry no content at all,
so every stream fault it injects (error event, malformed SSE, cut, stall) strikes before the first
content token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway_proc import Gateway, running_gateway
from upstream_server import Upstream, running_upstream, upstream  # noqa: F401  (module-scoped fixture)

pytestmark = pytest.mark.slow

KEYS = {"TEST_OPENAI_KEY": "sk-up-test", "TEST_ANTHROPIC_KEY": "sk-ant-test"}
COOLDOWN_S = 2.5  # the breaker gateway's cooldown


@pytest.fixture(scope="module")
def backup_up() -> Iterator[Upstream]:
    with running_upstream() as up:
        yield up


@pytest.fixture(scope="module")
def hollow_up() -> Iterator[Upstream]:
    with running_upstream(reply="") as up:
        yield up


def openai_model(up: Upstream, upstream_id: str, **extra) -> dict:
    return {"kind": "openai", "base_url": up.openai_base, "model": upstream_id, "api_key_env": "TEST_OPENAI_KEY", **extra}


def claude_model(up: Upstream, **extra) -> dict:
    return {"kind": "anthropic", "base_url": up.url, "model": "claude-sonnet-4-20250514", "api_key_env": "TEST_ANTHROPIC_KEY", **extra}


@pytest.fixture(scope="module")
def gw(upstream, backup_up, hollow_up, tmp_path_factory) -> Iterator[Gateway]:  # noqa: F811
    """Retries and fallbacks, no breakers (each test's faults stay its own)."""
    config = {
        "models": {
            "primary": openai_model(upstream, "up-primary", fallbacks=["backup"], timeout_s=2),
            "backup": openai_model(backup_up, "up-backup", timeout_s=10),
            "twin": openai_model(backup_up, "up-twin"),
            # default timeout_s (60 s): a stall before content is caught by the first-token timeout
            "hollow-claude": claude_model(hollow_up, fallbacks=["backup"]),
            "hollow-gpt": openai_model(hollow_up, "up-hollow", fallbacks=["backup"]),
        },
        "defaults": {"retries": 1, "backoff_s": 0.05, "backoff_max_s": 2, "breaker_failures": 0, "first_token_timeout_s": 2},
    }
    with running_gateway(config, tmp_path_factory.mktemp("gw-faults"), env=KEYS) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def breaker_gw(upstream, backup_up, hollow_up, tmp_path_factory) -> Iterator[Gateway]:  # noqa: F811
    """No retries, so that each request is one turn: a circuit opens after 2 failed requests."""
    config = {
        "models": {
            "flaky": openai_model(upstream, "up-flaky", fallbacks=["backup"]),
            "shaky": openai_model(upstream, "up-shaky", fallbacks=["backup"]),
            "lonely": openai_model(upstream, "up-lonely"),
            "hollow": claude_model(hollow_up, fallbacks=["backup"]),
            "backup": openai_model(backup_up, "up-backup"),
        },
        "defaults": {"retries": 0, "breaker_failures": 2, "breaker_cooldown_s": COOLDOWN_S, "first_token_timeout_s": 5},
    }
    with running_gateway(config, tmp_path_factory.mktemp("gw-breaker"), env=KEYS) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def clean(upstream, backup_up, hollow_up):  # noqa: F811
    for up in (upstream, backup_up, hollow_up):
        up.set_fault(None)
        up.clear()
    yield
    for up in (upstream, backup_up, hollow_up):
        up.set_fault(None)


def sdk(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key="sk-test", max_retries=0, timeout=30)


def ask(gateway: Gateway, model: str, text: str = "hello there"):
    return sdk(gateway).chat.completions.create(model=model, messages=[{"role": "user", "content": text}])


def ask_stream(gateway: Gateway, model: str, text: str) -> tuple[str, list, str]:
    """(answer text, chunks, our request id) of a stream read with the openai SDK (which raises on an error event)."""
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True
    )
    chunks = list(raw.parse())
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks, raw.headers["x-request-id"]


def meta(reply) -> dict:
    return reply.model_extra["rightmodel"]


def row_of(gateway: Gateway, request_id: str, timeout: float = 10) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = {r["request_id"]: r for r in gateway.ledger_rows(timeout=0)}
        if request_id in rows:
            row = rows[request_id]
            if isinstance(row["extra"], str):
                row["extra"] = json.loads(row["extra"])
            return row
        time.sleep(0.1)
    raise AssertionError(f"{request_id} not in the ledger")


def models_sent(up: Upstream) -> list[str]:
    return [r["json"]["model"] for r in up.received() if r["json"]]


# ------------------------------------------------------------------ retries and fallbacks


def test_429_waits_for_retry_after_then_the_same_model_answers(gw, upstream):  # noqa: F811
    upstream.set_fault("429", count=1)
    started = time.time()
    reply = ask(gw, "primary", "retry me")
    assert reply.choices[0].message.content == "echo: retry me"
    assert time.time() - started >= 0.9  # the upstream said Retry-After: 1
    assert meta(reply)["model"] == "primary" and "fell back" not in meta(reply)["reason"]
    row = row_of(gw, meta(reply)["request_id"])
    assert "429" in row["extra"]["attempts"][0] and "failed" not in row["extra"]


def test_429_everywhere_is_relayed_with_retry_after(gw, upstream, backup_up):  # noqa: F811
    upstream.set_fault("429", count=2)
    backup_up.set_fault("429", count=2)
    r = httpx.post(f"{gw.v1}/chat/completions", json={"model": "primary", "messages": [{"role": "user", "content": "x"}]}, timeout=30)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "upstream_unavailable"
    row = row_of(gw, r.headers["x-request-id"])
    assert row["status"] == 429 and row["extra"]["failed"] == ["primary", "backup"]
    assert "primary failed, backup failed" in row["reason"]


def test_a_stall_times_out_then_falls_back(gw, upstream, backup_up):  # noqa: F811
    upstream.set_fault("stall", count=2)  # the first try and its retry
    reply = ask(gw, "primary", "are you there")
    assert reply.choices[0].message.content == "echo: are you there"
    assert meta(reply)["model"] == "backup" and "primary failed, fell back to backup" in meta(reply)["reason"]
    row = row_of(gw, meta(reply)["request_id"])
    assert [a.split()[1] for a in row["extra"]["attempts"]] == ["timeout", "timeout"]
    assert row["extra"]["failed"] == ["primary"] and row["status"] == 200


def test_a_stream_whose_headers_stall_falls_back(gw, upstream):  # noqa: F811
    upstream.set_fault("stall", count=2)
    text, _, request_id = ask_stream(gw, "primary", "stream after a stall")
    assert text == "echo: stream after a stall"
    assert row_of(gw, request_id)["model"] == "backup"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_dropped_connections_are_retried_then_fall_back(gw, upstream, stream):  # noqa: F811
    upstream.set_fault("drop", count=1)
    if stream:
        text, _, request_id = ask_stream(gw, "primary", "dropped once")
    else:
        reply = ask(gw, "primary", "dropped once")
        text, request_id = reply.choices[0].message.content, meta(reply)["request_id"]
    assert text == "echo: dropped once"
    row = row_of(gw, request_id)
    assert row["model"] == "primary" and "connect" in row["extra"]["attempts"][0]  # the retry answered

    upstream.set_fault("drop", count=2)
    reply = ask(gw, "primary", "dropped twice")
    assert reply.choices[0].message.content == "echo: dropped twice" and meta(reply)["model"] == "backup"
    assert [r["outcome"] for r in upstream.received()[-2:]] == ["drop", "drop"]


# ------------------------------------------------------------------ streams: before and after the first content token


@pytest.mark.parametrize(
    "model, fault",
    [
        ("hollow-claude", "error-event"),
        ("hollow-claude", "malformed-sse"),
        ("hollow-claude", "cut-stream"),
        ("hollow-claude", "stall-stream"),
        ("hollow-gpt", "error-event"),
        ("hollow-gpt", "malformed-sse"),
        ("hollow-gpt", "stall-stream"),
    ],
)
def test_a_stream_failing_before_its_first_content_falls_back(gw, hollow_up, backup_up, model, fault):
    hollow_up.set_fault(fault, count=2)
    text, chunks, request_id = ask_stream(gw, model, "one two three")
    assert text == "echo: one two three"  # the whole answer, from the fallback, no error in between
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop"
    # both tries really misbehaved (the upstream may log the second as client-disconnected when the
    # gateway drops the connection at the bad frame before the upstream finished writing)
    assert [r["fault"] for r in hollow_up.received()] == [fault, fault]
    assert models_sent(backup_up) == ["up-backup"]
    row = row_of(gw, request_id)
    assert row["status"] == 200 and row["model"] == "backup" and row["error"] is None
    assert f"{model} failed, fell back to backup" in row["reason"] and row["extra"]["failed"] == [model]


def test_an_empty_stream_is_an_answer_not_a_failure(gw, hollow_up, backup_up):
    """[DONE] before any content ends the wait for it: an empty answer is passed on as it is."""
    text, chunks, request_id = ask_stream(gw, "hollow-claude", "say nothing")
    assert text == "" and chunks
    assert backup_up.received() == []
    assert row_of(gw, request_id)["model"] == "hollow-claude"


@pytest.mark.parametrize("fault", ["cut-stream", "error-event", "malformed-sse", "stall-stream"])
def test_a_stream_failing_after_content_ends_with_a_clean_inband_error(gw, upstream, backup_up, fault):  # noqa: F811
    upstream.set_fault(fault, count=1)
    with httpx.stream(
        "POST", f"{gw.v1}/chat/completions", timeout=30,
        json={"model": "primary", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g"}]},
    ) as r:
        frames = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert r.status_code == 200
    content = [json.loads(f)["choices"][0]["delta"].get("content") for f in frames[:-1]]
    assert "".join(c or "" for c in content).startswith("echo:")  # the answer had begun
    error = json.loads(frames[-1])["error"]
    assert error["code"] == "upstream_stream_error" and error["type"] == "upstream_error"
    assert "[DONE]" not in frames
    assert backup_up.received() == []  # too late to fall back: the client has part of the answer
    row = row_of(gw, r.headers["x-request-id"])
    assert row["status"] == 502 and "stream failed after it started" in row["error"]


# ------------------------------------------------------------------ ids


def test_null_upstream_ids_are_replaced(gw, upstream):  # noqa: F811
    upstream.set_fault("null-id", count=2)
    reply = ask(gw, "primary", "who am i")
    assert isinstance(reply.id, str) and reply.id.startswith("chatcmpl-")
    _, chunks, _ = ask_stream(gw, "primary", "who are we")
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and next(iter(ids)).startswith("chatcmpl-")  # one id, the same on every chunk
    assert [r["outcome"] for r in upstream.received()] == ["null-id", "null-id"]


def test_duplicate_upstream_ids_still_get_their_own_ledger_rows(gw, upstream, backup_up):  # noqa: F811
    """Two upstreams that number their answers alike: the client sees the upstreams' ids, the
    ledger is keyed by the gateway's own request id, one row each."""

    def next_number(up: Upstream) -> int:
        r = httpx.post(f"{up.openai_base}/chat/completions", headers={"Authorization": "Bearer k"}, timeout=10,
                       json={"model": "x", "messages": [{"role": "user", "content": "count"}]})
        return int(r.json()["id"].removeprefix("chatcmpl-up"))

    a, b = next_number(upstream), next_number(backup_up)
    while a != b:  # bring both upstream counters level
        if a < b:
            a = next_number(upstream)
        else:
            b = next_number(backup_up)
    first, second = ask(gw, "primary", "same id"), ask(gw, "twin", "same id")
    assert first.id == second.id  # what the upstreams sent
    ours = {meta(first)["request_id"], meta(second)["request_id"]}
    assert len(ours) == 2
    for request_id in ours:
        row_of(gw, request_id)  # shipped
    keyed = [r["request_id"] for r in gw.ledger_rows()]
    assert len(keyed) == len(set(keyed)) and ours <= set(keyed)


# ------------------------------------------------------------------ circuit breakers


def test_a_5xx_storm_opens_the_circuit_then_one_probe_closes_it(breaker_gw, upstream, backup_up):  # noqa: F811
    upstream.set_fault("500", count=-1)  # down until further notice
    for i in range(2):
        reply = ask(breaker_gw, "flaky", f"storm {i}")
        assert meta(reply)["model"] == "backup" and "flaky failed, fell back to backup" in meta(reply)["reason"]
    assert models_sent(upstream) == ["up-flaky", "up-flaky"]

    # Open: later requests skip flaky without touching its upstream.
    upstream.clear()
    skipped = [ask(breaker_gw, "flaky", f"skip {i}") for i in range(3)]
    assert upstream.received() == []
    for reply in skipped:
        assert reply.choices[0].message.content.startswith("echo: skip")
        assert meta(reply)["model"] == "backup" and "flaky circuit open, fell back to backup" in meta(reply)["reason"]
    row = row_of(breaker_gw, meta(skipped[-1])["request_id"])
    assert row["extra"]["circuit_open"] == ["flaky"] and "failed" not in row["extra"] and row["status"] == 200

    # The upstream recovers (slowly, so that the probe is still under way while others arrive).
    upstream.set_fault("slow:1500", count=1)
    time.sleep(COOLDOWN_S + 0.2)  # the cooldown is over: half-open
    probe: dict = {}
    prober = threading.Thread(target=lambda: probe.setdefault("reply", ask(breaker_gw, "flaky", "probe")))
    prober.start()
    deadline = time.time() + 10
    while not upstream.received() and time.time() < deadline:
        time.sleep(0.02)
    assert models_sent(upstream) == ["up-flaky"]  # the probe reached the upstream
    during = [ask(breaker_gw, "flaky", f"during {i}") for i in range(2)]
    prober.join(30)
    assert models_sent(upstream) == ["up-flaky"]  # only the probe went through
    assert all("flaky circuit open" in meta(r)["reason"] and meta(r)["model"] == "backup" for r in during)
    assert meta(probe["reply"])["model"] == "flaky" and "fell back" not in meta(probe["reply"])["reason"]

    # Closed again.
    reply = ask(breaker_gw, "flaky", "back to normal")
    assert meta(reply)["model"] == "flaky" and models_sent(upstream) == ["up-flaky", "up-flaky"]


def test_client_errors_do_not_open_the_circuit_but_a_failed_probe_reopens_it(breaker_gw, upstream):  # noqa: F811
    upstream.set_fault("400", count=3)
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            ask(breaker_gw, "shaky", "bad request")
    assert meta(ask(breaker_gw, "shaky", "fine"))["model"] == "shaky"  # still closed

    upstream.set_fault("503", count=2)
    for _ in range(2):
        assert meta(ask(breaker_gw, "shaky", "storm"))["model"] == "backup"
    time.sleep(COOLDOWN_S + 0.2)
    upstream.set_fault("500", count=1)
    upstream.clear()
    reply = ask(breaker_gw, "shaky", "probe fails")
    assert "shaky failed, fell back to backup" in meta(reply)["reason"]  # the probe went through, and failed
    reply = ask(breaker_gw, "shaky", "open again")
    assert "shaky circuit open, fell back to backup" in meta(reply)["reason"]
    assert models_sent(upstream) == ["up-shaky"]  # only the probe


def test_with_every_circuit_of_the_chain_open_the_answer_is_503_with_retry_after(breaker_gw, upstream):  # noqa: F811
    upstream.set_fault("500", count=2)
    for _ in range(2):
        r = httpx.post(f"{breaker_gw.v1}/chat/completions", json={"model": "lonely", "messages": [{"role": "user", "content": "x"}]}, timeout=30)
        assert r.status_code == 502
    upstream.clear()
    r = httpx.post(f"{breaker_gw.v1}/chat/completions", json={"model": "lonely", "messages": [{"role": "user", "content": "x"}]}, timeout=30)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "upstream_unavailable" and "circuit" in r.json()["error"]["message"]
    assert 1 <= int(r.headers["retry-after"]) <= COOLDOWN_S + 1
    assert upstream.received() == []
    row = row_of(breaker_gw, r.headers["x-request-id"])
    assert row["status"] == 503 and row["extra"]["circuit_open"] == ["lonely"] and "lonely circuit open" in row["reason"]


def test_streams_failing_before_content_count_towards_the_circuit(breaker_gw, hollow_up):
    hollow_up.set_fault("error-event", count=2)
    for i in range(2):
        text, _, _ = ask_stream(breaker_gw, "hollow", f"stream {i}")
        assert text == f"echo: stream {i}"
    hollow_up.clear()
    text, _, request_id = ask_stream(breaker_gw, "hollow", "skip it")
    assert text == "echo: skip it" and hollow_up.received() == []
    assert "hollow circuit open, fell back to backup" in row_of(breaker_gw, request_id)["reason"]
