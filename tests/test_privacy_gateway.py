"""Proof that sensitive data stays inside: a real upstream process records every byte it receives.

Requests seeded with sensitive values in every place a chat request can carry text (system, user,
assistant and tool messages, tool-call arguments, multi-turn, unicode, values split across content
parts, JSON inside content, metadata, `user`) go through a real gateway process. Under `redact`
and `local-only` no seeded value may reach a non-local upstream in any encoding; under `redact`
the client gets the original values back (streams included); under `allow` they do reach it (so
the test can tell the policies apart). The ledger, journal and log are checked for values too.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
import urllib.parse
from pathlib import Path

import httpx
import openai
import pytest

from gateway_proc import running_gateway
from rightmodel.privacy.config import BUILTIN_ENTITIES
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

pytestmark = pytest.mark.slow

NEVER_ACCEPT = 1.000001
SEEDS = {
    "email": "maria.garcia@example.com",
    "split_email": "john.doe@example.com",
    "phone": "+1 415 555 0132",
    "card": "4539 1488 0343 6467",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ssn": "219-09-9999",
    "ip": "203.0.113.77",
    "person": "Jürgen Müller",
    "person2": "Maria García",
    "city": "München",
    "employee": "EMP-884213",  # a custom type from the constellation
    "codename": "Project Bluebird",  # a custom deny-list term
}


def forms(value: str) -> set[bytes]:
    """Every way a value can appear in a request body: UTF-8, JSON-escaped, and its pieces for split ones."""
    out = {value.encode(), json.dumps(value)[1:-1].encode(), json.dumps(value, ensure_ascii=False)[1:-1].encode()}
    if value == SEEDS["split_email"]:
        out |= {b"john.doe@exa", b"mple.com"}
    return out


def conversation() -> list[dict]:
    return [
        {"role": "system", "content": f"You help {SEEDS['person2']} ({SEEDS['email']}, phone {SEEDS['phone']})."},
        {"role": "user", "content": f"My card {SEEDS['card']} was charged twice (badge {SEEDS['employee']}, {SEEDS['codename'].lower()})."},
        {"role": "assistant", "content": "Sorry to hear that. Which account should the refund go to?",
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": json.dumps({"ssn": SEEDS["ssn"]})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"iban": SEEDS["iban"], "last_login_ip": SEEDS["ip"]})},
        {"role": "user", "content": [
            {"type": "text", "text": f"Send it to {SEEDS['iban']} for {SEEDS['person']} in {SEEDS['city']} 😀, or mail john.doe@exa"},
            {"type": "text", "text": "mple.com if that fails."},
        ]},
    ]


LAST_USER = f"Send it to {SEEDS['iban']} for {SEEDS['person']} in {SEEDS['city']} 😀, or mail john.doe@exa"


def body(model: str, **extra) -> dict:
    return {"model": model, "messages": conversation(), "user": SEEDS["email"], "metadata": {"note": f"caller {SEEDS['phone']}"}, **extra}


def leaked(records: list[dict], allowed_models: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(value name, upstream model) for every seeded value found in what the upstream received."""
    out = []
    for r in records:
        sent_model = (r["json"] or {}).get("model", "?")
        if sent_model in allowed_models:
            continue
        raw = r["body"] + json.dumps(r["headers"]).encode() + r["path"].encode()
        for name, value in SEEDS.items():
            if any(f in raw for f in forms(value)):
                out.append((name, sent_model))
    return out


