"""Escalation for text answers: a generate model as a task's specialist, its answer scored by
exp(mean token log-probability) and sent only when the score clears the task's threshold, else the
request goes to the task's frontier model — here a second real gateway process serving its own
llama.cpp model, reached over loopback HTTP by the first one's OpenAI-compatible backend."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import openai
import pytest

from gateway_proc import running_gateway
from generative_models import tiny_model

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "system", "content": "Extract the request as JSON."}, {"role": "user", "content": "Where is order AB123456?"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, smollm2_tokenizer):
    """(HF dir, f32 GGUF) of a tiny random Llama; a card.json beside the GGUF holds threshold 0.5."""
    from rightmodel.generative.gguf_export import to_gguf

    root = tmp_path_factory.mktemp("tiny-llama-esc")
    hf = tiny_model("llama", smollm2_tokenizer, root / "hf")
    gguf = to_gguf(hf, root / "model" / "tiny.f32.gguf", "f32")
    (gguf.parent / "card.json").write_text(json.dumps({"kind": "generate", "acceptance": {"threshold": 0.5}}))
    return hf, gguf


@pytest.fixture(scope="module")
def frontier(tiny, tmp_path_factory):
    """The 'frontier': another gateway process, its own llama.cpp model named `big`."""
    config = {"models": {"big": {"kind": "generate", "path": str(tiny[1]), "context_tokens": 512, "threshold": 0.0}},
              "defaults": {"retries": 0}}
    with running_gateway(config, tmp_path_factory.mktemp("frontier-home")) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def gw(tiny, frontier, tmp_path_factory):
    config = {
        "models": {
            "writer": {"kind": "generate", "path": str(tiny[1]), "context_tokens": 512},  # threshold from its card: 0.5
            "frontier": {"kind": "openai", "base_url": frontier.v1, "model": "big", "timeout_s": 60,
                         "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
        },
        "tasks": {
            "extract": {"specialist": "writer", "escalate_to": "frontier"},
            "lenient": {"specialist": "writer", "escalate_to": "frontier", "threshold": 0.0},
            "alone": {"specialist": "writer", "on_unsure": "error"},
        },
        "defaults": {"retries": 0, "local_cost_per_hour": 3.6},
    }
    with running_gateway(config, tmp_path_factory.mktemp("esc-home")) as gateway:
        yield gateway


def ask(gw, model: str, **kwargs):
    client = openai.OpenAI(base_url=gw.v1, api_key="sk-test", max_retries=0)
    return client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, temperature=0, max_tokens=12, **kwargs)


def rows_of(gw, task: str, n: int = 1) -> list[dict]:
    """The ledger rows of `task`, once at least `n` of them have been shipped."""
    import time

    deadline = time.time() + 20
    while True:
        rows = [r for r in gw.ledger_rows() if r["task"] == task]
        if len(rows) >= n or time.time() > deadline:
            return rows
        time.sleep(0.1)


def test_a_low_acceptance_score_escalates_to_the_frontier_server(gw, frontier):
    raw = ask(gw, "extract")
    answer = raw.parse()
    assert raw.headers["x-rightmodel-route"] == "escalated"
    assert answer.choices[0].message.content  # the frontier process wrote it
    row = rows_of(gw, "extract")[-1]
    assert row["route"] == "escalated" and row["model"] == "frontier" and row["status"] == 200 and row["escalated"]
    assert 0.0 < row["confidence"] < 0.5  # a random model is unsure of its tokens: the score, in the ledger
    assert "acceptance" in row["reason"] and "< threshold 0.5000" in row["reason"] and "escalated to frontier" in row["reason"]
    extra = row["extra"] if isinstance(row["extra"], dict) else json.loads(row["extra"])
    assert extra["specialist"]["model"] == "writer" and extra["specialist"]["tokens"] > 0
    assert row["cost_usd"] > 0  # the local attempt's compute time plus the frontier's tokens
    assert any(r["model"] == "big" and r["status"] == 200 for r in frontier.ledger_rows(expect=1))  # it really answered

    chunks = list(ask(gw, "extract", stream=True).parse())  # escalated streams relay the frontier's stream
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_an_answer_above_the_threshold_is_served_locally(gw):
    raw = ask(gw, "lenient")
    answer = raw.parse()
    assert raw.headers["x-rightmodel-route"] == "specialist"
    assert answer.choices[0].message.content and answer.usage.completion_tokens > 0
    row = rows_of(gw, "lenient")[-1]
    assert row["route"] == "specialist" and row["model"] == "writer" and not row["escalated"] and row["confidence"] > 0

    chunks = list(ask(gw, "lenient", stream=True).parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer.choices[0].message.content


def test_unsure_with_nowhere_to_escalate_is_a_503_naming_the_reason(gw):
    with pytest.raises(openai.InternalServerError) as info:
        ask(gw, "alone")
    assert info.value.status_code == 503 and info.value.body["code"] == "specialist_unsure"


def test_the_score_is_the_mean_token_log_probability_transformers_gives(tiny):
    """llama.cpp's logits, read as the answer is sampled, against transformers' on the same tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    from rightmodel.generative.engine import LlamaEngine
    from rightmodel.generative.request import GenerationRequest

    hf, gguf = tiny
    engine = LlamaEngine(gguf, n_ctx=256, threads=1)
    try:
        ids = engine.prompt_ids(MESSAGES)
        pieces, counter = engine.generate(GenerationRequest(messages=MESSAGES, max_tokens=8, temperature=0.0, seed=0), ids, threading.Event())
        list(pieces)
        tokens = [int(t) for t in counter.sampled]
    finally:
        engine.close()
    assert len(counter.logprobs) == len(tokens) >= 1
    model = AutoModelForCausalLM.from_pretrained(str(hf)).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids + tokens])).logits[0].double()
    want = torch.log_softmax(logits, -1)[np.arange(len(ids) - 1, len(ids) + len(tokens) - 1), tokens].numpy()
    assert np.allclose(counter.logprobs, want, atol=5e-3), (counter.logprobs, want)
    assert math.isclose(counter.acceptance, math.exp(float(np.mean(want))), rel_tol=5e-3)


