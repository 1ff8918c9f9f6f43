"""Distillation of a generative task end to end, every part a real process.

- "Frontier": gateway B, serving a tiny random-weight Llama (GGUF, llama.cpp) as a chat model.
- Gateway A: task `summ` (kind: generate) with no specialist yet, capture on: openai-SDK traffic
  with a system prompt goes to B, and A keeps the conversations and B's answers.
- `rightmodel distill summ` (the CLI, a subprocess) LoRA-tunes a candidate on the captured
  conversations from the same tiny base B was made from, calibrates its threshold on the held-out
  captures by exact agreement with B's answers, and registers it as a candidate.
- A restarts with the candidate in shadow mode and automatic promotion: the candidate writes an
  answer beside every request it has an engine free for; the rows name it, and their verdicts
  (acceptance score, would-have-answered, exact agreement with the answer served) arrive after;
  promotion follows, and the candidate answers; a newer candidate registered then does not slip
  into its place (the promoted model is pinned).
- A restarts once more with the promoted version as the task's specialist (following the
  production stage) and a threshold no answer clears: it escalates to B; the newer candidate,
  shadowed and promoted by hand (`models promote`) while A runs, ends the shadow and the
  specialist switches to it live.

The student is LoRA-trained (`--lr 0`: the steps run, the losses are on its card, the weights stay
its teacher's) from the base its teacher was made from, so its greedy answers are the teacher's and
agreement must be exact: on random weights any weight change flips greedy tokens (`--lr 1e-6` gave
75% held-out agreement). So this test checks the loop's plumbing — the conversation (system prompt
included) reaching training and calibration through the chat template exactly as the frontier saw
it, the verdicts, the gate, the switch — not whether distillation learns: that is for a bench.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from conftest import run_cli
from gateway_proc import running_gateway
from generative_models import tiny_model

pytestmark = pytest.mark.slow

SYSTEM = "Summarise the ticket in a few words."
MAX_TOKENS = 6


def ask(gw, text: str, model: str = "summ"):
    client = openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        max_tokens=MAX_TOKENS, temperature=0)
    return raw.parse().choices[0].message.content, raw.headers["x-rightmodel-route"]


def ready(gw) -> dict:
    return httpx.get(f"{gw.url}/readyz", timeout=5).json()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, smollm2_tokenizer):
    """(HF base dir, the frontier's GGUF made from it the way the pipeline makes its served file)."""
    from rightmodel.generative.gguf_export import quantize, to_gguf
    from rightmodel.generative.pipeline import served_quant

    root = tmp_path_factory.mktemp("tiny-distill")
    hf = tiny_model("llama", smollm2_tokenizer, root / "hf", seed=7)
    f16 = to_gguf(hf, root / "frontier" / "big.f16.gguf", "f16")
    kind = served_quant(hf)
    return hf, quantize(f16, root / "frontier" / f"big.{kind}.gguf", kind)


@pytest.fixture(scope="module")
def frontier(tiny, tmp_path_factory):
    config = {"models": {"big": {"kind": "generate", "path": str(tiny[1]), "context_tokens": 512, "threshold": 0.0}}}
    with running_gateway(config, tmp_path_factory.mktemp("frontier-home")) as gw:
        yield gw


def test_captured_generative_traffic_becomes_a_candidate_that_shadows_and_takes_over(tiny, frontier, tmp_path):
    home = tmp_path / "a-home"
    remote = {"kind": "openai", "base_url": frontier.v1, "model": "big", "timeout_s": 30, "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}}
    base = {"models": {"frontier": remote}, "defaults": {"retries": 0, "frontier": "frontier"}}
    texts = [f"Ticket {i}: my order {1000 + i} arrived {['late', 'broken', 'twice', 'empty'][i % 4]}." for i in range(48)]

    # 1. No specialist yet: every request goes to the frontier; the conversations are captured.
    config = {**base, "tasks": {"summ": {"escalate_to": "frontier", "capture": {}, "kind": "generate", "quality": "exact"}}}
    frontier_says = {}
    with running_gateway(config, home) as gw:
        for text in texts[:36]:
            frontier_says[text], route = ask(gw, text)
            assert route == "remote" and frontier_says[text]

    # 2. Distill: the kind comes from tasks.summ.kind, the quality bar from tasks.summ.quality.
    cfg_path = tmp_path / "constellation.yaml"
    cfg_path.write_text(json.dumps(config))
    out = run_cli("distill", "summ", "--config", str(cfg_path), "--home", str(home), "--base", str(tiny[0]), "--epochs", "1",
                  "--lr", "0", "--heldout", "0.35", "--target-agreement", "0.8", "--max-tokens", str(MAX_TOKENS), timeout=900)
    said = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 0, said[-4000:]
    assert "generative: tasks.summ.kind" in said and "36 captures → 36 distinct prompts" in said and "registered summ@v1 (candidate)" in said
    from rightmodel.registry import Registry

    with Registry(home) as registry:
        v1 = registry.get("summ@v1")
        card = json.loads((v1.path / "card.json").read_text())
    assert v1.stage == "candidate" and card["kind"] == "generate" and card["training"]["steps"] > 0 and card["training"]["first_loss"] > 0
    assert card["acceptance"]["quality_bar"] == "exact" and card["distilled"]["captured"] == 36
    heldout = card["acceptance"]["calibration"]["n_calibration"]
    assert heldout == card["distilled"]["heldout"] >= 5 and card["data"]["train_examples"] == 36 - heldout
    # The system prompt reached training and calibration as the frontier saw it: its answers, written again.
    assert card["distilled"]["agreement"] == 1.0, card["acceptance"]
    assert card["acceptance"]["test"]["crossfit"] and card["calibration_on_eval"]["crossfit"]

    # 3. Shadow mode with automatic promotion.
    shadow = {**base, "models": {**base["models"], "cand": {"kind": "generate", "task": "summ", "stage": "candidate", "context_tokens": 512}},
              "tasks": {"summ": {"escalate_to": "frontier", "shadow": "cand", "kind": "generate",
                                 "promote": {"auto": True, "agreement": 0.9, "min_requests": 8, "check_every_s": 0.5}}}}
    routes = []
    with running_gateway(shadow, home) as gw:
        assert ready(gw)["shadow"] == {"summ": "summ@v1"}
        deadline = time.time() + 90
        i = 0
        while not ready(gw).get("promoted") and time.time() < deadline:
            answer, route = ask(gw, texts[i % len(texts)])
            routes.append(route)
            if route == "remote":
                assert answer == frontier_says.get(texts[i % len(texts)], answer)
            i += 1
        assert ready(gw)["promoted"] == {"summ": "summ@v1"}, gw.log_text()[-3000:]
        after = [ask(gw, text) for text in texts[36:44]]  # prompts never captured, shadowed or trained on
        direct = [ask(frontier, text, model="big")[0] for text in texts[36:44]]
        # A newer candidate registered now does not replace the one that earned its place.
        from rightmodel.generative.pipeline import register_generative

        with Registry(home) as registry:
            v2 = register_generative(registry, "summ", v1.path, card)
        time.sleep(5)  # > two polls of the live-version watcher (2 s)
        assert ready(gw)["generators"]["cand"] == "summ@v1" and ask(gw, texts[0])[1] == "specialist"
        verdicts = ready(gw)["shadow_verdicts"]
        assert verdicts["written"] >= 8 and verdicts["dropped"] == verdicts["failed"] == 0
    report = run_cli("report", "--ledger-url", f"sqlite:///{home / 'ledger.db'}", "--format", "json", home=home)
    assert routes[0] == "remote" and set(routes[: routes.index("specialist") if "specialist" in routes else len(routes)]) == {"remote"}
    assert {route for _, route in after} == {"specialist"}
    assert [answer for answer, _ in after] == direct  # the candidate's answers are the frontier's
    rows = [r for r in gw.ledger_rows() if r["shadow_model"]]
    judged = [r for r in rows if r["shadow_agree"] is not None]
    assert len(judged) >= 8 and all(r["shadow_model"] == "summ@v1" and r["route"] == "remote" for r in rows)
    assert all(r["shadow_agree"] and r["shadow_accepted"] and 0 < r["shadow_confidence"] <= 1 for r in judged)
    promoted = [r for r in gw.ledger_rows() if r["route"] == "specialist"]
    assert promoted and all(r["model"] == "cand" and r["specialist"] == "summ@v1" for r in promoted)
    (line,) = [s for s in json.loads(report.stdout)["shadow"] if s["candidate"] == "summ@v1"]
    assert line["compared"] == len(judged) and line["accepted_agreement"] == 1.0 and line["coverage"] == 1.0

    # 4. The promoted version serves from the production stage and escalates below a threshold; the
    #    second candidate, shadowed and promoted by hand, is served while the gateway runs.
    with Registry(home) as registry:
        assert registry.get("summ@production").version == "v1" and registry.get("summ@candidate").version == "v2"
    strict = {**base, "models": {**base["models"], "prod": {"kind": "generate", "task": "summ", "context_tokens": 512},
                                 "cand": {"kind": "generate", "task": "summ", "stage": "candidate", "context_tokens": 512}},
              "tasks": {"summ": {"specialist": "prod", "shadow": "cand", "escalate_to": "frontier", "threshold": 0.9999,
                                 "promote": {"check_every_s": 0.5}}}}
    with running_gateway(strict, home) as gw:
        answer, route = ask(gw, texts[44])
        assert route == "escalated" and answer == ask(frontier, texts[44], model="big")[0]
        promote = run_cli("models", "promote", v2.ref, home=home)
        assert promote.returncode == 0, promote.stderr[-2000:]
        deadline = time.time() + 30
        while ready(gw)["generators"]["prod"] != "summ@v2" and time.time() < deadline:
            time.sleep(0.2)
        # The shadow stopped, and `prod`, which follows the production stage, switched to it live.
        assert ready(gw)["promoted"] == {"summ": "summ@v2"} and ready(gw)["generators"]["prod"] == "summ@v2"
        _, route = ask(gw, texts[45])
        assert route == "escalated"
    rows = [r for r in gw.ledger_rows() if r["route"] == "escalated"]
    assert [r["specialist"] for r in rows] == ["summ@v1", "summ@v2"] and all("< threshold 0.9999" in r["reason"] for r in rows)


def test_a_generative_shadow_is_bounded_and_its_verdicts_reach_the_row(tiny, tmp_path):
    """shadow_generative on a real llama.cpp backend and a real SQLite ledger, no server: a second
    request while the candidate's one engine is busy is not shadowed; a verdict is written once the
    answer is done, judged against the served text; a failed request stops its shadow."""
    import asyncio
    from types import SimpleNamespace

    from rightmodel.gateway import shadow_generative
    from rightmodel.gateway.ticket import Ticket
    from rightmodel.generative.backend import GenerativeBackend
    from rightmodel.ledger.shadow_outcomes import ShadowOutcomes
    from rightmodel.ledger.store import create_engine, migrate, requests
    import sqlalchemy as sa

    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    body = {"model": "summ", "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Ticket 1: late."}],
            "max_tokens": MAX_TOKENS, "temperature": 0}

    async def scenario():
        backend = GenerativeBackend("cand", tiny[1], concurrency=1, n_ctx=512, threads=1)
        backend.acceptance_threshold, backend.quality_bar = 0.0, "exact"
        state = SimpleNamespace(remotes={"cand": backend}, shadow_outcomes=ShadowOutcomes(engine), constellation=SimpleNamespace(tasks={}))
        try:
            served = (await backend.scored_chat(body))[0].body["choices"][0]["message"]["content"]
            tickets = [Ticket("/v1/chat/completions", task="summ") for _ in range(3)]
            shadow_generative.start(state, tickets[0], body, "cand")
            shadow_generative.start(state, tickets[1], body, "cand")  # its only engine is taken: not shadowed
            assert tickets[0].shadow_job is not None and tickets[1].shadow_name is None and state.shadow_outcomes.counts["busy"] == 1
            for t, text in ((tickets[0], served), (tickets[1], served)):
                t.served_text = text
            job = tickets[0].shadow_job.job
            shadow_generative.finish(state, tickets[0], 200)
            assert tickets[0].shadow_model == "cand" and tickets[0].shadow_job is None
            await asyncio.wait({job})
            shadow_generative.start(state, tickets[2], body, "cand")  # free again
            tickets[2].served_text = served + " and more"
            failed = tickets[2].shadow_job.job
            shadow_generative.finish(state, tickets[2], 499)  # the client left: its shadow stops
            await asyncio.wait({failed})
            assert failed.cancelled()
            with engine.begin() as conn:  # the rows arrive after the verdict is ready: it waits for them
                for t in (tickets[0], tickets[2]):
                    conn.execute(sa.insert(requests).values(
                        request_id=t.request_id, created_at=t.created_at, endpoint="/v1/chat/completions", route="remote", reason="r",
                        tokens_in=1, tokens_out=1, cached_tokens=0, escalated=False, stream=False, status=200, extra={}, shadow_model="cand"))
            assert await asyncio.to_thread(state.shadow_outcomes.flush, 10)
            return tickets, state.shadow_outcomes.counts
        finally:
            state.shadow_outcomes.close()
            await backend.aclose()

    tickets, counts = asyncio.run(scenario())
    with engine.connect() as conn:
        rows = {r.request_id: r for r in conn.execute(sa.select(requests))}
    first = rows[tickets[0].request_id]
    assert bool(first.shadow_agree) and bool(first.shadow_accepted) and 0 < first.shadow_confidence <= 1
    assert rows[tickets[2].request_id].shadow_agree is None  # nothing compared
    assert counts["written"] == 1 and counts["failed"] == 0
    engine.dispose()
