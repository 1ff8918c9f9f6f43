"""GET /metrics: Prometheus counters that agree with the ledger, bounded labels, open access.

A real `rightmodel serve` process (a specialist from the session's `built` fixture, a remote
model on tests/upstream_server.py, keys required) answers a known mix of requests; /metrics is
scraped with httpx, parsed with prometheus_client's own parser and compared with the ledger rows.
"""

from __future__ import annotations

import asyncio
import time
import timeit
import uuid
from collections import Counter, defaultdict

import httpx
import numpy as np
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import rightmodel
from gateway_proc import running_gateway
from rightmodel.auth import KeySpec, KeyStore
from rightmodel.gateway.metrics import GatewayMetrics
from rightmodel.ledger import LedgerRecord
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

CHAT = "/v1/chat/completions"
TENANT = "metrics-tenant-acme"
EMAIL = "jane.doe.metrics@example.com"
JUNK = "x" * 1000


def samples(text: str) -> dict[str, list]:
    """Sample name -> [(labels, value)] of a Prometheus text exposition."""
    out: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name].append((s.labels, s.value))
    return out


def by(rows: list[tuple[dict, float]], *names: str) -> dict[tuple, float]:
    return {tuple(labels[n] for n in names): value for labels, value in rows}


def model_label(model: str | None) -> str:
    return "none" if model is None else model


# -- no process: the object itself ------------------------------------------------------------


def row(**kw) -> LedgerRecord:
    base = dict(endpoint=CHAT, route="remote", model="primary", status=200, latency_ms=12.0, tokens_in=3, tokens_out=2,
                cost_usd=1e-5, counterfactual_cost_usd=3e-5)
    return LedgerRecord(**{**base, **kw})


def test_labels_are_bounded_and_the_registry_is_per_instance():
    a, b = GatewayMetrics({"primary"}, {"intent"}), GatewayMetrics({"primary"}, {"intent"})
    a.observe(row())
    a.observe(row(model=JUNK, route="remote"))  # not a served model: "unknown", never the string
    a.observe(row(model=f"rand-{uuid.uuid4()}"))
    a.observe(row(model=None, route="rejected", status=404))
    a.observe(row(escalated=True, task=f"task-{uuid.uuid4()}", route="escalated"))
    a.observe(row(privacy_policy="redact", privacy_action="redacted"))
    a.observe(row(privacy_policy="weird", privacy_action="also-weird"))
    got = samples(a.render().decode())
    reqs = by(got["rightmodel_requests_total"], "endpoint", "route", "model", "status")
    assert reqs == {
        (CHAT, "remote", "primary", "200"): 3, (CHAT, "remote", "unknown", "200"): 2,
        (CHAT, "rejected", "none", "404"): 1, (CHAT, "escalated", "primary", "200"): 1,
    }
    assert by(got["rightmodel_escalations_total"], "task") == {("unknown",): 1}
    assert by(got["rightmodel_privacy_requests_total"], "policy", "action") == {("redact", "redacted"): 1, ("other", "other"): 1}
    assert b.render().count(b"rightmodel_requests_total{") == 0  # nothing shared between two gateways
    assert b"rightmodel_requests" not in generate_latest(REGISTRY)  # the global registry is untouched


def test_the_embedder_is_labelled_by_its_name_never_a_path():
    from rightmodel.gateway.batches import EMBEDDING_MODEL

    m = GatewayMetrics({"primary", EMBEDDING_MODEL}, ())  # what for_state gives: the encoder's name is known up front
    m.observe(row(endpoint="/v1/embeddings", route="embeddings", model="all-MiniLM-L6-v2"))
    m.observe(row(endpoint="/v1/embeddings", route="embeddings", model="/home/x/.cache/embedders/0123abcd"))  # a path: never a label
    reqs = by(samples(m.render().decode())["rightmodel_requests_total"], "model")
    assert reqs == {("all-MiniLM-L6-v2",): 1, ("unknown",): 1}


def test_observe_costs_microseconds():
    m = GatewayMetrics({"primary"}, {"intent"})
    r = row(escalated=True, task="intent", route="escalated", privacy_policy="redact", privacy_action="redacted")
    m.observe(r)
    n = 20_000
    per_call = min(timeit.repeat(lambda: m.observe(r), number=n, repeat=3)) / n
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} us per observation"  # measured ~3 us on the 2-core dev box


def test_a_failing_batch_observer_never_stops_the_batcher():
    from rightmodel.specialists.batching import MicroBatcher

    class Runtime:
        def predict_proba(self, texts):
            return np.full((len(texts), 2), 0.5)

    seen = []

    async def run():
        batcher = MicroBatcher(Runtime(), max_batch=4, observer=seen.append)
        first = await asyncio.gather(*(batcher.predict_proba("x") for _ in range(3)))
        batcher.observer = lambda size: 1 / 0
        second = await asyncio.gather(*(batcher.predict_proba("y") for _ in range(2)))
        await batcher.close()
        return first, second, batcher.observer

    first, second, observer = asyncio.run(run())
    assert sum(seen) == 3 and len(first) == 3 and len(second) == 2
    assert observer is None  # removed after it failed; the requests were answered anyway


