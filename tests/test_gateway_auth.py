"""API keys, limits and budgets, end to end: real `rightmodel serve` processes, the real openai SDK,
keys made with the real CLI or the key store, an upstream process (tests/upstream_server.py)
that answers slowly on command so requests are really in flight together.

Prices are chosen so a request's actual cost equals its reservation (input tokens free, and the
echoed answer is longer than max_tokens, so the upstream returns exactly max_tokens tokens):
how many requests a budget admits then does not depend on timing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest

from conftest import run_cli
from gateway_proc import Gateway, start_gateway, stop_gateway
from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

from rightmodel.auth import KeySpec, KeyStore
from rightmodel.auth.store import UnknownKey

pytestmark = pytest.mark.slow

ENV = {"AUTH_TEST_UPSTREAM_KEY": "sk-upstream-auth-test"}
OUT_PER_MTOK = 10.0
MAX_TOKENS = 100
COST = MAX_TOKENS * OUT_PER_MTOK / 1e6  # what every budgeted request here costs, reserved and actual
LONG = " ".join(f"w{i}" for i in range(2 * MAX_TOKENS))  # echoed back: truncated to MAX_TOKENS words
CAP = 1000  # defaults.max_tokens


def constellation(upstream, **defaults) -> dict:  # noqa: F811
    price = {"input_per_mtok": 0.0, "output_per_mtok": OUT_PER_MTOK}
    model = {"kind": "openai", "base_url": upstream.openai_base, "api_key_env": "AUTH_TEST_UPSTREAM_KEY", "price": price, "timeout_s": 20}
    return {
        "models": {"primary": model, "other": {**model, "model": "up-other"}},
        "defaults": {"retries": 0, "max_tokens": CAP, **defaults},
        "auth": {"refresh_s": 0.3},
    }


@dataclass
class Stack:
    gw: Gateway
    home: Path
    store: KeyStore
    keys: dict[str, str] = field(default_factory=dict)  # label -> secret
    ids: dict[str, str] = field(default_factory=dict)  # label -> key id
    open_status: int = 0
    open_admin_status: int = 0
    error_bodies: list[str] = field(default_factory=list)

    def add(self, label: str, spec: KeySpec) -> str:
        record, secret = self.store.create(spec)
        self.keys[label], self.ids[label] = secret, record.key_id
        return secret

    def client(self, label: str | None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gw.v1, api_key=self.keys[label] if label else "sk-none", max_retries=0)

    def post(self, body: dict, headers: dict | None = None) -> httpx.Response:
        r = httpx.post(f"{self.gw.v1}/chat/completions", json=body, headers=headers or {}, timeout=30)
        if r.status_code >= 400:
            self.error_bodies.append(r.text)
        return r


def chat(model: str = "primary", text: str = "hello", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def rows_of(stack: Stack, key_label: str, expect: int, timeout: float = 15.0) -> list[dict]:
    key_id = stack.ids[key_label]
    deadline = time.time() + timeout
    while True:
        rows = [r for r in stack.gw.ledger_rows(timeout=0) if json.loads(r["extra"]).get("key_id") == key_id]
        if len(rows) >= expect or time.time() > deadline:
            return rows
        time.sleep(0.1)


def row_by_id(stack: Stack, request_id: str) -> dict:
    assert wait_for(lambda: any(x["request_id"] == request_id for x in stack.gw.ledger_rows(timeout=0))), request_id
    return next(x for x in stack.gw.ledger_rows(timeout=0) if x["request_id"] == request_id)


@pytest.fixture(scope="module")
def stack(upstream, tmp_path_factory):  # noqa: F811
    """A gateway started on an empty key store (open), then given keys while it runs."""
    home = tmp_path_factory.mktemp("gw-auth")
    gw = start_gateway(constellation(upstream), home, extra_args=("--log-level", "debug"), env=ENV)
    store = KeyStore(f"sqlite:///{home / 'keys.db'}")
    s = Stack(gw, home, store)
    try:
        s.open_status = httpx.post(f"{gw.v1}/chat/completions", json=chat(), timeout=30).status_code
        s.open_admin_status = httpx.get(f"{gw.url}/admin/keys").status_code
        s.add("acme", KeySpec(tenant="acme", name="everything"))
        s.add("narrow", KeySpec(tenant="acme", models=["other"]))
        s.add("rpm", KeySpec(tenant="beta", rpm=2))
        s.add("tpm", KeySpec(tenant="beta", tpm=250))
        s.add("budget", KeySpec(tenant="gamma", budget_usd=10.5 * COST))
        s.add("restart", KeySpec(tenant="gamma", budget_usd=2.5 * COST, budget_period="monthly"))
        s.add("admin", KeySpec(tenant="ops", admin=True))
        assert wait_for(lambda: httpx.post(f"{gw.v1}/chat/completions", json=chat(), timeout=30).status_code == 401)
        # The gateway reloads keys on its own clock: closed (above) can come from a reload that saw
        # only the first keys. The admin key was added last; once it works, every key is loaded.
        assert wait_for(lambda: httpx.get(f"{gw.url}/admin/keys", headers=bearer(s.keys["admin"]), timeout=30).status_code == 200)
        yield s
    finally:
        stop_gateway(s.gw)
        store.close()


def test_open_until_the_first_key_exists_then_closed(stack):
    assert stack.open_status == 200
    assert stack.open_admin_status == 401  # an open gateway still has no open admin routes
    assert "holds no key, so this gateway is OPEN" in stack.gw.log_text()
    assert "the first key exists; requests now need a key" in stack.gw.log_text()


def test_no_wrong_or_malformed_key_is_401(stack):
    for headers in ({}, bearer("rm-000000000000-not-a-real-key"), {"Authorization": "Basic abc"}, bearer(stack.keys["acme"] + "x")):
        r_wrong = stack.post(chat(), headers)
        assert r_wrong.status_code == 401, headers
        assert r_wrong.json()["error"]["code"] == "invalid_api_key" and r_wrong.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        stack.client(None).chat.completions.create(**chat())
    assert stack.post(chat(), {"x-api-key": stack.keys["acme"]}).status_code == 200  # Anthropic-style header
    r = httpx.get(f"{stack.gw.v1}/models")
    assert r.status_code == 401
    row = row_by_id(stack, r_wrong.headers["x-request-id"])
    assert row["status"] == 401 and row["tenant"] is None and "invalid_api_key" in row["error"]


def test_a_valid_key_is_served_and_its_tenant_is_in_the_ledger(stack):
    reply = stack.client("acme").chat.completions.create(**chat(text="bonjour"))
    assert reply.choices[0].message.content == "echo: bonjour"
    row = row_by_id(stack, reply.model_extra["rightmodel"]["request_id"])
    assert row["tenant"] == "acme" and row["status"] == 200 and json.loads(row["extra"])["key_id"] == stack.ids["acme"]


def test_a_model_outside_the_keys_list_is_403_and_not_listed(stack):
    client = stack.client("narrow")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(**chat("primary"))
    assert refused.value.param == "model" and refused.value.code == "model_not_allowed"
    assert client.chat.completions.create(**chat("other")).choices[0].message.content == "echo: hello"
    assert [m.id for m in client.models.list()] == ["other"]
    # the embeddings encoder is listed to a key that may call /v1/embeddings, not to `narrow`
    assert {m.id for m in stack.client("acme").models.list()} == {"auto", "primary", "other", "all-MiniLM-L6-v2"}
    with pytest.raises(openai.PermissionDeniedError):  # an admin key manages keys, it does not spend
        stack.client("admin").chat.completions.create(**chat())


def test_requests_per_minute_limit_is_429_with_retry_after(stack):
    client = stack.client("rpm")
    for _ in range(2):
        client.chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(**chat())
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    stack.error_bodies.append(limited.value.response.text)


def test_tokens_per_minute_reserve_the_estimate_and_refund_the_rest(stack, upstream):  # noqa: F811
    client = stack.client("tpm")  # 250 tokens a minute; each request below is estimated at ~206
    for _ in range(2):  # the second fits only because the first gave back what it did not use (~200)
        client.chat.completions.create(**chat(), max_tokens=200)
    upstream.clear()
    upstream.set_fault("slow:2000", count=1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(client.chat.completions.create, **chat(), max_tokens=200)
        assert wait_for(lambda: len(upstream.received()) == 1)  # admitted: its estimate is taken
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(**chat(), max_tokens=200)
        assert in_flight.result().choices[0].message.content == "echo: hello"
    assert limited.value.code == "rate_limit_exceeded" and "tokens per minute" in limited.value.message
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    stack.error_bodies.append(limited.value.response.text)


def test_max_tokens_over_the_cap_is_400(stack):
    with pytest.raises(openai.BadRequestError) as refused:
        stack.client("acme").chat.completions.create(**chat(), max_tokens=CAP + 1)
    assert refused.value.param == "max_tokens"


def test_fifty_concurrent_requests_cannot_overspend_a_budget_of_ten(stack, upstream):  # noqa: F811
    upstream.set_fault("slow:1500", count=-1)  # every admitted request stays in flight a while
    client = openai.AsyncOpenAI(base_url=stack.gw.v1, api_key=stack.keys["budget"], max_retries=0, timeout=60)

    async def one():
        try:
            return await client.chat.completions.create(**chat(text=LONG), max_tokens=MAX_TOKENS)
        except openai.RateLimitError as exc:
            return exc

    async def burst():
        try:
            return await asyncio.gather(*(one() for _ in range(50)))
        finally:
            await client.close()

    try:
        results = asyncio.run(burst())
    finally:
        upstream.set_fault(None)
    answered = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(answered) == 10  # the budget fits 10 worst cases; each actually cost exactly that
    assert all(a.usage.completion_tokens == MAX_TOKENS for a in answered)
    assert {e.code for e in refused} == {"budget_exceeded"} and len(refused) == 40
    rows = rows_of(stack, "budget", 50)
    assert len(rows) == 50 and sum(r["status"] == 200 for r in rows) == 10
    spent = sum(r["cost_usd"] for r in rows)
    assert spent == pytest.approx(10 * COST) and spent <= 10.5 * COST
    with pytest.raises(openai.RateLimitError) as later:  # settled: still nothing left
        stack.client("budget").chat.completions.create(**chat(text=LONG), max_tokens=MAX_TOKENS)
    assert "used up" in later.value.message and later.value.response.headers.get("x-should-retry") == "false"


def test_admin_routes_need_an_admin_key(stack):
    url = f"{stack.gw.url}/admin/keys"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer(stack.keys["acme"])).status_code == 403
    assert httpx.post(url, json={"tenant": "x"}, headers=bearer(stack.keys["acme"])).status_code == 403
    admin = bearer(stack.keys["admin"])
    listing = httpx.get(url, headers=admin)
    assert listing.status_code == 200
    assert {k["id"] for k in listing.json()["data"]} >= set(stack.ids.values())
    assert not any(secret in listing.text for secret in stack.keys.values()) and "hash" not in listing.text
    bad = httpx.post(url, json={"tenant": "x", "rpm": 0}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rpm"
    made = httpx.post(url, json={"tenant": "epsilon", "models": ["primary"]}, headers=admin)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    secret, key_id = made.json()["key"], made.json()["id"]
    stack.keys["made-by-admin"], stack.ids["made-by-admin"] = secret, key_id
    assert stack.post(chat(), bearer(secret)).status_code == 200  # usable at once on this gateway
    revoked = httpx.post(f"{url}/{key_id}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert stack.post(chat(), bearer(secret)).status_code == 401  # refused at once
    assert httpx.post(f"{url}/nope/revoke", headers=admin).status_code == 404


def test_keys_cli_and_revocation_reach_a_running_gateway(stack):
    home = str(stack.home)
    made = run_cli("keys", "create", "--tenant", "delta", "--models", "primary,other", "--rpm", "100", "--home", home)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("rm-") and len(made.stdout.strip().splitlines()) == 1
    key_id = secret.split("-")[1]
    stack.keys["cli"], stack.ids["cli"] = secret, key_id
    assert wait_for(lambda: stack.post(chat(), bearer(secret)).status_code == 200)  # picked up without a restart
    listed = run_cli("keys", "list", "--json", "--home", home)
    assert listed.returncode == 0, listed.stderr
    records = {r["id"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert records[key_id]["tenant"] == "delta" and records[key_id]["models"] == ["primary", "other"]
    assert not any(s in listed.stdout for s in stack.keys.values()) and "hash" not in listed.stdout
    assert run_cli("keys", "list", "--home", home).returncode == 0  # the table
    revoked = run_cli("keys", "revoke", key_id, "--home", home)
    assert revoked.returncode == 0, revoked.stderr
    assert wait_for(lambda: stack.post(chat(), bearer(secret)).status_code == 401)  # revocation picked up too
    assert key_id not in run_cli("keys", "list", "--json", "--home", home).stdout  # --all shows revoked keys
    unknown = run_cli("keys", "revoke", "no-such-id", "--home", home)
    assert unknown.returncode == 2 and "no key with id" in unknown.stderr


def test_a_keys_privacy_policy_via_cli_and_admin_api(stack):
    """`privacy` is set by `keys create --privacy` and POST /admin/keys, shown by both listings,
    and a value other than local-only, redact or allow is refused naming the field."""
    home = str(stack.home)
    made = run_cli("keys", "create", "--tenant", "zeta", "--privacy", "local-only", "--json", "--home", home)
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    stack.keys["cli-private"], stack.ids["cli-private"] = created["key"], created["id"]
    assert created["privacy"] == "local-only"
    bad = run_cli("keys", "create", "--tenant", "zeta", "--privacy", "secret", "--home", home)
    assert bad.returncode == 2 and "--privacy" in bad.stderr and "local-only" in bad.stderr

    url, admin = f"{stack.gw.url}/admin/keys", bearer(stack.keys["admin"])
    posted = httpx.post(url, json={"tenant": "zeta", "privacy": "redact"}, headers=admin)
    assert posted.status_code == 201 and posted.json()["privacy"] == "redact"
    stack.keys["admin-private"], stack.ids["admin-private"] = posted.json()["key"], posted.json()["id"]
    for value in ("secret", "REDACT", 1):
        refused = httpx.post(url, json={"tenant": "zeta", "privacy": value}, headers=admin)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["param"] == "privacy" and "'privacy'" in error["message"] and "redact" in error["message"]

    listed = {k["id"]: k for k in httpx.get(url, headers=admin).json()["data"]}
    assert listed[stack.ids["cli-private"]]["privacy"] == "local-only"
    assert listed[stack.ids["admin-private"]]["privacy"] == "redact"
    assert listed[stack.ids["acme"]]["privacy"] is None  # made without one
    cli_listed = {r["id"]: r for r in map(json.loads, run_cli("keys", "list", "--json", "--home", home).stdout.splitlines())}
    assert cli_listed[stack.ids["admin-private"]]["privacy"] == "redact"
    table = run_cli("keys", "list", "--home", home)
    assert table.returncode == 0 and "privacy" in table.stdout
    line = next(x for x in table.stdout.splitlines() if stack.ids["cli-private"] in x)
    assert "local-only" in line


def _upgrade_a_0001_key_store(url: str) -> None:
    """A key store left by a release before `privacy` (schema 0001, one key) upgrades in place on
    migrate(): the old key is kept with no policy, new keys get theirs; downgrading keeps both."""
    from datetime import datetime, timezone

    import sqlalchemy as sa
    from alembic import command

    from rightmodel.auth import store as key_store
    from rightmodel.sqlite_engine import alembic_config, write

    def alembic(conn_engine, revision: str, downgrade: bool = False) -> None:
        cfg = alembic_config(key_store.MIGRATIONS_DIR)
        with write(conn_engine) as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if downgrade else command.upgrade)(cfg, revision)

    def version(conn_engine) -> list[str]:
        with conn_engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT version_num FROM {key_store.ALEMBIC_VERSION_TABLE}")).scalars().all()

    engine = key_store.create_engine(url)
    try:
        alembic(engine, "0001")
        old = {"key_id": "0123456789ab", "key_hash": "f" * 64, "tenant": "old", "name": "before privacy", "models": ["a"], "rpm": 3,
               "tpm": None, "budget_usd": 1.5, "budget_period": "monthly", "admin": False,
               "created_at": datetime(2025, 1, 2, tzinfo=timezone.utc), "revoked_at": None}
        with write(engine) as conn:
            conn.execute(sa.insert(key_store.keys_table).values(**old))
        with KeyStore(url) as store:
            store.migrate()
            (kept,) = store.list()
            assert (kept.key_id, kept.tenant, kept.models, kept.rpm, kept.budget_usd, kept.privacy) == (
                "0123456789ab", "old", ("a",), 3, 1.5, None)
            made, _ = store.create(KeySpec(tenant="new", privacy="local-only"))
            assert made.privacy == "local-only"
            assert {r.key_id: r.privacy for r in store.list()} == {"0123456789ab": None, made.key_id: "local-only"}
        assert version(engine) == ["0002"]
        alembic(engine, "0001", downgrade=True)
        assert version(engine) == ["0001"]
        with engine.connect() as conn:
            assert sorted(conn.execute(sa.text("SELECT key_id FROM auth_keys")).scalars()) == sorted(["0123456789ab", made.key_id])
        assert "privacy" not in {c["name"] for c in sa.inspect(engine).get_columns("auth_keys")}
    finally:
        engine.dispose()


def test_a_key_store_made_before_privacy_upgrades_in_place(tmp_path):
    _upgrade_a_0001_key_store(f"sqlite:///{tmp_path / 'keys.db'}")


def test_a_key_store_made_before_privacy_upgrades_in_place_on_postgresql(pg_url):  # noqa: F811
    _upgrade_a_0001_key_store(pg_url)


def test_budget_survives_a_restart_and_deadline_is_504(stack, upstream):  # noqa: F811
    client = stack.client("restart")
    streamed = list(client.chat.completions.create(**chat(text=LONG), max_tokens=MAX_TOKENS, stream=True))
    assert streamed[-1].choices[0].finish_reason == "length"
    client.chat.completions.create(**chat(text=LONG), max_tokens=MAX_TOKENS)
    with pytest.raises(openai.RateLimitError) as before:  # both settled (the stream too): 2 spent of 2.5
        client.chat.completions.create(**chat(text=LONG), max_tokens=MAX_TOKENS)
    assert "used up" in before.value.message
    stop_gateway(stack.gw, signal.SIGTERM)
    stack.gw = start_gateway(constellation(upstream, deadline_s=1.0), stack.home, extra_args=("--log-level", "debug"), env=ENV)
    with pytest.raises(openai.RateLimitError) as refused:  # 2 spent of 2.5: a third does not fit
        stack.client("restart").chat.completions.create(**chat(text=LONG), max_tokens=MAX_TOKENS)
    assert refused.value.code == "budget_exceeded"
    assert "renews at" in refused.value.message and int(refused.value.response.headers["Retry-After"]) >= 1  # monthly
    assert stack.post(chat(), bearer(stack.keys["acme"])).status_code == 200  # the keys are still there

    upstream.set_fault("slow:5000", count=1)
    r = stack.post(chat(), bearer(stack.keys["acme"]))
    assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"
    row = row_by_id(stack, r.headers["x-request-id"])
    assert row["status"] == 504 and row["tenant"] == "acme"


def test_no_secret_in_logs_ledger_journal_errors_or_key_store(stack, upstream):  # noqa: F811
    upstream.clear()
    stack.post(chat(), bearer(stack.keys["acme"]))
    secrets = list(stack.keys.values())
    assert len(secrets) >= 8
    show = run_cli("config", "show", str(next(stack.home.glob("constellation-*.yaml"))))
    assert show.returncode == 0
    haystacks = {
        "gateway logs": "".join(p.read_text(errors="replace") for p in stack.home.glob("gateway-*.log")),
        "ledger rows": repr(stack.gw.ledger_rows()),
        "journal": "".join(p.read_text(errors="replace") for p in (stack.home / "ledger-journal").glob("*") if p.is_file()),
        "error bodies": "\n".join(stack.error_bodies),
        "key store files": "".join(p.read_bytes().decode("latin-1") for p in stack.home.glob("keys.db*")),
        "config show": show.stdout + show.stderr,
        "requests to the upstream": repr(upstream.received()),
    }
    assert "DEBUG" in haystacks["gateway logs"]  # the logs were verbose, and still hold no key
    assert len(stack.error_bodies) >= 5
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a key leaked into the {where}"
            assert secret.split("-", 2)[2] not in text, f"a key's secret part leaked into the {where}"


def test_key_store_and_ledger_spend_on_postgresql(pg_url, tmp_path):  # noqa: F811
    """The SQL the gateway relies on, on the other supported database: keys, and a key's spend
    summed from the ledger's JSON `extra.key_id` (the dialects extract JSON differently)."""
    from datetime import datetime, timedelta, timezone

    from rightmodel.gateway.limits import ledger_spend
    from rightmodel.ledger import Ledger, LedgerRecord

    with KeyStore(pg_url) as store:
        store.migrate()
        store.migrate()  # idempotent
        record, secret = store.create(KeySpec(tenant="acme", models=["a"], rpm=5, budget_usd=1.0, budget_period="monthly"))
        assert [r.key_id for r in store.list()] == [record.key_id] and store.list()[0].models == ("a",)
        assert store.revoke(record.key_id).revoked_at is not None and store.list(include_revoked=False) == []
        with pytest.raises(UnknownKey):
            store.revoke("missing")

    now = datetime.now(timezone.utc)
    with Ledger(pg_url, tmp_path / "journal") as ledger:
        for i, (key_id, cost, age) in enumerate([("k1", 0.25, 0), ("k1", 0.5, 0), ("k2", 4.0, 0), ("k1", 8.0, 40)]):
            ledger.record(LedgerRecord(request_id=f"req_{i}", created_at=now - timedelta(days=age), tenant="acme", endpoint="/v1/chat/completions",
                                       route="remote", reason="test", cost_usd=cost, extra={"key_id": key_id}))
        assert ledger.flush()
    assert ledger_spend(pg_url, "acme", "k1", now - timedelta(days=1)) == pytest.approx(0.75)
    assert ledger_spend(pg_url, "acme", "k1", None) == pytest.approx(8.75)
    assert ledger_spend(pg_url, "other", "k1", None) == 0.0


