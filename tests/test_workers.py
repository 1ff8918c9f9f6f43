"""`rightmodel serve --workers 2`, end to end: real gateway processes sharing one port, the real
openai SDK and raw HTTP as clients, an upstream process (tests/upstream_server.py), real SQLite and
PostgreSQL for the shared limits, real ONNX Runtime for the specialist being promoted.

Prices make a request's actual cost equal its reservation (input tokens free, the echoed answer
longer than max_tokens), so how many requests a budget admits does not depend on timing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import run_cli
from cpu_specialist import register_cpu_specialist
from gateway_proc import Gateway, create_keys, start_gateway, stop_gateway
from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

from rightmodel.auth import KeySpec

pytestmark = pytest.mark.slow

ENV = {"WORKERS_TEST_UPSTREAM_KEY": "sk-upstream-workers-test"}
OUT_PER_MTOK = 10.0
MAX_TOKENS = 100
COST = MAX_TOKENS * OUT_PER_MTOK / 1e6
LONG = " ".join(f"w{i}" for i in range(2 * MAX_TOKENS))
DRAIN_S = 2.0
RPM = 40


def constellation(upstream) -> dict:  # noqa: F811
    price = {"input_per_mtok": 0.0, "output_per_mtok": OUT_PER_MTOK}
    model = {"kind": "openai", "base_url": upstream.openai_base, "api_key_env": "WORKERS_TEST_UPSTREAM_KEY", "price": price, "timeout_s": 20}
    return {"models": {"primary": model}, "defaults": {"retries": 0, "max_tokens": 1000, "drain_s": DRAIN_S}, "auth": {"refresh_s": 0.3}}


def chat(text: str = "hello", model: str = "primary", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def start_workers(config: dict | None, home: Path, extra: tuple[str, ...] = (), workers: int = 2) -> Gateway:
    """`serve --workers N`, returned once every worker answers /readyz (each new connection may
    land on any worker: SO_REUSEPORT)."""
    gw = start_gateway(config, home, extra_args=("--workers", str(workers), *extra), env=ENV)
    seen: set[int] = set()
    deadline = time.time() + 120
    while seen != set(range(workers)) and time.time() < deadline:
        try:
            r = httpx.get(f"{gw.url}/readyz", timeout=2)  # a new connection each time
            if r.status_code == 200:
                seen.add(r.json()["worker"])
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    if seen != set(range(workers)):
        stop_gateway(gw)
        raise RuntimeError(f"workers ready: {sorted(seen)}\n{gw.log_text()[-3000:]}")
    return gw


def rows_of_key(gw: Gateway, key_id: str, expect: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        rows = [r for r in gw.ledger_rows(timeout=0) if json.loads(r["extra"]).get("key_id") == key_id]
        if len(rows) >= expect or time.time() > deadline:
            return rows
        time.sleep(0.1)


async def burst(base_url: str, secret: str, n: int, **create) -> list:
    """`n` concurrent chat requests from the openai SDK; each result is the answer or the error."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key=secret, max_retries=0, timeout=60)

    async def one():
        try:
            return await client.chat.completions.create(**create)
        except openai.APIError as exc:
            return exc

    try:
        return await asyncio.gather(*(one() for _ in range(n)))
    finally:
        await client.close()


def fifty_against_ten(gw: Gateway, upstream, secret: str, key_id: str) -> None:  # noqa: F811
    """50 concurrent requests on a budget that fits 10: exactly 10 answered, 40 refused with the
    budget's OpenAI-shaped 429, spread over both workers, spend never above the budget."""
    upstream.set_fault("slow:1500", count=-1)  # every admitted request stays in flight a while
    try:
        results = asyncio.run(burst(gw.v1, secret, 50, **chat(text=LONG), max_tokens=MAX_TOKENS))
    finally:
        upstream.set_fault(None)
    answered = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(answered) == 10, [str(e)[:200] for e in refused[:3]]
    assert all(a.usage.completion_tokens == MAX_TOKENS for a in answered)
    assert all(isinstance(e, openai.RateLimitError) for e in refused) and len(refused) == 40
    assert {e.code for e in refused} == {"budget_exceeded"}
    assert {e.body.get("type") for e in refused} == {"insufficient_quota"}
    rows = rows_of_key(gw, key_id, 50)
    assert len(rows) == 50 and sum(r["status"] == 200 for r in rows) == 10
    assert {json.loads(r["extra"])["worker"] for r in rows} == {0, 1}  # both processes admitted against one budget
    spent = sum(r["cost_usd"] for r in rows)
    assert spent == pytest.approx(10 * COST) and spent <= 10.5 * COST


