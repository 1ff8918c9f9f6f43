"""Remote tier through the gateway: passthrough (streamed and not), retries, fallbacks, relayed
errors, broken streams, client disconnects and the Anthropic mapping.

Upstream is tests/upstream_server.py, a real server process speaking the OpenAI and Anthropic
protocols (checked against both official SDKs in test_backends.py) that misbehaves on command.
"""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from gateway_proc import running_gateway
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):  # noqa: F811
    home = tmp_path_factory.mktemp("gw-remote")
    config = {
        "models": {
            "primary": {"kind": "openai", "base_url": upstream.openai_base, "model": "up-primary", "fallbacks": ["backup"], "api_key_env": "TEST_OPENAI_KEY",
                        "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}, "timeout_s": 5},
            "backup": {"kind": "openai", "base_url": upstream.openai_base, "model": "up-backup", "timeout_s": 5, "api_key_env": "TEST_OPENAI_KEY"},
            "claude": {"kind": "anthropic", "base_url": upstream.url, "model": "claude-sonnet-4-20250514", "api_key_env": "TEST_ANTHROPIC_KEY"},
        },
        "defaults": {"generalist": "primary", "frontier": "gpt-4o", "retries": 1, "backoff_s": 0.05, "backoff_max_s": 2},
    }
    with running_gateway(config, home, env={"TEST_ANTHROPIC_KEY": "sk-ant-test", "TEST_OPENAI_KEY": "sk-up-test"}) as gw:
        yield gw


def sdk(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="sk-test", max_retries=0)


def header(request: dict, name: str) -> str | None:
    pairs = request["headers"].items() if isinstance(request["headers"], dict) else request["headers"]
    return next((v for k, v in pairs if k.lower() == name.lower()), None)


def row_of(gw, request_id: str, timeout: float = 10) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = {r["request_id"]: r for r in gw.ledger_rows(timeout=0)}
        if request_id in rows:
            return rows[request_id]
        time.sleep(0.1)
    raise AssertionError(f"{request_id} not in the ledger")


def test_passthrough_uses_upstream_usage_and_prices(gateway, upstream):  # noqa: F811
    upstream.clear()
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model="primary", messages=[{"role": "user", "content": "hello there"}], temperature=0.3, seed=7
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "echo: hello there"
    request = upstream.received()[-1]
    assert header(request, "Authorization") == "Bearer sk-up-test"  # our key upstream, never the client's
    sent = request["json"]
    assert sent["model"] == "up-primary" and sent["temperature"] == 0.3 and sent["seed"] == 7  # parameters pass through
    meta = reply.model_extra["rightmodel"]
    assert meta["route"] == "remote" and meta["model"] == "primary"
    row = row_of(gateway, meta["request_id"])
    usage = reply.usage
    assert row["tokens_in"] == usage.prompt_tokens and row["tokens_out"] == usage.completion_tokens
    assert row["cost_usd"] == pytest.approx((usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1e6)
    assert row["counterfactual_cost_usd"] == pytest.approx((usage.prompt_tokens * 2.5 + usage.completion_tokens * 10.0) / 1e6)


def test_streaming_passthrough(gateway):
    chunks = list(sdk(gateway).chat.completions.create(model="primary", messages=[{"role": "user", "content": "one two three four"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two three four"
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage
    with_usage = list(
        sdk(gateway).chat.completions.create(
            model="primary", messages=[{"role": "user", "content": "a b"}], stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens > 0


def test_429_is_retried_after_retry_after(gateway, upstream):  # noqa: F811
    upstream.set_fault("429", count=1)
    started = time.time()
    reply = sdk(gateway).chat.completions.create(model="primary", messages=[{"role": "user", "content": "retry me"}])
    assert reply.choices[0].message.content == "echo: retry me"
    assert time.time() - started >= 0.9  # waited the upstream's Retry-After: 1
    row = row_of(gateway, reply.model_extra["rightmodel"]["request_id"])
    assert row["model"] == "primary" and "429" in str(row["extra"])


def test_5xx_storm_falls_back_to_the_next_model(gateway, upstream):  # noqa: F811
    upstream.clear()
    upstream.set_fault("500", count=2)  # primary: first try and its one retry
    reply = sdk(gateway).chat.completions.create(model="primary", messages=[{"role": "user", "content": "fall back"}])
    meta = reply.model_extra["rightmodel"]
    assert meta["model"] == "backup" and "fell back to backup" in meta["reason"]
    assert [r["json"]["model"] for r in upstream.received()] == ["up-primary", "up-primary", "up-backup"]


def test_stream_falls_back_before_the_first_byte(gateway, upstream):  # noqa: F811
    upstream.set_fault("503", count=2)
    chunks = list(sdk(gateway).chat.completions.create(model="primary", messages=[{"role": "user", "content": "stream"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream"


def test_everything_failing_is_a_clean_5xx(gateway, upstream):  # noqa: F811
    upstream.set_fault("500", count=4)
    r = httpx.post(f"{gateway.v1}/chat/completions", json={"model": "primary", "messages": [{"role": "user", "content": "x"}]}, timeout=30)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_unavailable"
    row = row_of(gateway, r.headers["x-request-id"])
    assert row["status"] == 502 and row["error"]


def test_upstream_4xx_is_relayed_not_retried(gateway, upstream):  # noqa: F811
    upstream.clear()
    upstream.set_fault("400", count=1)
    with pytest.raises(openai.BadRequestError):
        sdk(gateway).chat.completions.create(model="primary", messages=[{"role": "user", "content": "bad"}])
    assert len(upstream.received()) == 1  # no retry, no fallback: another model would refuse it too


def test_stream_cut_after_content_ends_with_an_inband_error(gateway, upstream):  # noqa: F811
    upstream.set_fault("cut-stream", count=1)
    with httpx.stream(
        "POST", f"{gateway.v1}/chat/completions", json={"model": "primary", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g"}]}
    ) as r:
        frames = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert r.status_code == 200
    assert '"error"' in frames[-1] and "[DONE]" not in frames[-1]
    row = row_of(gateway, r.headers["x-request-id"])
    assert row["status"] == 502 and "stream failed" in row["error"]


def test_client_disconnect_aborts_the_upstream_call(gateway, upstream):  # noqa: F811
    upstream.clear()
    upstream.set_fault("slow-stream:300", count=1)
    with httpx.stream(
        "POST",
        f"{gateway.v1}/chat/completions",
        json={"model": "primary", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g h i j"}]},
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break
        request_id = r.headers["x-request-id"]
    deadline = time.time() + 10
    while time.time() < deadline and upstream.received()[-1].get("outcome") != "client-disconnected":
        time.sleep(0.1)
    row = row_of(gateway, request_id)
    assert upstream.received()[-1]["outcome"] == "client-disconnected", (row, gateway.log_text()[-2000:])
    assert row["status"] == 499


def test_anthropic_model_through_the_openai_sdk(gateway, upstream):  # noqa: F811
    upstream.clear()
    reply = sdk(gateway).chat.completions.create(
        model="claude", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "bonjour"}], max_tokens=50
    )
    assert reply.choices[0].message.content == "echo: bonjour"
    sent = upstream.received()[-1]
    assert sent["path"].endswith("/v1/messages") and sent["json"]["system"] == "be brief"
    assert header(sent, "x-api-key") == "sk-ant-test"
    text = "".join(
        c.choices[0].delta.content or ""
        for c in sdk(gateway).chat.completions.create(model="claude", messages=[{"role": "user", "content": "salut toi"}], stream=True)
        if c.choices
    )
    assert text == "echo: salut toi"
    row = row_of(gateway, reply.model_extra["rightmodel"]["request_id"])
    assert row["cost_usd"] == pytest.approx((row["tokens_in"] * 3.0 + row["tokens_out"] * 15.0) / 1e6)  # list price of claude-sonnet-4


def test_auto_without_a_task_goes_to_the_generalist(gateway):
    reply = sdk(gateway).chat.completions.create(model="auto", messages=[{"role": "user", "content": "anything"}])
    assert reply.model_extra["rightmodel"]["model"] == "primary"
    assert "no task matched" in reply.model_extra["rightmodel"]["reason"]


def test_sigterm_drains_a_stream_in_flight_and_exits_0(upstream, tmp_path):  # noqa: F811
    import signal
    import threading

    from gateway_proc import start_gateway, stop_gateway

    config = {"models": {"m": {"kind": "openai", "base_url": upstream.openai_base, "api_key_env": "TEST_OPENAI_KEY"}}}
    gw = start_gateway(config, tmp_path / "gw", env={"TEST_OPENAI_KEY": "k"})
    upstream.set_fault("slow-stream:150", count=1)
    got: dict = {}

    def consume() -> None:
        with httpx.stream("POST", f"{gw.v1}/chat/completions", timeout=30,
                          json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]}) as r:
            got["frames"] = [line for line in r.iter_lines() if line.startswith("data: ")]
            got["id"] = r.headers["x-request-id"]

    reader = threading.Thread(target=consume)
    reader.start()
    time.sleep(0.5)  # the stream is under way
    code = stop_gateway(gw, signal.SIGTERM, timeout=30)
    reader.join(30)
    assert code == 0
    assert got["frames"][-1] == "data: [DONE]"  # drained, not cut
    rows = gw.ledger_rows()
    assert [r["status"] for r in rows if r["request_id"] == got["id"]] == [200]
