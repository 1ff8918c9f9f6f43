"""Golden cost arithmetic: every figure below was computed by hand from the list prices.

Remote: fresh prompt tokens at the input price, cached reads at the cached price, cache writes
at the write price (Anthropic: 1.25x input), completion at the output price. Local: compute
seconds x hourly cost; a fixed monthly cost pro rata over a period. Counterfactual: the same
usage at the frontier model's prices.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from rightmodel.constellation.costs import SECONDS_PER_MONTH, fixed_cost, local_cost
from rightmodel.constellation.costs import price_of
from rightmodel.constellation.prices import list_price
from rightmodel.usage import Price, Usage


def test_openai_cached_tokens():
    gpt4o = price_of(list_price("gpt-4o"))  # 2.50 / 10.00 / cached 1.25 per Mtok
    # 1,000 prompt tokens of which 400 cached, 200 completion: 600*2.5 + 400*1.25 + 200*10 = 4,000 -> $0.004
    assert gpt4o.cost(Usage(prompt_tokens=1000, completion_tokens=200, cached_tokens=400)) == pytest.approx(0.004, abs=1e-15)


def test_anthropic_cache_reads_and_writes():
    sonnet = price_of(list_price("claude-sonnet-4-20250514"))  # 3 / 15 / read 0.30 / write 3.75
    assert sonnet.cache_write_per_mtok == pytest.approx(3.75)
    # input 100 + read 1,000 + write 2,000 = 3,100 prompt; 300 out:
    # 100*3 + 1000*0.30 + 2000*3.75 + 300*15 = 300 + 300 + 7,500 + 4,500 = 12,600 -> $0.0126
    usage = Usage(prompt_tokens=3100, completion_tokens=300, cached_tokens=1000, cache_write_tokens=2000)
    assert sonnet.cost(usage) == pytest.approx(0.0126, abs=1e-15)


def test_unpriced_cache_rates_fall_back_to_input():
    p = Price(input_per_mtok=1.0, output_per_mtok=2.0)
    # 10 fresh + 20 read + 30 written, all at 1.0; 5 out at 2.0: 60 + 10 = 70 -> $0.00007
    assert p.cost(Usage(prompt_tokens=60, completion_tokens=5, cached_tokens=20, cache_write_tokens=30)) == pytest.approx(7e-5, abs=1e-18)


def test_local_compute_and_fixed_monthly_cost():
    assert local_cost(0.05, 0.10) == pytest.approx(0.05 * 0.10 / 3600)  # 1.3889e-6: 50 ms at $0.10/h
    assert local_cost(3600.0, 0.10) == pytest.approx(0.10)
    assert fixed_cost(SECONDS_PER_MONTH, 120.0) == pytest.approx(120.0)  # a whole month of a $120/month box
    assert fixed_cost(86400.0, 120.0) == pytest.approx(120.0 * 12 / 365.25)  # one day: $3.9425
    assert fixed_cost(-5.0, 120.0) == 0.0


# -- the same arithmetic through a real gateway and upstream, read back from the ledger ---------

from gateway_proc import running_gateway  # noqa: E402
from upstream_server import upstream  # noqa: E402,F401  (module-scoped fixture)


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):  # noqa: F811
    config = {
        "models": {
            "gpt": {"kind": "openai", "base_url": upstream.openai_base, "model": "up-gpt", "api_key_env": "COST_KEY",
                    "price": {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "cached_input_per_mtok": 0.5}},
            "claude": {"kind": "anthropic", "base_url": upstream.url, "model": "claude-sonnet-4-20250514", "api_key_env": "COST_KEY",
                       "headers": {"x-upstream-cache-read": "3", "x-upstream-cache-creation": "4"}},
        },
        "defaults": {"frontier": "gpt-4o", "retries": 0},
        "privacy": {"detect": False},
    }
    with running_gateway(config, tmp_path_factory.mktemp("gw-costs"), env={"COST_KEY": "sk-up"}) as gw:
        yield gw


def row(gw, request_id: str) -> dict:
    for _ in range(100):
        rows = {r["request_id"]: r for r in gw.ledger_rows(timeout=0)}
        if request_id in rows:
            return rows[request_id]
        time.sleep(0.1)
    raise AssertionError(request_id)


def test_golden_openai_row(gateway):
    # 8 prompt words (3 cached via metadata.cached), answer "echo: ..." = 9 words.
    r = httpx.post(f"{gateway.v1}/chat/completions", timeout=30, json={
        "model": "gpt", "metadata": {"cached": 3}, "messages": [{"role": "user", "content": "one two three four five six seven eight"}]})
    assert r.status_code == 200, r.text
    got = row(gateway, r.json()["rightmodel"]["request_id"])
    assert (got["tokens_in"], got["cached_tokens"], got["tokens_out"]) == (8, 3, 9)
    assert got["cost_usd"] == pytest.approx(83.5e-6, abs=1e-15)  # 5*2.0 + 3*0.5 + 9*8.0 = 83.5 per Mtok
    assert got["counterfactual_cost_usd"] == pytest.approx(106.25e-6, abs=1e-15)  # gpt-4o: 5*2.5 + 3*1.25 + 9*10


def test_golden_anthropic_row(gateway):
    # 10 prompt words: 3 cache reads + 4 cache writes (headers), 3 fresh; answer 11 words.
    r = httpx.post(f"{gateway.v1}/chat/completions", timeout=30, json={
        "model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "a b c d e f g h i j"}]})
    assert r.status_code == 200, r.text
    got = row(gateway, r.json()["rightmodel"]["request_id"])
    assert (got["tokens_in"], got["cached_tokens"], got["tokens_out"]) == (10, 3, 11)
    assert got["cost_usd"] == pytest.approx(189.9e-6, abs=1e-15)  # 3*3 + 3*0.30 + 4*3.75 + 11*15 = 189.9 per Mtok
    # counterfactual at gpt-4o (no write price: writes at input): 3*2.5 + 3*1.25 + 4*2.5 + 11*10 = 131.25
    assert got["counterfactual_cost_usd"] == pytest.approx(131.25e-6, abs=1e-15)
    assert json.loads(got["extra"]).get("estimated") is None  # reported usage, not estimates
