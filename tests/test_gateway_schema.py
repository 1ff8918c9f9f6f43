"""Schemathesis against a running gateway's own /openapi.json: whatever it is sent, no 5xx.

The gateway is a real `rightmodel serve` process in front of tests/upstream_server.py (an
OpenAI-compatible and an Anthropic model) with a real specialist (task `intent`, the session's
`built` fixture) and the bundled embedder, so every operation of the schema reaches its real
handler: chat completions answered by the specialist or a remote model (streamed or not),
embeddings, classify, models, health. For every operation the schema lists, schemathesis
generates schema-valid (positive) and schema-violating (negative) requests, a bounded number
of each (`MAX_EXAMPLES`), and the check is `not_a_server_error`: a 4xx for invalid input is
the right answer, a 5xx is a bug. A failure shows the shrunk request as a curl command.

Schemathesis's pytest plugin (`from_fixture`) sets `Function._nodeid`, which pytest 9 no
longer has, so the cases are drawn with its public Hypothesis strategies (`as_strategy`)
instead; the schema still comes from the running gateway.

A generated body's `model` is usually replaced by a name the gateway serves (drawn by
Hypothesis, so failures shrink and replay): random strings would only exercise the 404 path.
The circuit breaker is off, so that every case stands on its own.

Last, a regression test for a bug this fuzzing found: an array `stop` whose items were not
strings reached the upstream.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gateway_proc import Gateway, running_gateway
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

pytestmark = pytest.mark.slow

# Per operation and generation mode. Longer hunts: SCHEMA_FUZZ_EXAMPLES=400 SCHEMA_FUZZ_RANDOM=1 (new
# inputs each run instead of the same derandomized ones).
MAX_EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "50"))
DERANDOMIZE = not os.environ.get("SCHEMA_FUZZ_RANDOM")
# What a generated body's `model` becomes: served names (task, specialist, remote models,
# `auto`), an unknown one, or None to keep the generated value.
MODELS = ("intent", "intent-v", "remote", "claude", "auto", "no-such-model", None)
# Operations the gateway must document; whatever else its schema lists is fuzzed as well.
OPERATIONS = {
    "POST /v1/chat/completions", "POST /v1/completions", "POST /v1/responses", "GET /v1/models", "POST /v1/embeddings",
    "POST /v1/classify", "GET /healthz", "GET /readyz",
}


@pytest.fixture(scope="module")
def gateway(upstream, built, tmp_path_factory) -> Iterator[Gateway]:  # noqa: F811
    home = tmp_path_factory.mktemp("gw-schema")
    config = {
        "models": {
            "intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version},
            "remote": {"kind": "openai", "base_url": upstream.openai_base, "model": "gpt-4o-mini", "api_key_env": "SCHEMA_TEST_KEY", "timeout_s": 10},
            "claude": {"kind": "anthropic", "base_url": upstream.url, "model": "claude-sonnet-4-20250514", "api_key_env": "SCHEMA_TEST_KEY", "timeout_s": 10},
        },
        "tasks": {"intent": {"specialist": "intent-v", "escalate_to": "remote", "recognise": {"examples": ["my card has not arrived"]}}},
        # No circuit breaker: each case must stand on its own, so that a 5xx points at its input
        # rather than at a circuit that earlier cases opened.
        "defaults": {"generalist": "remote", "frontier": "gpt-4o", "retries": 0, "breaker_failures": 0},
    }
    args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(config, home, extra_args=args, env={"SCHEMA_TEST_KEY": "sk-up"}) as gw:
        yield gw


@pytest.fixture(scope="module")
def api_schema(gateway: Gateway) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({"request-timeout": 30})
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json", config=config)


def operations(api_schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_the_schema_lists_the_openai_routes(api_schema) -> None:
    assert OPERATIONS <= {op.label for op in operations(api_schema)}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors(api_schema, gateway: Gateway, mode: GenerationMode) -> None:
    checked = {}
    for op in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not (op.body or any(True for _ in op.iter_parameters())):
            checked[op.label] = []  # nothing to violate (no body, no parameters): covered by the valid run
            continue
        calls = []

        @given(case=op.as_strategy(generation_mode=mode), model=st.sampled_from(MODELS))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
                  suppress_health_check=list(HealthCheck))
        def run(case, model) -> None:
            if model is not None and isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
                case.body["model"] = model
            response = case.call(base_url=gateway.url)
            calls.append(response.status_code)
            assert response.status_code < 500, (
                f"{op.label} -> {response.status_code}: {response.text[:500]}\n{case.as_curl_command(base_url=gateway.url)}\n"
                f"gateway log tail:\n{gateway.log_text()[-2000:]}"
            )
            case.validate_response(response, checks=[not_a_server_error])

        run()
        checked[op.label] = calls
    print({label: sorted(set(codes)) for label, codes in checked.items()})
    assert OPERATIONS <= set(checked)
    if mode is GenerationMode.POSITIVE:
        assert 200 in checked["POST /v1/chat/completions"] and 200 in checked["POST /v1/classify"]


def test_stop_items_that_are_not_strings_are_refused_before_the_upstream(gateway: Gateway, upstream) -> None:  # noqa: F811
    upstream.clear()
    r = httpx.post(f"{gateway.v1}/chat/completions", timeout=30,
                   json={"model": "remote", "messages": [{"role": "user", "content": "hi"}], "stop": [True]})
    assert r.status_code == 400 and (r.json()["error"]["param"] or "").startswith("stop"), r.text
    assert upstream.received() == []