def test_budget_periods_and_token_bucket_arithmetic():
    from datetime import datetime, timezone

    from rightmodel.gateway.limits import TokenBucket, period_end, period_start

    utc = timezone.utc
    now = datetime(2025, 12, 31, 23, 59, tzinfo=utc)
    assert period_start("monthly", now) == datetime(2025, 12, 1, tzinfo=utc)
    assert period_end("monthly", period_start("monthly", now)) == datetime(2026, 1, 1, tzinfo=utc)
    assert period_end("daily", period_start("daily", now)) == datetime(2026, 1, 1, tzinfo=utc)
    assert period_start("total", now) is None and period_end("total", None) is None
    bucket = TokenBucket(60, now=0.0)  # 60 a minute: one a second
    assert bucket.wait(500, 0.0) == 0.0  # more than the capacity is let through from a full bucket...
    bucket.take(500, 0.0)
    assert bucket.wait(1, 0.0) == pytest.approx(441.0)  # ...and repaid before anything else goes
    bucket.give(440, 0.0)  # it used only 60: the rest comes back
    assert bucket.wait(1, 0.0) == pytest.approx(1.0) and bucket.wait(1, 1.0) == 0.0
    bucket.give(10_000, 1.0)
    assert bucket.level == 60  # never above the capacity


