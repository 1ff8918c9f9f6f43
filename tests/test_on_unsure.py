"""`tasks.X.on_unsure: escalate | guess | error` through a real `rightmodel serve` process and the
openai SDK, with the shared tiny specialist (`built`) made unsure by a threshold above 1.

- escalate (default), nothing to escalate to: 200, empty content, route `escalation_unavailable`.
- guess: the label, marked unsure in the `rightmodel` field, `x-rightmodel-unsure` header and the
  ledger; never sent to the escalation target, even when the task has one.
- error: 503 `specialist_unsure` (OpenAI-shaped), not retried by the SDK, the guess in the body.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from gateway_proc import running_gateway
from upstream_server import running_upstream

NEVER_ACCEPT = 1.000001
TEXT = "My new card still hasn't arrived, when will it come?"
LABELS = {"card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"}


@pytest.fixture(scope="module")
def gw(built, tmp_path_factory):
    home = tmp_path_factory.mktemp("on-unsure")
    with running_upstream(reply="Card arrival.") as up:
        unsure = {"specialist": "intent-v", "threshold": NEVER_ACCEPT}
        config = {
            "models": {
                "intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version},
                "frontier": {"kind": "openai", "base_url": up.openai_base, "model": "up-frontier", "timeout_s": 10},
            },
            "tasks": {
                "t-escalate": unsure,  # the default; no generalist: nowhere to escalate
                "t-guess": {**unsure, "on_unsure": "guess"},
                "t-guess-with-target": {**unsure, "on_unsure": "guess", "escalate_to": "frontier"},
                "t-error": {**unsure, "on_unsure": "error"},
                "t-error-with-target": {**unsure, "on_unsure": "error", "escalate_to": "frontier"},
                "t-confident": {"specialist": "intent-v", "threshold": 0.0, "on_unsure": "guess"},
            },
            "defaults": {"retries": 0},
        }
        args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
        with running_gateway(config, home, extra_args=args) as gateway:
            gateway.upstream = up
            yield gateway


def client(gw, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="unused", **kw)


def ask(gw, model: str, **kw):
    return client(gw).chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": TEXT}], **kw)


def row_of(gw, request_id: str) -> dict:
    for _ in range(3):
        rows = {r["request_id"]: r for r in gw.ledger_rows()}
        if request_id in rows:
            return rows[request_id]
    return {r["request_id"]: r for r in gw.ledger_rows(expect=10_000, timeout=10)}[request_id]


def test_escalate_with_nowhere_to_escalate_is_an_empty_answer_as_before(gw):
    raw = ask(gw, "t-escalate")
    reply, meta = raw.parse(), raw.parse().model_extra["rightmodel"]
    assert raw.http_response.status_code == 200 and reply.choices[0].message.content == ""
    assert meta["route"] == "escalation_unavailable" and meta["status"] == "escalation_unavailable" and meta["unsure"] is False
    assert meta["best_guess"]["labels"][0] in LABELS
    assert "x-rightmodel-unsure" not in raw.headers


def test_guess_answers_with_the_label_marked_unsure(gw):
    for model in ("t-guess", "t-guess-with-target"):
        raw = ask(gw, model)
        reply = raw.parse()
        meta = reply.model_extra["rightmodel"]
        label = reply.choices[0].message.content
        assert label in LABELS, model
        assert meta["route"] == "specialist" and meta["unsure"] is True and meta["confidence"] < meta["threshold"] == NEVER_ACCEPT
        assert "on_unsure: guess" in meta["reason"]
        assert raw.headers["x-rightmodel-unsure"] == "true" and raw.headers["x-rightmodel-route"] == "specialist"
        row = row_of(gw, raw.headers["x-request-id"])
        assert (row["route"], row["status"], row["escalated"]) == ("specialist", 200, 0)
        assert '"unsure":true' in row["extra"].replace(" ", "") and label in row["labels"]
    # Streamed: the same label, the final chunk's rightmodel field marks it, the header too.
    with client(gw).chat.completions.with_streaming_response.create(
        model="t-guess", messages=[{"role": "user", "content": TEXT}], stream=True
    ) as resp:
        assert resp.headers["x-rightmodel-unsure"] == "true"
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == label
    assert chunks[-1].model_extra["rightmodel"]["unsure"] is True
    assert gw.upstream.received() == []  # a guess never goes to the escalation target


def test_a_confident_answer_is_not_marked_unsure(gw):
    raw = ask(gw, "t-confident")
    assert raw.parse().model_extra["rightmodel"]["unsure"] is False and "x-rightmodel-unsure" not in raw.headers


def test_error_is_a_503_specialist_unsure_that_the_sdk_does_not_retry(gw):
    for model in ("t-error", "t-error-with-target"):
        with pytest.raises(openai.InternalServerError) as caught:
            client(gw, max_retries=2).chat.completions.create(model=model, messages=[{"role": "user", "content": TEXT}])
        err = caught.value
        assert err.status_code == 503 and err.code == "specialist_unsure" and err.type == "service_unavailable"
        assert "on_unsure: error" in err.message and "not confident" in err.message
        assert err.response.headers["x-should-retry"] == "false"
        assert err.response.headers["x-rightmodel-route"] == "escalation_unavailable"
        body = err.response.json()
        assert body["rightmodel"]["status"] == "unsure" and body["rightmodel"]["best_guess"]["labels"][0] in LABELS
        rid = err.response.headers["x-request-id"]
        rows = [r for r in gw.ledger_rows() if r["request_id"] == rid] or [row_of(gw, rid)]
        assert len(rows) == 1 and (rows[0]["route"], rows[0]["status"]) == ("escalation_unavailable", 503)
    # One request, one ledger row: x-should-retry kept the SDK's two retries from happening.
    errors = [r for r in gw.ledger_rows() if r["status"] == 503]
    assert len(errors) == 2
    # Streaming asked for: the same error before any frame.
    resp = httpx.post(f"{gw.v1}/chat/completions", json={"model": "t-error", "stream": True, "messages": [{"role": "user", "content": TEXT}]},
                      timeout=30)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "specialist_unsure"
    assert gw.upstream.received() == []


def test_on_unsure_is_validated_in_the_constellation():
    from rightmodel.constellation.config import parse_constellation
    from rightmodel.errors import ConfigError

    def config(**task) -> dict:
        remote = {"kind": "openai", "base_url": "http://127.0.0.1:9", "model": "m"}
        return {"models": {"big": remote}, "tasks": {"t": {"escalate_to": "big", **task}}}

    assert parse_constellation(config(on_unsure="guess")).tasks["t"].on_unsure == "guess"
    assert parse_constellation(config()).tasks["t"].on_unsure == "escalate"
    with pytest.raises(ConfigError, match="on_unsure"):
        parse_constellation(config(on_unsure="shrug"))