def test_calibration_on_held_out_pairs_fills_the_card_section(tiny):
    from rightmodel.generative.acceptance import QualityBar
    from rightmodel.generative.calibrate import calibrate_generative, holdout

    convo = lambda q, a: [{"role": "user", "content": q}, {"role": "assistant", "content": a}]  # noqa: E731
    pairs = [convo(f"order {i}", json.dumps({"n": i})) for i in range(20)]
    train, cal, test = holdout(pairs, seed=1)
    assert (len(train), len(cal), len(test)) == (14, 3, 3) and not {id(x) for x in cal} & {id(x) for x in train + test}
    section = calibrate_generative(tiny[1], cal, test, QualityBar("exact"), target=0.9,
                                   json_schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    assert section["threshold"] > 1.0  # a random model gets nothing right: nothing can be accepted
    assert section["calibration"]["n_calibration"] == 3 and section["calibration"]["all_pass_rate"] == 0.0
    assert section["test"]["n"] == 3 and section["test"]["coverage"] == 0.0 and section["quality_bar"] == "exact"


def test_quality_bars():
    from rightmodel.errors import ConfigError
    from rightmodel.generative.acceptance import QualityBar, acceptance_score

    exact = QualityBar.parse("exact")
    assert exact.passes('{"a": 1, "b": null}', '{"b":null,"a":1}')  # JSON compared as parsed
    assert not exact.passes('{"a": 2}', '{"a": 1}') and exact.passes(" done ", "done")
    chrf = QualityBar.parse("chrf >= 0.5")
    assert str(chrf) == "chrf>=0.5" and chrf.passes("Return the sum of two numbers.", "Return the sum of two numbers")
    assert not chrf.passes("Open a socket.", "Return the sum of two numbers.")
    for bad in ("bleu", "chrf>=2", "chrf>=x"):
        with pytest.raises(ConfigError, match="quality bar"):
            QualityBar.parse(bad)
    assert acceptance_score([0.0, 0.0]) == 1.0 and math.isclose(acceptance_score([math.log(0.5)] * 3), 0.5)


def test_config_checks_for_a_generative_specialist(tiny):
    from rightmodel.constellation.config import parse_constellation
    from rightmodel.errors import ConfigError
    from rightmodel.gateway.state import check_generative_thresholds

    models = {"writer": {"kind": "generate", "path": str(tiny[1])}, "big": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}}
    with pytest.raises(ConfigError, match="tasks.t.escalate_to: a generative specialist cannot escalate to itself"):
        parse_constellation({"models": models, "tasks": {"t": {"specialist": "writer", "escalate_to": "writer"}}})
    c = parse_constellation({"models": models, "tasks": {"t": {"specialist": "writer", "escalate_to": "big"}}})

    class NoCard:
        acceptance_threshold = None

    with pytest.raises(ConfigError, match=r"tasks\.t\.threshold: the generate model 'writer' has no acceptance threshold"):
        check_generative_thresholds(c, {"writer": NoCard(), "big": object()})
    check_generative_thresholds(parse_constellation({"models": models, "tasks": {"t": {"specialist": "writer", "threshold": 0.3}}}),
                                {"writer": NoCard()})
