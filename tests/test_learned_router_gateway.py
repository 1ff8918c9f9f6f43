"""The gateway side of learned routers: config validation, thresholds from a share or a budget,
and the Router picking a task's escalation target per prompt (with the reason it gives)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rightmodel.errors import ConfigError
from rightmodel.gateway.config import parse_constellation
from rightmodel.gateway.router import Router
from rightmodel.registry import Registry
from rightmodel.router.serving import load_policies, share_for_budget
from rightmodel.router.train import RouterTrainRequest, build_router
from test_learned_router_metrics import synthetic_rows, write_jsonl

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
    assert (hard.route, hard.specialist, hard.escalate_to) == ("specialist", "spec", "big")
    assert easy.escalate_to == "small"
    assert "router topics@v1 score" in hard.reason and hard.reason.endswith(": big")
    # a request only a generative model can serve goes straight to the router's pick
    tools = router.decide({**body(HARD), "tools": [{"type": "function", "function": {"name": "f"}}]}, {})
    assert (tools.route, tools.remote) == ("remote", "big")


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
    assert [(d.route, d.remote) for d in picks] == [("remote", "big"), ("remote", "small")]
