"""The gateway side of learned routers: config validation, thresholds from a share or a budget,
and the Router picking a task's escalation target per prompt (with the reason it gives)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rightmodel.constellation.config import parse_constellation
from rightmodel.errors import ConfigError
from rightmodel.registry import Registry
from rightmodel.router.serving import load_policies, share_for_budget
from rightmodel.router.train import RouterTrainRequest, build_router
from rightmodel.routing.decision import Router
from test_learned_router_metrics import synthetic_rows, write_jsonl
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

MODELS = {"spec": {"kind": "specialist", "task": "t"},
          "big": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
          "small": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}}
HARD = "Question 1: explain the integral and the matrix of the theorem."
EASY = "Question 2: explain the painter and the river of the capital."


def constellation(router: dict, **task):
    return parse_constellation({"models": MODELS, "tasks": {"t": {"specialist": "spec", "router": router, **task}}})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("gw-router")
    data = write_jsonl(root / "o.jsonl", synthetic_rows(300, 1))
    reg = Registry(root / "home")
    build_router(RouterTrainRequest(name="topics", data=data, strong="big", weak="small", kind="tfidf", folds=3), reg)
    yield reg
    reg.close()


def test_budget_share() -> None:
    assert share_for_budget(0.003, 0.01, 0.001) == pytest.approx(2 / 9)
    assert share_for_budget(0.02, 0.01, 0.001) == 1.0 and share_for_budget(0.0, 0.01, 0.001) == 0.0
    with pytest.raises(ConfigError, match="dearer"):
        share_for_budget(0.01, 0.001, 0.01)


@pytest.mark.parametrize("router, message", [
    ({"model": "topics", "strong": "big", "weak": "small"}, "exactly one of threshold, strong_share"),
    ({"model": "topics", "strong": "big", "weak": "small", "strong_share": 0.2, "threshold": 0.1}, "exactly one of"),
    ({"model": "topics", "strong": "big", "weak": "small", "budget_usd_per_request": 0.01}, "needs strong_usd_per_request"),
    ({"model": "topics", "strong": "huge", "weak": "small", "strong_share": 0.2}, "tasks.t.router.strong: 'huge' is not a remote model"),
])
def test_config_errors_name_the_key(router: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        constellation(router)
    with pytest.raises(ConfigError, match="set escalate_to or router, not both"):
        constellation({"model": "topics", "strong": "big", "weak": "small", "strong_share": 0.2}, escalate_to="big")


@pytest.mark.parametrize("rule", [{"strong_share": 0.08}, {"threshold": 0.5},
                                  {"budget_usd_per_request": 0.0017, "strong_usd_per_request": 0.01, "weak_usd_per_request": 0.001}])
def test_router_picks_the_escalation_target_per_prompt(registry: Registry, rule: dict) -> None:
    c = constellation({"model": "topics", "strong": "big", "weak": "small", **rule})
    router = Router(c, learned=load_policies(c, registry))
    body = lambda text: {"model": "t", "messages": [{"role": "user", "content": text}]}  # noqa: E731
    hard, easy = router.decide(body(HARD), {}), router.decide(body(EASY), {})
    # the pick is deferred: it runs only if the specialist escalates (the gateway calls it then)
    assert (hard.route, hard.specialist, hard.escalate_to, hard.escalates) == ("specialist", "spec", None, True)
    (model, why), (easy_model, _) = hard.pick(), easy.pick()
    assert (model, easy_model) == ("big", "small")
    assert "router topics@v1 score" in why and why.endswith(": big")
    # a request only a generative model can serve goes straight to the router's pick
    tools = router.decide({**body(HARD), "tools": [{"type": "function", "function": {"name": "f"}}]}, {})
    assert (tools.route, tools.remote, tools.pick()[0]) == ("remote", None, "big")


def test_a_failing_router_sends_the_prompt_to_the_strong_model(registry: Registry, monkeypatch) -> None:
    c = constellation({"model": "topics", "strong": "big", "weak": "small", "threshold": 0.5})
    policy = load_policies(c, registry)["t"]

    def broken(texts):
        raise RuntimeError("corrupted weights")

    monkeypatch.setattr(policy.router, "score", broken)
    assert policy.choose(EASY) == ("big", "router topics@v1 failed (RuntimeError): big")


def test_missing_router_stops_startup(registry: Registry) -> None:
    c = constellation({"model": "nope", "strong": "big", "weak": "small", "strong_share": 0.2})
    with pytest.raises(ConfigError, match="tasks.t.router: cannot load nope"):
        load_policies(c, registry)


def test_a_promoted_router_is_not_served_as_a_specialist(registry: Registry) -> None:
    from rightmodel.gateway.state import default_constellation

    registry.promote("topics@v1")
    assert "topics" not in default_constellation(registry.home).tasks


def test_a_task_without_specialist_is_a_pure_learned_route(registry: Registry) -> None:
    c = parse_constellation({"models": MODELS, "tasks": {"t": {"router": {
        "model": "topics", "strong": "big", "weak": "small", "strong_share": 0.08}}}})
    router = Router(c, learned=load_policies(c, registry))
    picks = [router.decide({"model": "t", "messages": [{"role": "user", "content": text}]}, {}) for text in (HARD, EASY)]
    assert [(d.route, d.pick()[0]) for d in picks] == [("remote", "big"), ("remote", "small")]


# -- a real gateway: the router runs only when a remote model answers, off the event loop ----------


@pytest.fixture(scope="module")
def served(upstream, built, tmp_path_factory):  # noqa: F811
    """`rightmodel serve` with the session's specialist and a TF-IDF router trained into its registry:
    task `pure` has only the router; `escalating` never trusts the specialist; `local` always does."""
    from gateway_proc import running_gateway

    home = tmp_path_factory.mktemp("gw-learned")
    data = write_jsonl(home / "o.jsonl", synthetic_rows(300, 1))
    build_router(RouterTrainRequest(name="lr-topics", data=data, strong="big", weak="small", kind="tfidf", folds=3), built["registry"])
    remote = lambda model: {"kind": "openai", "base_url": upstream.openai_base, "model": model, "timeout_s": 10,  # noqa: E731
                            "api_key_env": "LEARNED_ROUTER_TEST_KEY"}
    rule = {"model": "lr-topics", "strong": "big", "weak": "small", "strong_share": 0.08}
    spec = {"kind": "specialist", "task": "intent", "version": built["version"].version}
    config = {
        "models": {"intent-v": spec, "big": remote("up-big"), "small": remote("up-small")},
        "tasks": {"pure": {"router": rule},
                  "escalating": {"specialist": "intent-v", "router": rule, "threshold": 1.000001},
                  "local": {"specialist": "intent-v", "router": rule, "threshold": 0.0}},
        "defaults": {"retries": 0},
    }
    args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(config, home, extra_args=args, env={"LEARNED_ROUTER_TEST_KEY": "sk-up-test"}) as gw:
        yield gw


@pytest.mark.slow
def test_the_gateway_sends_each_prompt_where_the_router_says(served, upstream):  # noqa: F811
    import json

    import openai

    client = openai.OpenAI(base_url=served.v1, api_key="sk-test", max_retries=0)
    asked = [("pure", HARD, "up-big"), ("pure", EASY, "up-small"), ("escalating", HARD, "up-big"), ("escalating", EASY, "up-small")]
    metas = []
    for task, text, expected in asked:
        upstream.clear()
        reply = client.chat.completions.create(model=task, messages=[{"role": "user", "content": text}])
        assert reply.choices[0].message.content == f"echo: {text}"
        assert upstream.received()[-1]["json"]["model"] == expected
        metas.append(reply.model_extra["rightmodel"])
    assert [m["route"] for m in metas] == ["remote", "remote", "escalated", "escalated"]
    assert all("router lr-topics@v1 score" in m["reason"] for m in metas)
    assert metas[2]["reason"].endswith("escalated to big") and "< threshold" in metas[2]["reason"]
    # a confident specialist answers without the router being run at all
    upstream.clear()
    local = client.chat.completions.create(model="local", messages=[{"role": "user", "content": HARD}]).model_extra["rightmodel"]
    assert local["route"] == "specialist" and "router" not in local["reason"] and upstream.received() == []
    rows = {r["request_id"]: r for r in served.ledger_rows(expect=5)}
    extras = [json.loads(rows[m["request_id"]]["extra"] or "{}") for m in (*metas, local)]
    assert all(e["router_ms"] > 0 for e in extras[:4]) and "router_ms" not in extras[4]
