"""The gateway end to end: real `rightmodel serve` processes on loopback, the real openai SDK.

The "frontier" tier is a second rightmodel gateway process (serving the same specialist as an
OpenAI-compatible chat model), so escalation crosses a real HTTP hop with no fake in between.
Thresholds are set per task in the constellation to force each route deterministically.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import openai
import pytest

from gateway_proc import running_gateway, start_gateway, stop_gateway

pytestmark = pytest.mark.slow

SYSTEM = "You classify banking customer messages. Answer with the intent label only."
ALWAYS_ACCEPT, NEVER_ACCEPT = 0.0, 1.000001


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_files):
    """A home with task `intent` in production (trained on the tiny Banking77 slice)."""
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.train import TrainConfig

    home = tmp_path_factory.mktemp("gwhome")
    with Registry(home) as registry:
        version = build_specialist(
            BuildRequest(task="intent", train_path=tiny_files["train"], eval_path=tiny_files["eval"], calibration_mode="split",
                         config=TrainConfig(epochs=3, batch_size=16)),
            registry,
            log=lambda m: None,
        )
        registry.promote(version.ref)
    return home


@pytest.fixture(scope="module")
def frontier(served, tmp_path_factory):
    """Gateway B: the upstream 'frontier' — serves task intent, always answering locally."""
    config = {
        "models": {"intent-v": {"kind": "specialist", "task": "intent"}},
        "tasks": {"intent": {"specialist": "intent-v", "threshold": ALWAYS_ACCEPT}},
        "storage": {"home": str(served)},
    }
    with running_gateway(config, tmp_path_factory.mktemp("frontier"), extra_args=("--home", str(served))) as gw:
        yield gw


def constellation(served: Path, frontier_url: str, threshold: float, **task_extra) -> dict:
    return {
        "models": {
            "intent-v": {"kind": "specialist", "task": "intent"},
            "big": {"kind": "openai", "base_url": frontier_url, "model": "intent", "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}},
        },
        "tasks": {
            "intent": {
                "specialist": "intent-v",
                "escalate_to": "big",
                "threshold": threshold,
                "recognise": {
                    "system_prompts": ["You classify banking customer messages. {anything}"],
                    "examples": ["my new card has not arrived yet", "what exchange rate do you use"],
                    "similarity": 0.6,
                },
                **task_extra,
            }
        },
        "defaults": {"generalist": "big", "frontier": "big", "retries": 1, "backoff_s": 0.05},
        "storage": {"home": str(served)},
    }


def gateway_a(served: Path, frontier, home: Path, threshold: float):
    """Gateway A in front of B, with its own journal and ledger (B shares the registry home)."""
    args = ("--home", str(served), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    return running_gateway(constellation(served, frontier.v1, threshold), home, extra_args=args)


@pytest.fixture(scope="module")
def local_first(served, frontier, tmp_path_factory):
    """Gateway A with a threshold every answer passes: the specialist answers."""
    with gateway_a(served, frontier, tmp_path_factory.mktemp("gw-a"), ALWAYS_ACCEPT) as gw:
        yield gw


@pytest.fixture(scope="module")
def escalating(served, frontier, tmp_path_factory):
    """Gateway A with a threshold no answer passes: every task request escalates to B."""
    with gateway_a(served, frontier, tmp_path_factory.mktemp("gw-esc"), NEVER_ACCEPT) as gw:
        yield gw


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="sk-test", max_retries=0)


def test_specialist_answers_through_the_openai_sdk(local_first):
    from conftest import INTENTS

    raw = client(local_first).chat.completions.with_raw_response.create(
        model="intent", messages=[{"role": "user", "content": "My card still hasn't arrived after two weeks"}]
    )
    reply = raw.parse()
    assert reply.choices[0].message.content in INTENTS
    assert reply.choices[0].finish_reason == "stop"
    meta = reply.model_extra["rightmodel"]
    assert meta["route"] == "specialist" and meta["model"] == "intent@v1" and 0 <= meta["confidence"] <= 1
    assert "confidence" in meta["reason"] and "threshold" in meta["reason"]
    assert raw.headers["x-rightmodel-route"] == "specialist"
    assert raw.headers["x-rightmodel-model"] == "intent@v1"
    assert float(raw.headers["x-rightmodel-cost-usd"]) > 0  # local compute is never free
    assert reply.usage.prompt_tokens > 0


def test_json_answer_when_response_format_asks(local_first):
    import json

    reply = client(local_first).chat.completions.create(
        model="intent", messages=[{"role": "user", "content": "what is the exchange rate today"}], response_format={"type": "json_object"}
    )
    parsed = json.loads(reply.choices[0].message.content)
    assert set(parsed) == {"label", "confidence"}


def test_async_and_streaming_clients(local_first):
    async def run():
        async with openai.AsyncOpenAI(base_url=local_first.v1, api_key="sk-test", max_retries=0) as aclient:
            replies = await asyncio.gather(
                *(aclient.chat.completions.create(model="intent", messages=[{"role": "user", "content": f"top up failed again {i}"}]) for i in range(20))
            )
            stream = await aclient.chat.completions.create(
                model="intent", messages=[{"role": "user", "content": "I lost my card"}], stream=True, stream_options={"include_usage": True}
            )
            chunks = [c async for c in stream]
            return replies, chunks

    replies, chunks = asyncio.run(run())
    assert all(r.model_extra["rightmodel"]["route"] == "specialist" for r in replies)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    sync_chunks = list(client(local_first).chat.completions.create(model="intent", messages=[{"role": "user", "content": "exchange rate?"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in sync_chunks if c.choices)


def test_auto_recognises_the_task(local_first):
    c = client(local_first)
    by_metadata = c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "card not here"}], metadata={"task": "intent"})
    assert by_metadata.model_extra["rightmodel"]["route"] == "specialist"
    assert "metadata.task" in by_metadata.model_extra["rightmodel"]["reason"]
    by_template = c.chat.completions.create(
        model="auto", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "card not here"}]
    )
    assert "template" in by_template.model_extra["rightmodel"]["reason"]
    by_header = c.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "card not here"}], extra_headers={"x-rightmodel-task": "intent"}
    )
    assert by_header.model_extra["rightmodel"]["task"] == "intent"
    by_example = c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "When will my new card get here?"}])
    assert by_example.model_extra["rightmodel"]["task"] == "intent"
    assert "similar to an example" in by_example.model_extra["rightmodel"]["reason"]
    unmatched = c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "write me a poem about the sea"}])
    assert unmatched.model_extra["rightmodel"]["route"] == "remote"
    assert unmatched.model_extra["rightmodel"]["model"] == "big"


def test_low_confidence_escalates_to_the_frontier_process(escalating):
    raw = client(escalating).chat.completions.with_raw_response.create(
        model="intent", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "My card still hasn't arrived"}]
    )
    reply = raw.parse()
    meta = reply.model_extra["rightmodel"]
    assert meta["route"] == "escalated" and meta["model"] == "big"
    assert "escalated to big" in meta["reason"]
    assert raw.headers["x-rightmodel-route"] == "escalated"
    # the upstream (gateway B) answered with its own specialist; its usage is what we priced
    assert reply.choices[0].message.content
    assert meta["cost_usd"] > 0
    stream = client(escalating).chat.completions.create(
        model="intent", messages=[{"role": "user", "content": "exchange rate please"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    rows = escalating.ledger_rows(expect=2)
    escalated = [r for r in rows if r["route"] == "escalated"]
    assert len(escalated) >= 2 and all(r["escalated"] for r in escalated)
    assert all(r["cost_usd"] > 0 and r["counterfactual_cost_usd"] > 0 for r in escalated)


def test_models_embeddings_and_classify(local_first):
    c = client(local_first)
    ids = [m.id for m in c.models.list()]
    assert {"auto", "intent", "intent-v", "big", "all-MiniLM-L6-v2"} <= set(ids)
    emb = c.embeddings.create(model="all-MiniLM-L6-v2", input=["card arrival", "exchange rates"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384
    norm = sum(x * x for x in emb.data[0].embedding) ** 0.5
    assert abs(norm - 1) < 1e-3
    r = httpx.post(f"{local_first.v1}/classify", json={"model": "intent", "input": ["I lost my card", "top up failed"], "top_k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "intent@v1" and len(body["data"]) == 2 and len(body["data"][0]["top_k"]) == 2
    assert httpx.get(f"{local_first.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{local_first.url}/readyz").json()["specialists"] == {"intent-v": "intent@v1"}


BAD_REQUESTS = [
    ("malformed JSON", b"{not json", 400, None),
    ("unknown model", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
    ("missing model", {"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
    ("empty messages", {"model": "intent", "messages": []}, 400, "messages"),
    ("messages not a list", {"model": "intent", "messages": "hi"}, 400, "messages"),
    ("bad role", {"model": "intent", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages.0.role"),
    ("content wrong type", {"model": "intent", "messages": [{"role": "user", "content": 5}]}, 400, "messages.0.content"),
    ("temperature string", {"model": "intent", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, 400, "temperature"),
    ("stream not bool", {"model": "intent", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, 400, "stream"),
    ("n on a specialist", {"model": "intent-v", "messages": [{"role": "user", "content": "x"}], "n": 3}, 400, "n"),
    ("unknown task in metadata", {"model": "auto", "messages": [{"role": "user", "content": "x"}], "metadata": {"task": "zzz"}}, 400, "metadata.task"),
]


@pytest.mark.parametrize("name,body,status,param", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_gets_an_openai_shaped_4xx(local_first, name, body, status, param):
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else {"json": body}
    r = httpx.post(f"{local_first.v1}/chat/completions", **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and error["type"]
    assert error["param"] == param
    request_id = r.headers["x-request-id"]
    rows = {row["request_id"]: row for row in local_first.ledger_rows(timeout=5)}
    deadline = __import__("time").time() + 10
    while request_id not in rows and __import__("time").time() < deadline:
        rows = {row["request_id"]: row for row in local_first.ledger_rows(timeout=1)}
    assert rows[request_id]["status"] == status and rows[request_id]["error"]


def test_body_over_the_limit_is_refused_with_413(local_first):
    big = b'{"model": "intent", "messages": [{"role": "user", "content": "' + b"x" * (5 * 1024 * 1024) + b'"}]}'
    r = httpx.post(f"{local_first.v1}/chat/completions", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_the_sdk_raises_typed_errors(local_first):
    with pytest.raises(openai.NotFoundError) as info:
        client(local_first).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert "nope" in str(info.value)


def test_ledger_survives_sigkill(served, frontier, tmp_path):
    """Answered requests are journaled before the answer is sent: a SIGKILL right after loses none."""
    home = tmp_path / "gw"
    args = ("--home", str(served), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    gw = start_gateway(constellation(served, frontier.v1, ALWAYS_ACCEPT), home, extra_args=args)
    gw.home = home
    ids = []
    try:
        c = client(gw)
        for i in range(30):
            ids.append(c.chat.completions.create(model="intent", messages=[{"role": "user", "content": f"card {i}"}]).model_extra["rightmodel"]["request_id"])
    finally:
        stop_gateway(gw, signal.SIGKILL)
    restarted = start_gateway(constellation(served, frontier.v1, ALWAYS_ACCEPT), home, extra_args=args)
    restarted.home = home
    try:
        rows = restarted.ledger_rows(expect=30)
        found = [r["request_id"] for r in rows]
        assert set(ids) <= set(found)
        assert len(found) == len(set(found))  # no duplicates
    finally:
        stop_gateway(restarted)


def test_no_escalation_target_is_never_silent(served, tmp_path):
    """Below threshold with no frontier configured: empty answer, route escalation_unavailable,
    the specialist's best guess in the rightmodel field."""
    home = tmp_path / "gw"
    config = {
        "models": {"intent-v": {"kind": "specialist", "task": "intent"}},
        "tasks": {"intent": {"specialist": "intent-v", "threshold": NEVER_ACCEPT}},
    }
    args = ("--home", str(served), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(config, home, extra_args=args) as gw:
        gw.home = home
        raw = client(gw).chat.completions.with_raw_response.create(model="intent", messages=[{"role": "user", "content": "card lost"}])
        reply = raw.parse()
        meta = reply.model_extra["rightmodel"]
        assert reply.choices[0].message.content == ""
        assert meta["route"] == "escalation_unavailable" and meta["status"] == "escalation_unavailable"
        assert meta["best_guess"]["labels"] and 0 <= meta["best_guess"]["confidence"] <= 1
        assert raw.headers["x-rightmodel-route"] == "escalation_unavailable"
        chunks = list(client(gw).chat.completions.create(model="intent", messages=[{"role": "user", "content": "card lost"}], stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ""
        assert chunks[-1].model_extra["rightmodel"]["status"] == "escalation_unavailable"
        # a specialist named directly always answers
        direct = client(gw).chat.completions.create(model="intent-v", messages=[{"role": "user", "content": "card lost"}])
        assert direct.choices[0].message.content and direct.model_extra["rightmodel"]["route"] == "specialist"
        rows = gw.ledger_rows(expect=3)
        assert [r["route"] for r in rows] == ["escalation_unavailable", "escalation_unavailable", "specialist"]


def test_serve_without_a_config_serves_every_production_task(served, tmp_path):
    home = tmp_path / "gw"
    args = ("--home", str(served), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(None, home, extra_args=args) as gw:
        ids = [m.id for m in client(gw).models.list()]
        assert "intent" in ids
        reply = client(gw).chat.completions.create(model="intent", messages=[{"role": "user", "content": "where is my card"}])
        assert reply.model_extra["rightmodel"]["route"] in ("specialist", "escalation_unavailable")


def test_a_missing_specialist_stops_startup_with_one_clear_line(served, tmp_path):
    from conftest import run_cli
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"models": {"x": {"kind": "specialist", "task": "ghost"}}, "tasks": {"ghost": {"specialist": "x"}}}))
    result = run_cli("serve", "--config", str(path), "--home", str(served), "--port", "0", timeout=60)
    assert result.returncode == 2
    assert "models.x" in result.stderr and "ghost" in result.stderr and "Traceback" not in result.stderr


def test_novelty_gate_escalates_what_the_specialist_never_saw(served, frontier, tmp_path):
    """tasks.intent.novelty: a request unlike every training text escalates even though the
    threshold accepts every answer; one like them is answered locally. Both rows carry the
    similarity and the gate."""
    home = tmp_path / "gw-novel"
    home.mkdir()
    config = constellation(served, frontier.v1, ALWAYS_ACCEPT, novelty=0.1)
    args = ("--home", str(served), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(config, home, extra_args=args) as gw:
        c = client(gw)
        familiar = c.chat.completions.create(model="intent", messages=[{"role": "user", "content": "My new card still hasn't arrived"}])
        assert familiar.model_extra["rightmodel"]["route"] == "specialist"
        novel = c.chat.completions.create(
            model="intent", messages=[{"role": "user", "content": "Write a haiku about garbage collection in the JVM"}])
        meta = novel.model_extra["rightmodel"]
        assert meta["route"] == "escalated" and meta["model"] == "big"
        assert "unlike its training texts" in meta["reason"] and "escalated to big" in meta["reason"]
        rows = gw.ledger_rows(expect=2)
        seen = [json.loads(r["extra"])["novelty"] for r in rows]
        assert seen[0]["similarity"] >= seen[0]["gate"] > seen[1]["similarity"]
        assert all(s["share"] == 0.1 for s in seen)
