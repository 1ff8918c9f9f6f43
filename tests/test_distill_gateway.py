"""Distillation end to end, every part a real process: renting becomes owning.

- "Frontier": gateway B, serving the session's trained 4-intent specialist as an OpenAI-compatible
  chat model (it answers every request with its label).
- Gateway A: task `intent` with no specialist yet; every request goes to B, and A captures the
  (input, answer) pairs.
- `rightmodel distill intent` (the CLI, a subprocess) trains a candidate on the captures and scores
  its agreement with B on held-out captures.
- A restarts with the candidate in shadow mode and automatic promotion: it classifies live traffic
  without answering, the ledger records its agreement, and once agreement at its calibrated
  threshold reaches the target it is promoted in the registry and starts answering.
- The test asserts the route mix shifted to local answers and that the accepted answers still
  agree with the frontier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import httpx
import openai
import pytest
import sqlalchemy as sa

from conftest import INTENTS, banking_rows
from gateway_proc import running_gateway
from rightmodel.distill.store import CaptureStore

pytestmark = pytest.mark.slow


def chat(gw, text: str) -> tuple[str, str, dict]:
    client = openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)
    reply = client.chat.completions.create(model="intent", messages=[{"role": "user", "content": text}])
    meta = reply.model_extra["rightmodel"]
    return reply.choices[0].message.content, meta["route"], meta


def rows_of(ledger: str) -> list[dict]:
    engine = sa.create_engine(ledger)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM ledger_requests ORDER BY created_at"))]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def frontier(built, tmp_path_factory):
    home = tmp_path_factory.mktemp("frontier-b")
    config = {"models": {"intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version}},
              "tasks": {"intent": {"specialist": "intent-v", "threshold": 0.0}}}  # always answers: it is the frontier
    args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
    with running_gateway(config, home, extra_args=args) as gw:
        yield gw


def test_captured_frontier_traffic_becomes_a_specialist_that_takes_over(frontier, tmp_path):
    home = tmp_path / "a-home"
    captures_url = f"sqlite:///{tmp_path / 'captures.db'}"
    ledger = f"sqlite:///{tmp_path / 'ledger-a.db'}"
    remote = {"kind": "openai", "base_url": frontier.v1, "model": "intent", "api_key_env": "B_KEY", "timeout_s": 30,
              "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}}
    base = {"models": {"frontier": remote}, "defaults": {"frontier": "frontier", "retries": 0},
            "storage": {"captures_url": captures_url}}
    args = ("--home", str(home), "--journal-dir", str(tmp_path / "journal"), "--ledger-url", ledger)
    env = {"B_KEY": "sk-b"}

    # 1. No specialist yet: every request goes to the frontier and is captured.
    train = [t for t, _ in banking_rows("train", 100)]
    config = {**base, "tasks": {"intent": {"escalate_to": "frontier", "capture": {"retention_days": 30}}}}
    frontier_says: dict[str, str] = {}  # request id -> the answer the client got
    with running_gateway(config, tmp_path / "a1", extra_args=args, env=env) as gw:
        for text in train:
            answer, route, meta = chat(gw, text)
            assert route == "remote"
            frontier_says[meta["request_id"]] = answer
    assert set(frontier_says.values()) <= set(INTENTS)
    store = CaptureStore(captures_url)
    captured = store.fetch("intent")
    store.close()
    assert len(captured) == len(train) and {c.route for c in captured} == {"remote"}
    assert all(c.answer == frontier_says[c.request_id] for c in captured)
    # Kept as the frontier saw them: under the default redact policy, with placeholders.
    redacted = [c for c in captured if c.redacted]
    assert all("<" in c.input for c in redacted) and len(redacted) < len(captured) / 4

    # 2. Distill: a candidate trained on the captures, agreement measured on held-out captures.
    out = subprocess.run([sys.executable, "-m", "rightmodel.cli", "distill", "intent", "--home", str(home), "--captures-url", captures_url,
                          "--epochs", "3", "--target-agreement", "0.9"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "registered intent@v1" in out.stdout and "candidate" in out.stdout

    # 3. Shadow mode with automatic promotion, then the candidate answers.
    shadow = {**base, "models": {**base["models"], "intent-cand": {"kind": "specialist", "task": "intent", "stage": "candidate"}},
              "tasks": {"intent": {"escalate_to": "frontier", "shadow": "intent-cand", "capture": {},
                                   "promote": {"auto": True, "agreement": 0.9, "min_requests": 30, "check_every_s": 0.5}}}}
    test = [t for t, _ in banking_rows("test", 40)]
    later = [t for t, _ in banking_rows("train", 140)][len(train):]  # inputs neither captured nor shadowed
    routes_before, routes_after, agree = [], Counter(), []
    with running_gateway(shadow, tmp_path / "a2", extra_args=args, env=env) as gw:
        for text in test:
            _, route, meta = chat(gw, text)
            routes_before.append(route)
        deadline = time.time() + 60
        while time.time() < deadline:
            ready = httpx.get(f"{gw.url}/readyz", timeout=5).json()
            if ready["specialists"].get("intent-cand", "").endswith("@v1") and ready.get("promoted"):
                break
            time.sleep(0.5)
        assert ready.get("promoted") == {"intent": "intent@v1"}, ready
        for text in later:
            answer, route, meta = chat(gw, text)
            routes_after[route] += 1
            if route == "specialist":
                agree.append(answer == httpx.post(f"{frontier.v1}/chat/completions", json={"model": "intent", "messages": [
                    {"role": "user", "content": text}]}, timeout=30).json()["choices"][0]["message"]["content"])
    # In shadow mode the candidate never answers: every request before its promotion went to the
    # frontier (promotion may land while the test texts are still being sent, then it answers).
    first_local = routes_before.index("specialist") if "specialist" in routes_before else len(routes_before)
    assert first_local >= 30 and set(routes_before[:first_local]) == {"remote"}, routes_before
    rows = rows_of(ledger)
    shadowed = [r for r in rows if r["shadow_model"]]
    assert len(shadowed) >= first_local and all(r["shadow_model"] == "intent@v1" for r in shadowed)
    assert all(r["route"] == "remote" for r in shadowed)
    accepted = [r for r in shadowed if r["shadow_accepted"]]  # what promotion is judged on
    assert len(accepted) >= 30 and sum(bool(r["shadow_agree"]) for r in accepted) / len(accepted) >= 0.9
    # The route mix shifted: most traffic is now answered locally, and those answers still agree.
    assert routes_after["specialist"] / len(later) >= 0.5, routes_after
    assert sum(agree) / len(agree) >= 0.9, (sum(agree), len(agree))
    report = subprocess.run([sys.executable, "-m", "rightmodel.cli", "report", "--ledger-url", ledger, "--format", "json"],
                            capture_output=True, text=True, timeout=120)
    shadow_rows = json.loads(report.stdout)["shadow"]
    assert shadow_rows and shadow_rows[0]["candidate"] == "intent@v1" and shadow_rows[0]["compared"] >= first_local