@pytest.fixture(scope="module")
def cluster(upstream, tmp_path_factory):  # noqa: F811
    """`serve --workers 2` on SQLite (ledger, keys, shared limits), keys made before it starts."""
    home = tmp_path_factory.mktemp("workers")
    home.mkdir(exist_ok=True)
    budget, rate, plain, admin = create_keys(
        f"sqlite:///{home / 'keys.db'}",
        KeySpec(tenant="gamma", name="budget", budget_usd=10.5 * COST),
        KeySpec(tenant="beta", name="rate", rpm=RPM),
        KeySpec(tenant="acme", name="plain"),
        KeySpec(tenant="ops", name="admin", admin=True),
    )
    from rightmodel.auth import KeyStore

    store = KeyStore(f"sqlite:///{home / 'keys.db'}")
    ids = {r.name: r.key_id for r in store.list()}
    store.close()
    gw = start_workers(constellation(upstream), home)
    try:
        yield gw, {"budget": budget, "rate": rate, "plain": plain, "admin": admin}, ids
    finally:
        stop_gateway(gw)


def test_fifty_concurrent_requests_across_two_workers_cannot_overspend_a_budget_of_ten(cluster, upstream):  # noqa: F811
    gw, secrets, ids = cluster
    fifty_against_ten(gw, upstream, secrets["budget"], ids["budget"])
    with pytest.raises(openai.RateLimitError) as later:  # settled everywhere: still nothing left
        openai.OpenAI(base_url=gw.v1, api_key=secrets["budget"], max_retries=0).chat.completions.create(
            **chat(text=LONG), max_tokens=MAX_TOKENS)
    assert "used up" in later.value.message
    listing = httpx.get(f"{gw.url}/admin/keys", headers={"Authorization": f"Bearer {secrets['admin']}"}, timeout=30).json()
    usage = next(k["usage"] for k in listing["data"] if k["id"] == ids["budget"])
    assert usage["shared"] and usage["spent_usd"] == pytest.approx(10 * COST)  # the shared row, whichever worker answers


def test_requests_per_minute_hold_across_workers_within_five_percent(cluster):
    gw, secrets, ids = cluster
    started = time.monotonic()
    results = asyncio.run(burst(gw.v1, secrets["rate"], 2 * RPM, **chat()))
    elapsed = time.monotonic() - started
    answered = sum(not isinstance(r, Exception) for r in results)
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, openai.RateLimitError) and e.code == "rate_limit_exceeded" for e in refused)
    allowed = RPM + elapsed * RPM / 60.0  # the bucket's capacity plus what refilled during the burst
    print(f"rpm {RPM} across 2 workers: {answered} of {2 * RPM} answered in {elapsed:.2f} s (allowed {allowed:.1f})")
    assert RPM <= answered <= allowed + 1, (answered, elapsed)
    assert answered <= 1.05 * RPM + elapsed * RPM / 60.0  # in-memory buckets would let ~2x through
    rows = rows_of_key(gw, ids["rate"], 2 * RPM)
    assert {json.loads(r["extra"])["worker"] for r in rows} == {0, 1}


def answered_while_killing(gw: Gateway, secret: str, pid: int, seconds: float) -> tuple[list[str], int]:
    """16 connections send chat completions for `seconds`; `pid` gets SIGKILL 1.5 s in. Returns the
    request ids answered and how many requests failed (those in flight on the killed process)."""
    import os

    answered: list[str] = []
    failed = 0

    async def loop(client: httpx.AsyncClient, until: float) -> None:
        nonlocal failed
        while time.monotonic() < until:
            try:
                r = await client.post("/chat/completions", json=chat(), headers={"Authorization": f"Bearer {secret}"})
            except httpx.HTTPError:
                failed += 1
                continue
            if r.status_code == 200:
                answered.append(r.json()["rightmodel"]["request_id"])
            else:
                failed += 1

    async def load() -> None:
        until = time.monotonic() + seconds
        clients = [httpx.AsyncClient(base_url=gw.v1, timeout=30) for _ in range(16)]
        try:
            tasks = [asyncio.create_task(loop(c, until)) for c in clients]
            await asyncio.sleep(1.5)
            os.kill(pid, signal.SIGKILL)
            await asyncio.gather(*tasks)
        finally:
            for c in clients:
                await c.aclose()

    asyncio.run(load())
    return answered, failed