def test_keys_list_shows_each_keys_budget_and_spend(tmp_path):
    """`keys list` sums each key's spend from the ledger the gateway writes (same URL resolution
    as `serve`): over the budget's current period for a daily or monthly budget, all time for a
    total budget or none; another tenant's rows never count. Without a ledger: no spend, no file made."""
    from datetime import datetime, timedelta, timezone

    from rightmodel.ledger import Ledger, LedgerRecord

    home = tmp_path / "home"
    home.mkdir()
    with KeyStore(f"sqlite:///{home / 'keys.db'}") as store:
        store.migrate()
        total, _ = store.create(KeySpec(tenant="acme", name="total", budget_usd=10.0))
        daily, _ = store.create(KeySpec(tenant="acme", name="daily", budget_usd=1.0, budget_period="daily"))
        open_, _ = store.create(KeySpec(tenant="beta", name="no budget"))
        idle, _ = store.create(KeySpec(tenant="acme", name="idle", budget_usd=5.0, budget_period="monthly"))
    empty = run_cli("keys", "list", "--json", "--home", str(home))
    assert empty.returncode == 0, empty.stderr
    assert all(r["spent_usd"] is None for r in map(json.loads, empty.stdout.splitlines()))
    assert "(no ledger)" in run_cli("keys", "list", "--home", str(home)).stdout and not (home / "ledger.db").exists()

    now = datetime.now(timezone.utc)
    spends = [(total, "acme", 0.25, 0), (total, "acme", 8.0, 40), (daily, "acme", 0.5, 0), (daily, "acme", 3.0, 2),
              (open_, "beta", 4.0, 0), (total, "other-tenant", 100.0, 0)]
    with Ledger(f"sqlite:///{home / 'ledger.db'}", tmp_path / "journal") as ledger:
        for i, (key, tenant, cost, age) in enumerate(spends):
            ledger.record(LedgerRecord(request_id=f"req_{i}", created_at=now - timedelta(days=age), tenant=tenant,
                                       endpoint="/v1/chat/completions", route="remote", reason="test", cost_usd=cost,
                                       extra={"key_id": key.key_id}))
        assert ledger.flush()
    listed = run_cli("keys", "list", "--json", "--home", str(home))
    assert listed.returncode == 0, listed.stderr
    got = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert got["total"]["spent_usd"] == pytest.approx(8.25) and got["total"]["budget_left_usd"] == pytest.approx(1.75)
    assert got["total"]["spent_since"] is None
    assert got["daily"]["spent_usd"] == pytest.approx(0.5) and got["daily"]["budget_left_usd"] == pytest.approx(0.5)
    assert got["daily"]["spent_since"] == now.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    assert got["no budget"]["spent_usd"] == pytest.approx(4.0) and got["no budget"]["budget_left_usd"] is None
    assert got["idle"]["spent_usd"] == 0 and got["idle"]["budget_left_usd"] == 5.0
    table = run_cli("keys", "list", "--home", str(home)).stdout
    for text in ("spent", "left", "$8.25", "$1.75", "$10.00 total", "$1.00 daily", "$0.50", "$4.00", "$5.00 monthly", "$0 "):
        assert text in table, (text, table)