@pytest.fixture(scope="module")
def stack(upstream, built, tmp_path_factory):  # noqa: F811
    from rightmodel.auth.keys import KeySpec
    from rightmodel.auth.store import KeyStore, resolve_keys_url

    home = tmp_path_factory.mktemp("gw-privacy")
    specialist_task = {"specialist": "intent-v", "escalate_to": "frontier", "threshold": NEVER_ACCEPT}
    config = {
        "models": {
            "intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version},
            "frontier": {"kind": "openai", "base_url": upstream.openai_base, "model": "up-frontier", "api_key_env": "PRIV_KEY"},
            "claude": {"kind": "anthropic", "base_url": upstream.url, "model": "claude-sonnet-4-20250514", "api_key_env": "PRIV_KEY"},
            "onprem": {"kind": "openai", "base_url": upstream.openai_base, "model": "up-onprem", "api_key_env": "PRIV_KEY", "local": True},
            "guarded": {"kind": "openai", "base_url": upstream.openai_base, "model": "up-guarded", "api_key_env": "PRIV_KEY", "fallbacks": ["onprem"]},
        },
        "tasks": {
            "intent": specialist_task,
            "intent-private": {**specialist_task, "privacy": "local-only"},
            "intent-open": {**specialist_task, "privacy": "allow"},
            "intent-strict": {**specialist_task, "privacy": "local-only", "privacy_strict": True},
        },
        "defaults": {"generalist": "frontier", "frontier": "gpt-4o", "retries": 0},
        "privacy": {"entities": list(BUILTIN_ENTITIES), "custom": [{"type": "EMPLOYEE_ID", "patterns": [r"\bEMP-\d{6}\b"]}, {"type": "CODENAME", "deny_list": ["Project Bluebird"]}]},
    }
    with KeyStore(resolve_keys_url(home)) as store:
        store.migrate()
        keys = {
            label: store.create(KeySpec(tenant=label, privacy=policy))[1]
            for label, policy in (("plain", None), ("strict", "local-only"), ("loose", "allow"))
        }
    args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}",
            "--keys-url", resolve_keys_url(home))
    with running_gateway(config, home, extra_args=args, env={"PRIV_KEY": "sk-up"}) as gw:
        yield gw, keys, home


def post(stack, payload: dict, key: str = "plain") -> httpx.Response:
    gw, keys, _ = stack
    return httpx.post(f"{gw.v1}/chat/completions", json=payload, headers={"Authorization": f"Bearer {keys[key]}"}, timeout=60)


def sdk(stack, key: str = "plain") -> openai.OpenAI:
    gw, keys, _ = stack
    return openai.OpenAI(base_url=gw.v1, api_key=keys[key], max_retries=0)