def assert_in_ledger_exactly_once(gw: Gateway, answered: list[str], wait_s: float) -> None:
    """Every answered request's row reaches the ledger (within `wait_s`: a restarted process ships
    what its predecessor journaled), and no request has two rows."""
    import sqlalchemy as sa

    assert len(set(answered)) == len(answered)
    deadline = time.time() + wait_s
    while True:
        have = {r["request_id"] for r in gw.ledger_rows(timeout=0)}
        if set(answered) <= have or time.time() > deadline:
            break
        time.sleep(0.2)
    missing = set(answered) - have
    assert not missing, f"{len(missing)} answered requests missing from the ledger"
    engine = sa.create_engine(f"sqlite:///{gw.home / 'ledger.db'}")
    with engine.connect() as conn:
        dup = conn.execute(sa.text("SELECT request_id, COUNT(*) FROM ledger_requests GROUP BY request_id HAVING COUNT(*) > 1")).all()
    engine.dispose()
    assert dup == []


def test_a_worker_killed_mid_load_loses_no_answered_row_and_duplicates_none(cluster, upstream):  # noqa: F811
    gw, secrets, _ids = cluster
    pids = worker_pids(gw)
    assert len(pids) == 2
    upstream.set_fault("slow:200", count=-1)
    try:
        answered, failed = answered_while_killing(gw, secrets["plain"], pids[0], 4.0)
    finally:
        upstream.set_fault(None)
    assert len(answered) > 50
    # The supervisor starts worker 0 again on the same journal directory; it ships what its
    # predecessor journaled (every answered request was journaled before its answer left).
    assert_in_ledger_exactly_once(gw, answered, 60)
    print(f"SIGKILL mid-load: {len(answered)} answered, {failed} failed, 0 missing from the ledger")
    assert "exited with status -9; starting it again" in gw.log_text()
    assert len(worker_pids(gw)) == 2  # the pool is whole again