# -- a real gateway ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(upstream, built, tmp_path_factory):  # noqa: F811
    home = tmp_path_factory.mktemp("gw-metrics")
    keys_url = f"sqlite:///{home / 'keys.db'}"
    store = KeyStore(keys_url)
    store.migrate()
    record, secret = store.create(KeySpec(tenant=TENANT))
    store.close()
    remote = {"kind": "openai", "base_url": upstream.openai_base, "model": "up-primary", "api_key_env": "METRICS_TEST_KEY",
              "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}, "timeout_s": 10}
    config = {
        "models": {"intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version}, "primary": remote},
        "tasks": {
            "intent": {"specialist": "intent-v", "escalate_to": "primary", "threshold": 0.0},  # always answers locally
            "intent-esc": {"specialist": "intent-v", "escalate_to": "primary", "threshold": 1.000001},  # always escalates
        },
        "defaults": {"generalist": "primary", "frontier": "gpt-4o", "retries": 0},
        "auth": {"mode": "required"},
    }
    args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    env = {"METRICS_TEST_KEY": "sk-up-metrics", "RIGHTMODEL_KEYS_URL": keys_url}
    with running_gateway(config, home, extra_args=args, env=env) as gw:
        yield gw, secret, record.key_id


def scrape(gw) -> tuple[str, dict[str, list]]:
    r = httpx.get(f"{gw.url}/metrics", timeout=10)  # no key: the route is open
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text, samples(r.text)


def test_metrics_match_the_ledger(stack, upstream):  # noqa: F811
    gw, secret, key_id = stack
    auth = {"Authorization": f"Bearer {secret}"}

    def chat(model: str, text: str, **extra) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        return httpx.post(f"{gw.v1}/chat/completions", json=body, headers=auth, timeout=30)

    statuses = []
    statuses.append(chat("primary", "hello there").status_code)  # remote passthrough
    with httpx.stream("POST", f"{gw.v1}/chat/completions", headers=auth, timeout=30,
                      json={"model": "primary", "stream": True, "messages": [{"role": "user", "content": "one two three"}]}) as r:
        assert any(line.startswith("data: [DONE]") for line in r.iter_lines())
        statuses.append(r.status_code)
    statuses.append(chat("primary", f"write to {EMAIL} please").status_code)  # redacted on the way out
    statuses.append(chat("intent", "My card still hasn't arrived after two weeks").status_code)  # the specialist answers
    statuses.append(chat("intent-esc", "what exchange rate do you use").status_code)  # escalates to primary
    statuses.append(httpx.post(f"{gw.v1}/classify", json={"model": "intent", "input": ["I lost my card", "top up failed"]},
                               headers=auth, timeout=30).status_code)
    upstream.set_fault("400", count=1)
    statuses.append(chat("primary", "upstream refuses this").status_code)  # relayed 4xx
    statuses.append(chat(JUNK, "x").status_code)  # unknown model: 404
    statuses.append(chat(f"random-{uuid.uuid4()}", "x").status_code)
    statuses.append(httpx.post(f"{gw.v1}/chat/completions", json={"model": "primary", "messages": [{"role": "user", "content": "x"}]},
                               timeout=30).status_code)  # no key
    assert statuses == [200, 200, 200, 200, 200, 200, 400, 404, 404, 401]

    rows = gw.ledger_rows(expect=len(statuses))
    assert len(rows) == len(statuses)
    routes = Counter((r["endpoint"], r["route"], r["model"], r["status"]) for r in rows)
    assert routes[(CHAT, "escalated", "primary", 200)] == 1 and routes[(CHAT, "specialist", "intent@v1", 200)] == 1
    assert routes[("/v1/classify", "specialist", "intent@v1", 200)] == 1 and routes[(CHAT, "remote", "primary", 400)] == 1

    text, got = scrape(gw)

    # requests by endpoint/route/model/status: exactly the ledger's rows
    expected = Counter((r["endpoint"], r["route"], model_label(r["model"]), str(r["status"])) for r in rows)
    assert by(got["rightmodel_requests_total"], "endpoint", "route", "model", "status") == dict(expected)

    # latency: one observation per row, summing to the ledger's latencies
    counts = by(got["rightmodel_request_duration_seconds_count"], "endpoint", "route")
    sums = by(got["rightmodel_request_duration_seconds_sum"], "endpoint", "route")
    per_route = Counter((r["endpoint"], r["route"]) for r in rows)
    assert counts == dict(per_route)
    for key in per_route:
        assert sums[key] == pytest.approx(sum(r["latency_ms"] for r in rows if (r["endpoint"], r["route"]) == key) / 1000, rel=1e-6)
    buckets = [(labels["le"], v) for labels, v in got["rightmodel_request_duration_seconds_bucket"] if labels["route"] == "specialist"]
    assert {le for le, _ in buckets} >= {"0.001", "60.0", "+Inf"}

    # cost, counterfactual and tokens by route/model: the ledger's sums
    for metric, column in [("rightmodel_cost_usd_total", "cost_usd"), ("rightmodel_counterfactual_cost_usd_total", "counterfactual_cost_usd"),
                           ("rightmodel_tokens_in_total", "tokens_in"), ("rightmodel_tokens_out_total", "tokens_out")]:
        want: dict[tuple, float] = defaultdict(float)
        for r in rows:
            want[(r["route"], model_label(r["model"]))] += r[column]
        have = by(got[metric], "route", "model")
        assert set(have) == set(want), metric
        for key, value in want.items():
            assert have[key] == pytest.approx(value, rel=1e-9, abs=1e-15), (metric, key)
    assert by(got["rightmodel_cost_usd_total"], "route", "model")[("remote", "primary")] > 0

    assert by(got["rightmodel_escalations_total"], "task") == {("intent-esc",): 1}

    privacy = Counter((r["privacy_policy"], r["privacy_action"]) for r in rows if r["privacy_policy"] is not None)
    assert by(got["rightmodel_privacy_requests_total"], "policy", "action") == dict(privacy)
    assert privacy[("redact", "redacted")] == 1

    # micro-batches: every text the specialist classified one at a time (chat, escalation, 2 classify)
    assert by(got["rightmodel_specialist_batch_size_sum"], "specialist") == {("intent-v",): 4}
    assert 1 <= by(got["rightmodel_specialist_batch_size_count"], "specialist")[("intent-v",)] <= 4
    assert by(got["rightmodel_specialist_queue_depth"], "specialist") == {("intent-v",): 0}

    deadline = time.time() + 15
    while by(got["rightmodel_ledger_pending"]) != {(): 0} and time.time() < deadline:
        time.sleep(0.2)
        text, got = scrape(gw)
    assert by(got["rightmodel_ledger_pending"]) == {(): 0}  # every row shipped to the database

    [(build, value)] = got["rightmodel_build_info"]
    assert value == 1 and build["version"] == rightmodel.__version__

    # nothing sensitive and no client strings in any label
    label_values = {v for rows_ in got.values() for labels, _ in rows_ for v in labels.values()}
    assert {labels["model"] for labels, _ in got["rightmodel_requests_total"]} == {"primary", "intent@v1", "none"}
    for needle in (JUNK[:20], "random-", TENANT, key_id, secret, EMAIL, "hello there", "exchange rate"):
        assert needle not in text and not any(needle in v for v in label_values), needle


def test_junk_model_names_add_no_series(stack):
    gw, secret, _ = stack
    auth = {"Authorization": f"Bearer {secret}"}
    _, before = scrape(gw)
    for i in range(20):
        name = JUNK if i % 2 else f"junk-{uuid.uuid4()}"
        r = httpx.post(f"{gw.v1}/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "x"}]},
                       headers=auth, timeout=30)
        assert r.status_code == 404
    deadline = time.time() + 10
    while True:
        _, after = scrape(gw)
        old = by(before["rightmodel_requests_total"], "endpoint", "route", "model", "status")
        new = by(after["rightmodel_requests_total"], "endpoint", "route", "model", "status")
        if new.get((CHAT, "rejected", "none", "404"), 0) - old.get((CHAT, "rejected", "none", "404"), 0) >= 20 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert set(new) == set(old)  # same series; only the count of refused requests moved
    assert new[(CHAT, "rejected", "none", "404")] - old[(CHAT, "rejected", "none", "404")] == 20
    for name in ("rightmodel_cost_usd_total", "rightmodel_tokens_in_total", "rightmodel_request_duration_seconds_count"):
        assert {tuple(sorted(labels.items())) for labels, _ in after[name]} == {tuple(sorted(labels.items())) for labels, _ in before[name]}


def test_metrics_is_open_while_the_api_needs_a_key(stack):
    gw, secret, _ = stack
    assert httpx.get(f"{gw.v1}/models", timeout=10).status_code == 401
    assert httpx.get(f"{gw.v1}/models", headers={"Authorization": f"Bearer {secret}"}, timeout=10).status_code == 200
    assert httpx.get(f"{gw.url}/metrics", timeout=10).status_code == 200
    assert httpx.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer not-a-key"}, timeout=10).status_code == 200
    schema = httpx.get(f"{gw.url}/openapi.json", timeout=10).json()
    op = schema["paths"]["/metrics"]["get"]
    assert "open" in op["summary"] and "text/plain" in op["responses"]["200"]["content"]