def test_redact_sends_placeholders_and_gives_the_client_its_values_back(stack, upstream):  # noqa: F811
    upstream.clear()
    r = post(stack, body("frontier"))
    assert r.status_code == 200, r.text
    answer = r.json()["choices"][0]["message"]["content"]
    assert answer.startswith("echo: " + LAST_USER.replace("john.doe@exa", "john.doe@example.com"))
    received = upstream.received()
    assert len(received) == 1 and leaked(received) == []
    sent = received[0]["json"]
    last = sent["messages"][-1]["content"]
    assert "<IBAN_CODE_1>" in last[0]["text"] and "<PERSON_" in last[0]["text"]
    assert sent["messages"][3]["content"].count("<IBAN_CODE_1>") == 1  # same value, same placeholder in every turn
    assert json.loads(sent["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"ssn": "<US_SSN_1>"}
    assert r.json()["rightmodel"]["route"] == "remote"


def test_redacted_stream_restores_values_across_chunks(stack, upstream):  # noqa: F811
    upstream.clear()
    chunks = list(sdk(stack).chat.completions.create(**body("frontier"), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("echo: " + LAST_USER.replace("john.doe@exa", "john.doe@example.com"))
    assert leaked(upstream.received()) == []


def test_anthropic_upstream_gets_placeholders_too(stack, upstream):  # noqa: F811
    upstream.clear()
    r = post(stack, {**body("claude"), "max_tokens": 200})
    assert r.status_code == 200, r.text
    assert SEEDS["person"] in r.json()["choices"][0]["message"]["content"]
    received = upstream.received()
    assert received and received[0]["path"].startswith("/v1/messages") and leaked(received) == []


def test_escalation_from_a_specialist_is_redacted(stack, upstream):  # noqa: F811
    upstream.clear()
    r = post(stack, body("intent"))
    assert r.status_code == 200, r.text
    assert r.json()["rightmodel"]["route"] == "escalated"
    assert SEEDS["city"] in r.json()["choices"][0]["message"]["content"]
    assert leaked(upstream.received()) == []


def test_local_only_refuses_what_only_a_remote_model_could_answer(stack, upstream):  # noqa: F811
    upstream.clear()
    r = post(stack, body("intent-private"))
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "sensitive_data_local_only" and err["param"] == "messages"
    assert "IBAN_CODE" in err["message"] and SEEDS["iban"] not in r.text
    assert upstream.received() == []
    # nothing sensitive: the same task escalates as usual
    clean = post(stack, {"model": "intent-private", "messages": [{"role": "user", "content": "my card has not arrived yet"}]})
    assert clean.status_code == 200 and clean.json()["rightmodel"]["route"] == "escalated"


def test_a_local_only_key_falls_back_to_a_local_model_or_is_refused(stack, upstream):  # noqa: F811
    upstream.clear()
    r = post(stack, body("guarded"), key="strict")  # guarded falls back to onprem (local: true)
    assert r.status_code == 200, r.text
    assert r.json()["rightmodel"]["model"] == "onprem"
    received = upstream.received()
    assert [x["json"]["model"] for x in received] == ["up-onprem"]  # the non-local primary was never called
    assert SEEDS["iban"] in received[0]["body"].decode()  # a local model sees the data as it is
    upstream.clear()
    refused = post(stack, body("frontier"), key="strict")
    assert refused.status_code == 403 and upstream.received() == []


def test_a_key_cannot_loosen_and_allow_really_allows(stack, upstream):  # noqa: F811
    upstream.clear()
    assert post(stack, body("frontier"), key="loose").status_code == 200  # key allow, default redact: redact wins
    assert leaked(upstream.received()) == []
    upstream.clear()
    assert post(stack, body("intent-open"), key="loose").status_code == 200  # task allow + key allow
    assert {name for name, _ in leaked(upstream.received())} >= {"email", "iban", "card", "person"}


def test_ledger_journal_and_log_keep_types_and_counts_never_values(stack, upstream):  # noqa: F811
    gw, _keys, home = stack
    r = post(stack, body("frontier"))
    rid = r.json()["rightmodel"]["request_id"]
    rows = {x["request_id"]: x for x in gw.ledger_rows(timeout=0)}
    for _ in range(100):
        if rid in rows:
            break
        import time

        time.sleep(0.1)
        rows = {x["request_id"]: x for x in gw.ledger_rows(timeout=0)}
    row = rows[rid]
    assert row["privacy_policy"] == "redact" and row["privacy_action"] == "redacted"
    counts = json.loads(row["pii_entities"])
    assert counts["IBAN_CODE"] >= 2 and counts["EMAIL_ADDRESS"] >= 2 and counts["CREDIT_CARD"] == 1
    assert counts["EMPLOYEE_ID"] == 1 and counts["CODENAME"] == 1
    refused = [x for x in rows.values() if x["status"] == 403 and x["privacy_action"] == "refused"]
    assert refused and all(x["privacy_policy"] == "local-only" for x in refused)
    # everything the gateway wrote (not the constellation file, which names the deny-list terms)
    stored = b"".join(p.read_bytes() for p in Path(home).rglob("*") if p.is_file() and not p.name.startswith("keys") and p.suffix not in (".yaml", ".yml"))
    stored += gw.log_text().encode()
    for name, value in SEEDS.items():
        assert not any(f in stored for f in forms(value) | {value.lower().encode()}), name


# -- structural bypasses: each sent values verbatim before (issue 16) ----------------------------

SECRET_EMAIL = "jane.roe@example.org"
SECRET_CARD = "4539148803436467"
SECRET_SSN = "219099999"
SECRET_PHONE = "4155550132"
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


def canonical(text: str) -> str:
    """What a reader of `text` sees, reduced for matching: JSON and percent escapes decoded, NFKC,
    invisible characters dropped, lower case, digit-group separators gone. Written independently
    of rightmodel's own normaliser, so a blind spot there is not repeated here."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = urllib.parse.unquote(text)
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower()
    return re.sub(r"(?<=\d)[ .\-](?=\d)", "", text)


def upstream_text(received: list[dict]) -> str:
    """Every string and key of every request the upstream saw, base64 data URLs decoded, concatenated."""
    out: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                out.append(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            m = re.match(r"data:[^,]*;base64,(.*)$", value, re.S)
            out.append(base64.b64decode(m.group(1)).decode("utf-8", "replace") if m else value)

    for r in received:
        walk(r["json"])
    return canonical("".join(out))


def user(text, **extra) -> dict:
    return {"role": "user", "content": text, **extra}


def data_url(text: str) -> str:
    return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()


BYPASSES = {
    "string starting with data:": ([user(f"data: write to {SECRET_EMAIL} now")], {}),
    "text data: URL": ([user([{"type": "text", "text": "What does this file say?"},
                              {"type": "file", "file": {"filename": "a.txt", "file_data": data_url(f"mail {SECRET_EMAIL}")}}])], {}),
    "metadata.id": ([user("hello")], {"metadata": {"id": SECRET_EMAIL}}),
    "keys named data, type, detail, pattern": ([user("hello")], {"metadata": {
        "data": f"ssn {SECRET_SSN[:3]}-{SECRET_SSN[3:5]}-{SECRET_SSN[5:]}", "type": "4539 1488 0343 6467",
        "detail": SECRET_EMAIL, "pattern": f"^{SECRET_EMAIL}$"}}),
    "tool call ids": ([user("look it up"),
                       {"role": "assistant", "content": None, "tool_calls": [
                           {"id": SECRET_EMAIL, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
                       {"role": "tool", "tool_call_id": SECRET_EMAIL, "content": "done"}], {}),
    "a dictionary key": ([user("hello")], {"metadata": {SECRET_EMAIL: "vip"}}),
    "a JSON-schema property name": ([user("fill it")], {"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {SECRET_EMAIL: {"type": "string"}}}}}}),
    "e-mail split across two messages": ([user("please mail me at jane.ro"), user("e@example.org thanks")], {}),
    "SSN split across two messages": ([user("my ssn is 219-09-"), user("9999 ok?")], {}),
    "zero-width space in a card": ([user("card 4539\u200b1488\u200b0343\u200b6467 please")], {}),
    "soft hyphen in an e-mail": ([user("write to jane\u00ad.roe@exam\u00adple.org")], {}),
    "fullwidth digits": ([user("card ４５３９ １４８８ ０３４３ ６４６７, ssn ２１９-０９-９９９９")], {}),
    "card written with dots": ([user("my card is 4539.1488.0343.6467")], {}),
    "JSON \\u escapes": ([user('{"email": "jane.roe\\u0040example.org", "card": "4539 1488 0343 6467"}')], {}),
}
SECRETS = (SECRET_EMAIL, SECRET_CARD, SECRET_SSN)


@pytest.mark.parametrize("case", list(BYPASSES))
def test_structural_bypasses_send_no_value(stack, upstream, case):  # noqa: F811
    messages, extra = BYPASSES[case]
    payload = {"model": "frontier", "messages": messages, **extra}
    upstream.clear()
    r = post(stack, payload)
    assert r.status_code == 200, r.text
    seen = upstream_text(upstream.received())
    assert seen, "the upstream was called"
    assert not [s for s in SECRETS if s in seen], (case, seen[:400])
    # local-only: the same request never reaches a non-local model
    upstream.clear()
    refused = post(stack, payload, key="strict")
    assert refused.status_code == 403, (case, refused.text)
    assert upstream.received() == []


def test_split_value_is_restored_in_the_answer(stack, upstream):  # noqa: F811
    upstream.clear()
    r = post(stack, {"model": "frontier", "messages": [user("mail jane.ro"), user("e@example.org")]})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"].startswith("echo: e@example.org")


def test_real_binary_payloads_pass_untouched(stack, upstream):  # noqa: F811
    png = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 4).decode()
    upstream.clear()
    r = post(stack, {"model": "frontier", "messages": [user([{"type": "text", "text": f"Describe this for {SECRET_EMAIL}"},
                                                             {"type": "image_url", "image_url": {"url": png, "detail": "low"}}])]})
    assert r.status_code == 200, r.text
    sent = upstream.received()[0]["json"]["messages"][0]["content"]
    assert sent[1] == {"type": "image_url", "image_url": {"url": png, "detail": "low"}}
    assert "<EMAIL_ADDRESS_1>" in sent[0]["text"]


def test_instruction_prompts_reach_the_model_unchanged(stack, upstream):  # noqa: F811
    prompts = ["Classify the following review as positive or negative: the battery died after a day.",
               "Summarize the text below in two sentences.", "Answer the question using only the context.",
               "Generate three subject lines for a newsletter about our spring sale.", "Translate to German: where is the station?"]
    upstream.clear()
    for prompt in prompts:
        assert post(stack, {"model": "frontier", "messages": [user(prompt)]}).status_code == 200
    assert [r["json"]["messages"][0]["content"] for r in upstream.received()] == prompts