def worker_pids(gw: Gateway) -> list[int]:
    """The worker processes of a supervisor, by index order of their command line's spawn."""
    import subprocess

    out = subprocess.run(["pgrep", "-P", str(gw.process.pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def test_the_same_budget_race_with_limits_on_postgresql(upstream, tmp_path, pg_url):  # noqa: F811
    home = tmp_path / "pg-workers"
    home.mkdir()
    (secret,) = create_keys(pg_url, KeySpec(tenant="gamma", name="budget", budget_usd=10.5 * COST))
    from rightmodel.auth import KeyStore

    store = KeyStore(pg_url)
    key_id = store.list()[0].key_id
    store.close()
    gw = start_workers(constellation(upstream), home, extra=("--keys-url", pg_url, "--limits-url", pg_url))
    try:
        fifty_against_ten(gw, upstream, secret, key_id)
    finally:
        stop_gateway(gw)
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        spent, reserved = conn.execute(sa.text("SELECT spent, reserved FROM limit_accounts WHERE key_id = :k"), {"k": key_id}).one()
        held = conn.execute(sa.text("SELECT COUNT(*) FROM limit_reservations")).scalar()
    engine.dispose()
    assert spent == pytest.approx(10 * COST) and reserved == pytest.approx(0.0) and held == 0


def test_two_separate_gateways_sharing_postgresql_limits_admit_as_one(upstream, tmp_path, pg_url):  # noqa: F811
    """As two machines would: two lone gateways, each its own home and ledger, one key store and
    one limits store on PostgreSQL; 25 concurrent requests at each on a budget that fits 10."""
    (secret,) = create_keys(pg_url, KeySpec(tenant="gamma", name="budget", budget_usd=10.5 * COST))
    extra = ("--keys-url", pg_url, "--limits-url", pg_url)
    gateways = [start_gateway(constellation(upstream), tmp_path / f"machine-{i}", extra_args=extra, env=ENV) for i in range(2)]
    upstream.set_fault("slow:1500", count=-1)
    try:
        async def both() -> list:
            halves = await asyncio.gather(*(burst(gw.v1, secret, 25, **chat(text=LONG), max_tokens=MAX_TOKENS) for gw in gateways))
            return [r for half in halves for r in half]

        results = asyncio.run(both())
    finally:
        upstream.set_fault(None)
        for gw in gateways:
            stop_gateway(gw)
    answered = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(answered) == 10 and len(refused) == 40
    assert {e.code for e in refused} == {"budget_exceeded"}


def test_sigterm_drains_in_flight_requests_and_every_process_exits_within_drain_s_plus_2(upstream, tmp_path):  # noqa: F811
    gw = start_workers(constellation(upstream), tmp_path / "term")
    pids = worker_pids(gw)
    upstream.set_fault("slow:1500", count=-1)
    upstream.clear()
    try:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            jobs = [pool.submit(httpx.post, f"{gw.v1}/chat/completions", json=chat(), timeout=30) for _ in range(4)]
            deadline = time.time() + 15
            while len(upstream.received()) < 4 and time.time() < deadline:  # all 4 admitted, waiting on the upstream
                time.sleep(0.05)
            sent = time.monotonic()
            gw.process.send_signal(signal.SIGTERM)
            code = gw.process.wait(DRAIN_S + 5)
            took = time.monotonic() - sent
            statuses = [j.result().status_code for j in jobs]
    finally:
        upstream.set_fault(None)
        stop_gateway(gw)
    print(f"SIGTERM: supervisor and workers gone {took:.2f} s after the signal (drain_s {DRAIN_S})")
    assert took <= DRAIN_S + 2.0, took
    assert code == 0, gw.log_text()[-2000:]
    assert statuses == [200] * 4  # in flight at the signal: finished, not cut
    import os

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_second_serve_on_the_same_home_is_a_clear_error(cluster):
    gw, _secrets, _ids = cluster
    result = run_cli("serve", "--port", "0", "--home", str(gw.home), timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "already serving" in result.stderr and "--workers" in result.stderr


# -- live promotion -------------------------------------------------------------------------------


def register_copy_of(home: Path, ref: str) -> str:
    """A new version of the task holding the same files (a candidate, not promoted)."""
    from rightmodel.registry import Registry

    with Registry(home) as registry:
        source = registry.get(ref)
        with registry.staging(source.task) as staged:
            for path in source.path.iterdir():
                if path.is_file() and path.name != "manifest.json":
                    shutil.copy(path, staged / path.name)
                    (staged / path.name).chmod(0o644)
            return registry.register(source.task, staged, {"kind": "specialist", "metrics": {"accuracy": 0.0}}).ref


def test_promotion_and_rollback_under_load_fail_no_request_and_reach_every_worker_within_5s(tmp_path):
    home = tmp_path / "promote"
    home.mkdir()
    v1 = register_cpu_specialist(home, task="intent", width=64, layers=2, max_length=64)
    v2 = register_copy_of(home, v1)
    gw = start_workers(None, home)  # the default constellation: model intent-specialist = intent@production
    failures: list[str] = []
    versions: list[tuple[float, str]] = []

    until = [time.monotonic() + 90.0]  # moved to 6 s after the rollback by stages()

    async def loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < until[0]:
            try:
                r = await client.post("/chat/completions", json=chat("where is my card?", model="intent-specialist"))
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:200]}")
            else:
                versions.append((time.time(), r.json()["rightmodel"]["model"]))

    async def cli(*args: str) -> None:
        proc = await asyncio.create_subprocess_exec(*run_cli_argv(*args), env=cli_env(home))
        assert await proc.wait() == 0

    async def stages() -> None:
        await asyncio.sleep(1.5)
        await cli("models", "promote", v2, "--force", "--reason", "tests: live promotion")
        await asyncio.sleep(7.0)
        await cli("models", "rollback", "intent", "--reason", "tests: live rollback")
        until[0] = time.monotonic() + 6.0

    async def load() -> None:
        clients = [httpx.AsyncClient(base_url=gw.v1, timeout=30) for _ in range(8)]
        try:
            await asyncio.gather(stages(), *(loop(c) for c in clients))
        finally:
            for c in clients:
                await c.aclose()

    try:
        asyncio.run(load())
        rows = gw.ledger_rows(expect=len(versions) + len(failures))
    finally:
        stop_gateway(gw)
    assert failures == []
    from rightmodel.registry import Registry

    with Registry(home) as registry:  # when each stage change was committed (wall clock, as `versions`)
        events = {e["action"]: e["time"].timestamp() for e in registry.events("intent") if e["reason"] and "tests: live" in e["reason"]}
    promoted, rolled = events["promote"], events["rollback"]
    last_v1 = max((t for t, v in versions if v == v1 and promoted < t < rolled), default=promoted) - promoted
    last_v2 = max((t for t, v in versions if v == v2 and t > rolled), default=rolled) - rolled
    print(f"live versions: {len(versions)} answered, 0 failed; last v1 answer {last_v1:.2f} s after the promotion was "
          f"committed, last v2 answer {last_v2:.2f} s after the rollback")
    # every process serves the new production version within 5 s of the registry change
    assert all(v == v2 for t, v in versions if promoted + 5.0 < t < rolled), "v1 served > 5 s after the promotion"
    assert all(v == v1 for t, v in versions if t > rolled + 5.0), "v2 served > 5 s after the rollback"
    assert any(t > rolled + 5.0 for t, _ in versions)
    served = [r for r in rows if r["status"] == 200]
    assert len(served) == len(versions)
    for worker in (0, 1):  # in each process: v1 rows, then v2 rows, then v1 again; never interleaved
        mine = sorted((r for r in served if json.loads(r["extra"])["worker"] == worker), key=routed_at)
        runs = [m for k, m in enumerate(r["model"] for r in mine) if k == 0 or mine[k - 1]["model"] != m]
        assert runs == [v1, v2, v1], (worker, runs)


def routed_at(row: dict) -> float:
    """When the request picked its model: admission time plus its routing time."""
    from datetime import datetime

    created = row["created_at"] if isinstance(row["created_at"], datetime) else datetime.fromisoformat(str(row["created_at"]))
    return created.timestamp() + (row["routing_ms"] or 0.0) / 1000.0


def run_cli_argv(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "rightmodel.cli", *args]


def cli_env(home: Path) -> dict:
    import os

    return {**os.environ, "RIGHTMODEL_HOME": str(home)}


def test_rows_left_in_a_worker_journal_nobody_reuses_are_shipped(tmp_path):
    """A worker killed before shipping, under a `--workers` larger than the next run's: its journal
    is shipped by the next supervisor (or lone serve) of the home, and live ones are left alone."""
    from datetime import datetime, timezone

    from rightmodel.constellation.settings import GatewaySettings
    from rightmodel.gateway.launch import ship_leftover_journals
    from rightmodel.ledger import LedgerRecord
    from rightmodel.ledger.journal import DirLock
    from rightmodel.ledger.record import encode

    settings = GatewaySettings(home=tmp_path)
    root = tmp_path / "ledger-journal"
    orphan, live = root / "worker-5", root / "worker-1"
    for directory, rid in ((orphan, "req_orphan"), (live, "req_live")):
        directory.mkdir(parents=True)
        row = LedgerRecord(request_id=rid, created_at=datetime.now(timezone.utc), endpoint="/v1/chat/completions", route="remote",
                           reason="test", status=200, latency_ms=1.0, cost_usd=0.0, extra={"worker": 5})
        (directory / "journal-000000000001.jsonl").write_bytes(encode(row))
    held = DirLock(live)  # a live worker's directory
    try:
        ship_leftover_journals(settings, keep={0})
    finally:
        held.release()
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT request_id FROM ledger_requests"))]
    engine.dispose()
    assert ids == ["req_orphan"]
    before = sorted(p.name for p in orphan.iterdir())
    ship_leftover_journals(settings, keep={0})  # nothing left to ship there: not even opened
    assert sorted(p.name for p in orphan.iterdir()) == before
