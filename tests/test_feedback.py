"""POST /v1/feedback on a real gateway, the verdicts it stores, and what `rightmodel report` makes
of them: accuracy per group and per specialist version, drift flags, --fail-on-drift; plus the
admin switch of /metrics and the dashboard data's access rules.

A real `rightmodel serve` (the session's trained 4-intent specialist) with keys required; its
frontier is tests/upstream_server.py answering every request "Card arrival." (a label of the
task, so an escalated answer can be judged too). Clients are the real `openai` SDK and httpx.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import openai
import pytest
import sqlalchemy as sa
import yaml

from gateway_proc import create_keys, running_gateway
from rightmodel.auth import KeySpec
from rightmodel.ledger.feedback import judge
from upstream_server import running_upstream

FRONTIER_ANSWER = "Card arrival."  # -> label card_arrival
TEXTS = {  # text -> its true label (all four intents of the test specialist)
    "My new card still hasn't arrived, when will it come?": "card_arrival",
    "What exchange rate do you use for euros to dollars?": "exchange_rate",
    "Someone stole my wallet with my card in it": "lost_or_stolen_card",
    "My top-up was declined, why did it fail?": "top_up_failed",
}


@pytest.fixture(scope="module")
def stack(built, tmp_path_factory):
    home = tmp_path_factory.mktemp("gw-feedback")
    keys_url = f"sqlite:///{home / 'keys.db'}"
    key_a, key_b, admin = create_keys(keys_url, KeySpec(tenant="acme"), KeySpec(tenant="globex"), KeySpec(tenant="ops", admin=True))
    with running_upstream(reply=FRONTIER_ANSWER) as up:
        remote = {"kind": "openai", "base_url": up.openai_base, "model": "up-frontier", "api_key_env": "FB_TEST_KEY",
                  "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}, "timeout_s": 10}
        config = {
            "models": {"intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version}, "frontier": remote},
            "tasks": {
                "intent": {"specialist": "intent-v", "escalate_to": "frontier", "threshold": 0.0,  # always answers locally
                           "drift": {"accuracy_min": 0.99, "min_feedback": 2, "escalation_rate_max": 0.5, "min_requests": 2}},
                "intent-esc": {"specialist": "intent-v", "escalate_to": "frontier", "threshold": 1.000001,  # always escalates
                               "capture": {}},  # keeps the prompts: judged escalations become router outcomes
            },
            "defaults": {"generalist": "frontier", "frontier": "frontier", "retries": 0, "local_fixed_cost_per_month": 30.0},
            "auth": {"mode": "required"},
            "observability": {"metrics": "admin"},
        }
        ledger, captures = f"sqlite:///{home / 'ledger.db'}", f"sqlite:///{home / 'captures.db'}"
        args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", ledger)
        env = {"FB_TEST_KEY": "sk-up", "RIGHTMODEL_KEYS_URL": keys_url, "RIGHTMODEL_CAPTURES_URL": captures}
        with running_gateway(config, home, extra_args=args, env=env) as gw:
            cfg_path = home / "constellation.yaml"
            cfg_path.write_text(yaml.safe_dump(config))
            yield {"gw": gw, "a": key_a, "b": key_b, "admin": admin, "ledger": ledger, "captures": captures, "config": cfg_path,
                   "home": built["home"]}


def ask(stack, model: str, text: str, key: str | None = None) -> tuple[str, str]:
    """(request id, answer text) of one chat completion through the real SDK."""
    client = openai.OpenAI(base_url=stack["gw"].v1, api_key=key or stack["a"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": text}])
    return raw.headers["x-request-id"], raw.parse().choices[0].message.content


def feedback(stack, body: dict | bytes, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or stack['a']}"} if key != "" else {}
    if isinstance(body, bytes):
        return httpx.post(f"{stack['gw'].v1}/feedback", content=body, headers={**headers, "content-type": "application/json"}, timeout=30)
    return httpx.post(f"{stack['gw'].v1}/feedback", json=body, headers=headers, timeout=30)


def ledger_row(stack, rid: str, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    while True:
        rows = {r["request_id"]: r for r in stack["gw"].ledger_rows()}
        if rid in rows or time.time() > deadline:
            return rows[rid]
        time.sleep(0.1)


def feedback_rows(stack) -> dict[str, dict]:
    engine = sa.create_engine(stack["ledger"])
    try:
        with engine.connect() as conn:
            return {r.request_id: dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM ledger_feedback"))}
    finally:
        engine.dispose()


def test_feedback_on_a_specialist_answer_is_judged_stored_and_replaced(stack):
    rid, answer = ask(stack, "intent", "My new card still hasn't arrived, when will it come?")
    right = feedback(stack, {"request_id": rid, "label": answer})
    assert right.status_code == 200, right.text
    body = right.json()
    assert body["object"] == "feedback" and body["route"] == "specialist" and body["specialist"].startswith("intent@")
    assert (body["correct"], body["specialist_correct"], body["replaced"]) == (True, True, False)
    other = next(label for label in TEXTS.values() if label != answer)
    wrong = feedback(stack, {"request_id": f"chatcmpl-{rid}", "label": other})  # the completion id works too
    assert wrong.status_code == 200, wrong.text
    assert (wrong.json()["correct"], wrong.json()["specialist_correct"], wrong.json()["replaced"]) == (False, False, True)
    stored = feedback_rows(stack)[rid]  # one row per request: the latest verdict counts
    assert json.loads(stored["labels"]) == [other] and stored["correct"] == 0 and stored["task"] == "intent"


def test_feedback_on_an_escalated_answer_judges_the_frontier_and_the_specialists_guess(stack):
    rid, answer = ask(stack, "intent-esc", "My new card still hasn't arrived, when will it come?")
    assert answer == FRONTIER_ANSWER
    row = ledger_row(stack, rid)
    assert row["route"] == "escalated" and json.loads(row["labels"]) == ["card_arrival"] and row["specialist"].startswith("intent@")
    guess = json.loads(row["extra"])["specialist"]["label"]
    r = feedback(stack, {"request_id": rid, "label": "card_arrival"})
    assert r.status_code == 200, r.text
    assert r.json()["correct"] is True  # the frontier's "Card arrival." is the label
    assert r.json()["specialist_correct"] is (guess == "card_arrival")
    score = feedback(stack, {"request_id": rid, "score": 0.25})  # a score later keeps the label and its verdicts
    assert score.status_code == 200, score.text
    assert (score.json()["score"], score.json()["labels"], score.json()["correct"]) == (0.25, ["card_arrival"], True)
    rid2, _ = ask(stack, "intent-esc", "What exchange rate do you use for euros to dollars?")
    only = feedback(stack, {"request_id": rid2, "score": 0.5})  # a score alone: no verdict
    assert only.status_code == 200 and only.json()["correct"] is None and only.json()["specialist_correct"] is None


def test_judged_escalations_are_outcome_rows_a_router_trains_on(stack, tmp_path):
    """`router outcomes` / `router train --from-ledger`: captured prompts joined with feedback. Each
    judged escalation gives the frontier's quality and the specialist's (its guess, judged)."""
    from conftest import run_cli

    # the client's truth: the real intent on ticket 2, card_arrival on tickets 0 and 1 (there the
    # frontier's constant answer is right and the specialist's guess mostly wrong): the frontier is
    # the stronger model overall, and every outcome (strong better, tie, weak better) occurs
    texts = {f"{text} (ticket {i})": label if i == 2 else "card_arrival" for i in range(3) for text, label in TEXTS.items()}
    guesses = {}
    for text, label in texts.items():
        rid, _ = ask(stack, "intent-esc", text)
        guesses[text] = json.loads(ledger_row(stack, rid)["extra"])["specialist"]["label"]
        assert feedback(stack, {"request_id": rid, "label": label}).status_code == 200
    urls = ("--ledger-url", stack["ledger"], "--captures-url", stack["captures"])
    out = tmp_path / "outcomes.jsonl"
    deadline = time.time() + 30
    while True:  # captures are written in the background
        r = run_cli("router", "outcomes", "intent-esc", "--out", str(out), *urls)
        assert r.returncode == 0, r.stderr
        rows = {row["prompt"]: row for row in map(json.loads, out.read_text().splitlines())}
        if all(t in rows for t in texts) or time.time() > deadline:
            break
        time.sleep(0.5)
    for text, label in texts.items():
        assert rows[text]["frontier"] == float(label == "card_arrival")  # it always answers "Card arrival."
        assert rows[text]["specialist"] == float(guesses[text] == label)
    home = tmp_path / "registry"
    r = run_cli("router", "train", "esc-router", "--from-ledger", "intent-esc", "--strong", "frontier", "--weak", "specialist",
                "--kind", "tfidf", "--folds", "3", "--home", str(home), *urls)
    assert r.returncode == 0, r.stderr
    assert "registered esc-router@v1" in r.stdout and "judged for both frontier and specialist" in r.stderr
    r = run_cli("router", "train", "esc-router", "--from-ledger", "intent-esc", "--strong", "gpt-9", "--weak", "specialist",
                "--home", str(home), *urls)
    assert r.returncode == 2 and "no judged prompts of task intent-esc for 'gpt-9'" in r.stderr and "Traceback" not in r.stderr


def test_a_relayed_completion_id_gets_a_404_that_points_to_the_request_id_header(stack):
    """An escalated answer keeps the remote model's completion id; the gateway's id is the
    x-request-id header, which the openai SDK exposes as ``completion._request_id``."""
    client = openai.OpenAI(base_url=stack["gw"].v1, api_key=stack["a"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="intent-esc", messages=[{"role": "user", "content": "My new card still hasn't arrived, when will it come?"}])
    completion = raw.parse()
    assert completion._request_id == raw.headers["x-request-id"]
    assert not completion.id.endswith(completion._request_id)  # relayed from the upstream
    miss = feedback(stack, {"request_id": completion.id, "correct": True})
    assert miss.status_code == 404 and miss.json()["error"]["code"] == "request_not_found"
    assert "x-request-id" in miss.json()["error"]["message"] and "_request_id" in miss.json()["error"]["message"]
    ok = feedback(stack, {"request_id": completion._request_id, "correct": True})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("body, status, param, code", [
    ({"label": "card_arrival"}, 400, "request_id", "missing_required_parameter"),
    ({"request_id": 7, "label": "card_arrival"}, 400, "request_id", "invalid_type"),
    ({"request_id": "req_x"}, 400, "label", "missing_required_parameter"),
    ({"request_id": "req_x", "label": "a", "comment": "hi"}, 400, "comment", "unknown_parameter"),
    ({"request_id": "req_x", "score": 1.5}, 400, "score", "invalid_value"),
    ({"request_id": "req_x", "score": "high"}, 400, "score", "invalid_type"),
    ({"request_id": "req_x", "correct": "yes"}, 400, "correct", "invalid_type"),
    ({"request_id": "req_x", "label": ""}, 400, "label", "invalid_type"),
    ({"request_id": "req_x", "label": "a", "labels": ["b"]}, 400, "labels", "invalid_value"),
    ({"request_id": "req_does_not_exist", "correct": True}, 404, "request_id", "request_not_found"),
])
def test_bad_feedback_is_a_clear_4xx_naming_the_field(stack, body, status, param, code):
    r = feedback(stack, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param and r.json()["error"]["code"] == code


def test_feedback_labels_keys_and_unanswered_requests(stack):
    rid, _ = ask(stack, "intent", "Someone stole my wallet with my card in it")
    r = feedback(stack, {"request_id": rid, "label": "not_a_label"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_label" and "card_arrival" in r.json()["error"]["message"]
    assert feedback(stack, {"request_id": rid, "labels": ["card_arrival", "exchange_rate"]}).status_code == 400  # single-label task
    assert feedback(stack, b'{"request_id": ', None).json()["error"]["code"] == "invalid_json"
    assert feedback(stack, {"request_id": rid, "correct": True}, key="").status_code == 401
    other_tenant = feedback(stack, {"request_id": rid, "correct": True}, key=stack["b"])
    assert other_tenant.status_code == 404  # another tenant's request is not found, not forbidden
    assert feedback(stack, {"request_id": rid, "correct": True}, key=stack["admin"]).status_code == 200
    refused = httpx.post(f"{stack['gw'].v1}/chat/completions", json={"model": "intent", "messages": []},
                         headers={"Authorization": f"Bearer {stack['a']}"}, timeout=30)
    assert refused.status_code == 400
    # Refused before its key was read, the row has no tenant: only an admin key can name it.
    r = feedback(stack, {"request_id": refused.headers["x-request-id"], "correct": True}, key=stack["admin"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "request_not_answered"


def report(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rightmodel.cli", "report", "--ledger-url", stack["ledger"], "--config",
                           str(stack["config"]), *args], capture_output=True, text=True, timeout=120)


def test_report_accuracy_versions_drift_and_fixed_cost(stack):
    # Two answers judged right, one wrong, on the always-local task: accuracy 2/3.
    verdicts = {}
    for text, truth in list(TEXTS.items())[:3]:
        rid, answer = ask(stack, "intent", text)
        assert feedback(stack, {"request_id": rid, "correct": answer == truth if len(verdicts) < 2 else False}).status_code == 200
        verdicts[rid] = answer == truth if len(verdicts) < 2 else False
    ledger_row(stack, rid)
    out = report(stack, "--format", "json", "--by", "task")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rows = feedback_rows(stack)
    by_task: dict[str, list] = {}
    for r in rows.values():
        if r["correct"] is not None:
            by_task.setdefault(r["task"], []).append(bool(r["correct"]))
    groups = {g["group"]: g for g in data["groups"]}
    for task, got in by_task.items():  # every group's accuracy is its verdicts' mean
        assert groups[task]["feedback"] == len(got)
        assert groups[task]["accuracy"] == round(sum(got) / len(got), 6)
    everything = [v for got in by_task.values() for v in got]
    assert data["total"]["feedback"] == len(everything) and data["total"]["accuracy"] == round(sum(everything) / len(everything), 6)
    assert data["total"]["fixed_cost_usd"] > 0 and data["fixed_cost_per_month"] == 30.0
    assert data["total"]["savings_usd"] == pytest.approx(
        data["total"]["counterfactual_cost_usd"] - data["total"]["cost_usd"] - data["total"]["fixed_cost_usd"], abs=1e-8)
    intent = next(v for v in data["versions"] if v["task"] == "intent")
    assert intent["escalated"] == 0 and intent["consulted"] == intent["answered"] >= 5
    assert intent["accepted_feedback"] >= 3 and intent["accepted_accuracy"] < 0.99
    esc = next(v for v in data["versions"] if v["task"] == "intent-esc")
    assert esc["escalation_rate"] == 1.0 and esc["escalated_feedback"] >= 1
    # The band of `intent` (accuracy >= 0.99 once 2 verdicts exist) is broken; intent-esc has no band.
    assert [(f["task"], f["metric"]) for f in data["drift"]] == [("intent", "accuracy")]
    # With the registry at hand (--home), each version is also held to the target its threshold
    # promised (its card): 99% is refuted by the verdicts of `intent` too.
    promised = json.loads(report(stack, "--format", "json", "--home", str(stack["home"])).stdout)
    assert [(f["task"], f["metric"]) for f in promised["drift"]] == [("intent", "accuracy"), ("intent", "accuracy_vs_target")]
    assert promised["drift"][1]["band"] == [0.99, None]
    table = report(stack, "--fail-on-drift")
    assert table.returncode == 3 and "DRIFT" in table.stdout and "specialist versions" in table.stdout
    by_version = json.loads(report(stack, "--format", "json", "--by", "version").stdout)
    assert {g["group"] for g in by_version["groups"]} >= {intent["specialist"]}


def test_judge_compares_label_sets():
    row = {"route": "specialist", "specialist": "t@v1", "labels": ["a", "b"], "extra": {}}
    assert judge(row, ["b", "a"], None) == (True, True)
    assert judge(row, ["a"], None) == (False, False)
    assert judge(row, None, True) == (True, True)  # a bare verdict on the specialist's own answer
    escalated = {"route": "escalated", "specialist": "t@v1", "labels": None, "extra": {"specialist": {"label": "a"}}}
    assert judge(escalated, ["a"], None) == (None, True)  # free-text frontier answer: cannot tell; the guess was right
    remote = {"route": "remote", "specialist": None, "labels": None, "extra": {}}
    assert judge(remote, ["a"], None) == (None, None) and judge(remote, None, False) == (False, None)


def test_metrics_and_dashboard_data_need_an_admin_key_when_configured(stack):
    url = stack["gw"].url
    assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {stack['a']}"}, timeout=10).status_code == 403
    scraped = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {stack['admin']}"}, timeout=10)
    assert scraped.status_code == 200 and 'rightmodel_feedback_total{task="intent"' in scraped.text
    assert httpx.get(f"{url}/dashboard/data", timeout=10).status_code == 401
    assert httpx.get(f"{url}/dashboard/data", headers={"Authorization": f"Bearer {stack['b']}"}, timeout=10).status_code == 403
    bad = httpx.get(f"{url}/dashboard/data?since=yesterday", headers={"Authorization": f"Bearer {stack['admin']}"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"
    data = httpx.get(f"{url}/dashboard/data?since=all", headers={"Authorization": f"Bearer {stack['admin']}"}, timeout=30)
    assert data.status_code == 200, data.text
    body = data.json()
    assert body["total"]["requests"] >= 5 and body["series"] and "specialist" in body["routes"]
    assert sum(body["routes"]["specialist"]) == sum(1 for r in stack["gw"].ledger_rows() if r["route"] == "specialist")
    page = httpx.get(f"{url}/dashboard", timeout=10)  # the page itself holds no data: open
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
