"""Constellation files and routing decisions (fast: no servers, no models)."""

from __future__ import annotations

import pytest

from conftest import run_cli
from rightmodel.constellation.config import compile_template, parse_constellation
from rightmodel.errors import ConfigError
from rightmodel.routing.decision import NoRoute, Router

GOOD = {
    "models": {
        "intent-v": {"kind": "specialist", "task": "intent"},
        "gpt-4o-mini": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY", "fallbacks": ["haiku"]},
        "haiku": {"kind": "anthropic", "model": "claude-haiku-4-5", "api_key_env": "ANTHROPIC_API_KEY", "price": {"input_per_mtok": 1, "output_per_mtok": 5}},
    },
    "tasks": {
        "intent": {
            "specialist": "intent-v",
            "escalate_to": "gpt-4o-mini",
            "recognise": {"system_prompts": ["Classify the message into one of: {labels}. Answer with the label."]},
        }
    },
    "defaults": {"generalist": "gpt-4o-mini", "frontier": "gpt-4o-mini"},
}


def test_a_good_file_parses_with_defaults():
    c = parse_constellation(GOOD)
    assert c.models["haiku"].base_url == "https://api.anthropic.com"
    assert c.specialists()["intent-v"].ref("intent-v") == "intent@production"
    assert c.defaults.retries == 2


@pytest.mark.parametrize(
    "patch,path",
    [
        ({"models": {"x": {"kind": "openai"}}}, "models.x.base_url"),
        ({"models": {"x": {"kind": "openai", "base_url": "ftp://nope"}}}, "models.x.base_url"),
        ({"models": {"x": {"kind": "mystery", "base_url": "http://a"}}}, "models.x"),
        ({"models": {"x": {"kind": "openai", "base_url": "http://a", "price": {"input_per_mtok": "lots"}}}}, "models.x.price.input_per_mtok"),
        ({"models": {"x": {"kind": "openai", "base_url": "http://a", "colour": "red"}}}, "models.x.colour"),
        ({"models": {"x": {"kind": "openai", "base_url": "http://a", "fallbacks": ["ghost"]}}}, "models.x.fallbacks.0"),
        ({"tasks": {"t": {"specialist": "gpt-4o-mini"}}}, "tasks.t.specialist"),
        ({"tasks": {"t": {"specialist": "intent-v", "escalate_to": "intent-v"}}}, "tasks.t.escalate_to"),
        ({"tasks": {"t": {"specialist": "intent-v", "threshold": 3}}}, "tasks.t.threshold"),
        ({"defaults": {"generalist": "nobody"}}, "defaults.generalist"),
        ({"defaults": {"retries": -1}}, "defaults.retries"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_every_error_names_its_key_path(patch, path):
    raw = {**GOOD, **{k: {**GOOD.get(k, {}), **v} if isinstance(v, dict) and isinstance(GOOD.get(k), dict) else v for k, v in patch.items()}}
    with pytest.raises(ConfigError) as info:
        parse_constellation(raw)
    assert f"{path}:" in str(info.value) or f"{path}." in str(info.value)


def test_config_check_cli(tmp_path):
    import yaml

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD))
    ok = run_cli("config", "check", str(good))
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  x:\n    kind: openai\n    base_url: 42\n    price: {input_per_mtok: cheap}\n")
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 2
    assert "models.x.base_url" in result.stderr and "models.x.price.input_per_mtok" in result.stderr
    assert "Traceback" not in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [\n")
    result = run_cli("config", "check", str(broken))
    assert result.returncode == 2 and "line" in result.stderr
    shown = run_cli("config", "show", str(good))
    assert shown.returncode == 0 and "OPENAI_API_KEY" in shown.stdout


def test_templates_match_whole_prompts_loosely():
    pattern = compile_template("Classify the message into one of: {labels}. Answer with the label.")
    assert pattern.fullmatch("classify the message into   one of: a, b, c. Answer with the label.")
    assert not pattern.fullmatch("Translate this. Classify the message into one of: a. Answer with the label.")
    with pytest.raises(ValueError):
        compile_template("  ")


def msg(text: str, system: str | None = None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def test_router_decisions_and_reasons():
    router = Router(parse_constellation(GOOD))
    d = router.decide({"model": "intent", "messages": msg("hi")}, {})
    assert (d.route, d.specialist, d.escalate_to) == ("specialist", "intent-v", "gpt-4o-mini")
    d = router.decide({"model": "gpt-4o-mini", "messages": msg("hi")}, {})
    assert (d.route, d.remote) == ("remote", "gpt-4o-mini")
    d = router.decide({"model": "auto", "messages": msg("hi", "Classify the message into one of: x, y. Answer with the label.")}, {})
    assert d.task == "intent" and "template" in d.reason
    d = router.decide({"model": "auto", "messages": msg("hi")}, {"x-rightmodel-task": "intent"})
    assert d.task == "intent" and "header" in d.reason
    d = router.decide({"model": "auto", "messages": msg("hi")}, {})
    assert d.route == "remote" and d.remote == "gpt-4o-mini" and "no task matched" in d.reason
    d = router.decide({"model": "intent", "messages": msg("hi"), "tools": [{"type": "function"}]}, {})
    assert d.route == "remote" and "tools" in d.reason
    with pytest.raises(NoRoute) as info:
        router.decide({"model": "intent-v", "messages": msg("hi"), "n": 2}, {})
    assert info.value.param == "n" and not info.value.unknown_model
    with pytest.raises(NoRoute) as info:
        router.decide({"model": "ghost", "messages": msg("hi")}, {})
    assert info.value.unknown_model and info.value.param == "model"  # the gateway answers 404 (gateway/errors.py no_route)


def test_router_by_example_similarity():
    import numpy as np

    vocab = {"card": [1, 0, 0], "rate": [0, 1, 0], "poem": [0, 0, 1]}

    def embed(texts):
        rows = []
        for t in texts:
            v = np.sum([vocab[w] for w in vocab if w in t] or [[0.1, 0.1, 0.1]], axis=0).astype(float)
            rows.append(v / np.linalg.norm(v))
        return np.array(rows)

    raw = {**GOOD, "tasks": {"intent": {"specialist": "intent-v", "recognise": {"examples": ["my card is lost"], "similarity": 0.9}}}}
    router = Router(parse_constellation(raw), embed=embed)
    assert router.decide({"model": "auto", "messages": msg("where is my card")}, {}).task == "intent"
    assert router.decide({"model": "auto", "messages": msg("write a poem")}, {}).task is None
