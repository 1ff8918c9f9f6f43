"""`rightmodel serve --ray`, end to end: a Ray cluster of its own on loopback (started and stopped by
the gateway process), 2 ingress replicas (the gateway app) + 2 replicas of the specialist's
deployment, the real openai SDK and raw HTTP as clients, tests/upstream_server.py as the
frontier, real SQLite for the ledger, keys and shared limits, real ONNX Runtime.

One cluster for the module (Ray and the replicas take ~30 s to start on a busy 2-core box); the
SIGKILL test goes last because it replaces a replica.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest

from cpu_specialist import register_cpu_specialist
from gateway_proc import Gateway, create_keys, start_gateway, stop_gateway
from test_workers import (COST, ENV, OUT_PER_MTOK, RPM, answered_while_killing, assert_in_ledger_exactly_once, burst, chat, cli_env, fifty_against_ten, register_copy_of, routed_at, rows_of_key,
                          run_cli_argv)
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

from rightmodel.auth import KeySpec

pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra (pip install 'rightmodel[ray]')")
pytestmark = pytest.mark.slow

INGRESS = "ServeReplica:rightmodel:ingress"
SPECIALIST = "ServeReplica:rightmodel:specialist-intent-specialist"


def constellation(upstream) -> dict:  # noqa: F811
    price = {"input_per_mtok": 0.0, "output_per_mtok": OUT_PER_MTOK}
    primary = {"kind": "openai", "base_url": upstream.openai_base, "api_key_env": "WORKERS_TEST_UPSTREAM_KEY", "price": price, "timeout_s": 20}
    specialist = {"kind": "specialist", "task": "intent", "serving": {"replicas": 2, "cpus": 0.5, "max_ongoing_requests": 64}}
    return {
        "models": {"primary": primary, "intent-specialist": specialist},
        "tasks": {"intent": {"specialist": "intent-specialist", "escalate_to": "primary", "threshold": 0.0}},
        "defaults": {"retries": 0, "max_tokens": 1000, "drain_s": 2.0},
        "auth": {"refresh_s": 0.3},
        "ray": {"ingress": {"replicas": 2, "max_ongoing_requests": 64}},
    }


def ray_pids(gw: Gateway, needle: str | None = None) -> list[int]:
    """The gateway's Ray processes (its cluster is its own: every one descends from it)."""
    import psutil

    found = []
    for proc in psutil.Process(gw.process.pid).children(recursive=True):
        try:
            if needle is None or needle in " ".join(proc.cmdline()):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def ray_gateway(upstream, tmp_path_factory):  # noqa: F811
    home = tmp_path_factory.mktemp("ray")
    v1 = register_cpu_specialist(home, task="intent", width=64, layers=2, max_length=64)
    v2 = register_copy_of(home, v1)
    budget, plain, rate = create_keys(
        f"sqlite:///{home / 'keys.db'}",
        KeySpec(tenant="gamma", name="budget", budget_usd=10.5 * COST),
        KeySpec(tenant="acme", name="plain"),
        KeySpec(tenant="beta", name="rate", rpm=RPM),
    )
    from rightmodel.auth import KeyStore

    store = KeyStore(f"sqlite:///{home / 'keys.db'}")
    ids = {r.name: r.key_id for r in store.list()}
    store.close()
    gw = start_gateway(constellation(upstream), home, extra_args=("--ray",), env=ENV)
    try:
        seen: set[int] = set()  # both ingress replicas up: each journals as its slot ("worker")
        deadline = time.time() + 120
        while seen != {0, 1} and time.time() < deadline:
            try:
                r = httpx.get(f"{gw.url}/readyz", headers={"Connection": "close"}, timeout=10)
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                seen.add(r.json()["worker"])
        assert seen == {0, 1}, (seen, gw.log_text()[-3000:])
        yield gw, {"budget": budget, "plain": plain, "rate": rate}, ids, (v1, v2)
    finally:
        pids = ray_pids(gw)
        stopping = time.monotonic()
        code = stop_gateway(gw, timeout=60)
        stopped_after = time.monotonic() - stopping
        print(f"serve --ray stopped {stopped_after:.1f} s after SIGTERM (drain_s 2)")
        import psutil

        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        for pid in alive:  # never leave a cluster behind, whatever failed
            os.kill(pid, signal.SIGKILL)
        assert code == 0 and not alive, (code, alive, gw.log_text()[-2000:])
        # drain_s, then Ray's own teardown of the cluster it started (3.9 s in all, idle, on the
        # quiet box; 8 s before replicas took drain_s as their graceful-shutdown time)
        assert stopped_after < 2.0 + 10, stopped_after


def test_two_ingress_and_two_specialist_replicas_answer_the_openai_sdk(ray_gateway):
    gw, secrets, _ids, (v1, _v2) = ray_gateway
    assert len(ray_pids(gw, INGRESS)) == 2 and len(ray_pids(gw, SPECIALIST)) == 2
    client = openai.OpenAI(base_url=gw.v1, api_key=secrets["plain"], max_retries=0, timeout=30)
    answer = client.chat.completions.create(**chat("where is my card?", model="intent-specialist"))
    assert answer.choices[0].message.content and answer.model == "intent-specialist"
    remote = client.chat.completions.create(**chat("hello", model="primary"), max_tokens=5)
    assert remote.choices[0].message.content
    raw = httpx.post(f"{gw.v1}/chat/completions", json=chat("lost my card", model="intent-specialist"),
                     headers={"Authorization": f"Bearer {secrets['plain']}"}, timeout=30)
    assert raw.status_code == 200 and raw.json()["rightmodel"]["model"] == v1
    bad = httpx.post(f"{gw.v1}/chat/completions", json={"model": "intent-specialist"}, headers={"Authorization": f"Bearer {secrets['plain']}"}, timeout=30)
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]  # OpenAI-shaped, the field named


def test_fifty_concurrent_requests_across_two_ingress_replicas_cannot_overspend_a_budget_of_ten(ray_gateway, upstream):  # noqa: F811
    gw, secrets, ids, _versions = ray_gateway
    fifty_against_ten(gw, upstream, secrets["budget"], ids["budget"])


def test_requests_per_minute_hold_across_ingress_replicas_within_five_percent(ray_gateway):
    gw, secrets, ids, _versions = ray_gateway
    started = time.monotonic()
    results = asyncio.run(burst(gw.v1, secrets["rate"], 2 * RPM, **chat(model="primary")))
    elapsed = time.monotonic() - started
    answered = sum(not isinstance(r, Exception) for r in results)
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, openai.RateLimitError) and e.code == "rate_limit_exceeded" for e in refused)
    print(f"ray: rpm {RPM} across 2 ingress replicas: {answered} of {2 * RPM} answered in {elapsed:.2f} s")
    assert RPM <= answered <= 1.05 * RPM + elapsed * RPM / 60.0, (answered, elapsed)
    rows = rows_of_key(gw, ids["rate"], 2 * RPM)
    assert {json.loads(r["extra"])["worker"] for r in rows} == {0, 1}


def test_a_promotion_under_load_fails_no_request_and_every_replica_follows_within_5s(ray_gateway):
    gw, secrets, _ids, (v1, v2) = ray_gateway
    failures: list[str] = []
    versions: list[tuple[float, str]] = []
    until = [time.monotonic() + 60.0]
    headers = {"Authorization": f"Bearer {secrets['plain']}"}

    async def loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < until[0]:
            try:
                r = await client.post("/chat/completions", json=chat("where is my card?", model="intent-specialist"), headers=headers)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:200]}")
            else:
                versions.append((time.time(), r.json()["rightmodel"]["model"]))

    async def promote() -> None:
        await asyncio.sleep(1.5)
        proc = await asyncio.create_subprocess_exec(*run_cli_argv("models", "promote", v2, "--force", "--reason", "tests: ray promotion"),
                                                    env=cli_env(gw.home))
        assert await proc.wait() == 0
        until[0] = time.monotonic() + 7.0

    async def load() -> None:
        clients = [httpx.AsyncClient(base_url=gw.v1, timeout=30) for _ in range(8)]
        try:
            await asyncio.gather(promote(), *(loop(c) for c in clients))
        finally:
            for c in clients:
                await c.aclose()

    before = {r["request_id"] for r in gw.ledger_rows(timeout=0)}
    asyncio.run(load())
    assert failures == []
    from rightmodel.registry import Registry

    with Registry(gw.home) as registry:
        promoted = next(e["time"].timestamp() for e in registry.events("intent") if e["reason"] and "ray promotion" in e["reason"])
    last_v1 = max((t for t, v in versions if v == v1), default=promoted) - promoted
    print(f"ray promotion under load: {len(versions)} answered, 0 failed; last v1 answer {last_v1:.2f} s after the promotion")
    assert last_v1 <= 5.0 and versions[-1][1] == v2
    rows = [r for r in gw.ledger_rows(expect=len(before) + len(versions)) if r["request_id"] not in before and r["status"] == 200]
    mine = [r for r in rows if r["endpoint"] == "/v1/chat/completions" and r["model"] in (v1, v2)]
    assert len(mine) == len(versions)
    served = {json.loads(r["extra"])["worker"] for r in mine}
    for worker in served:  # in each ingress replica that took load: v1 rows, then v2 rows, never interleaved
        ordered = sorted((r for r in mine if json.loads(r["extra"])["worker"] == worker), key=routed_at)
        runs = [m for k, m in enumerate(r["model"] for r in ordered) if k == 0 or ordered[k - 1]["model"] != m]
        assert runs in ([v1, v2], [v2]), (worker, runs)
    assert any(r["model"] == v1 for r in mine)
    # Ray's proxy may send a whole run to one ingress replica; an idle one must serve v2 too.
    for worker, model in answers_per_worker(gw, secrets["plain"], {0, 1} - served).items():
        assert model == {v2}, (worker, model)


def answers_per_worker(gw: Gateway, secret: str, workers: set[int], within: float = 30.0) -> dict[int, set[str]]:
    """Send bursts of requests until each of `workers` has answered some; the models each answered with."""
    out: dict[int, set[str]] = {}
    seen = len(gw.ledger_rows(timeout=0))
    deadline = time.monotonic() + within
    while workers - out.keys() and time.monotonic() < deadline:
        asyncio.run(burst(gw.v1, secret, 16, **chat("where is my card?", model="intent-specialist")))
        rows = gw.ledger_rows(expect=seen + 16)
        seen = len(rows)
        for r in rows[-16:]:
            worker = json.loads(r["extra"] or "{}").get("worker")
            if worker in workers and r["endpoint"] == "/v1/chat/completions":
                out.setdefault(worker, set()).add(r["model"])
    assert workers <= out.keys(), f"ingress replicas {sorted(workers - out.keys())} answered nothing in {within:.0f} s"
    return out


def test_ray_listens_on_loopback_only(ray_gateway):
    import ipaddress

    import psutil

    gw, *_ = ray_gateway
    pids = set(ray_pids(gw)) | {gw.process.pid}
    listening = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listening) >= 5  # gcs, raylet, proxy, replicas: the check sees them
    exposed = [(c.laddr, c.pid) for c in listening if not ipaddress.ip_address(c.laddr.ip.removeprefix("::ffff:")).is_loopback]
    assert exposed == []


def test_an_ingress_replica_killed_mid_load_loses_no_answered_row_and_duplicates_none(ray_gateway, upstream):  # noqa: F811
    gw, secrets, _ids, _versions = ray_gateway
    victims = ray_pids(gw, INGRESS)
    assert len(victims) == 2
    upstream.set_fault("slow:200", count=-1)
    try:
        answered, failed = answered_while_killing(gw, secrets["plain"], victims[0], 5.0)
    finally:
        upstream.set_fault(None)
    assert len(answered) > 30
    # Ray starts a new ingress replica; it takes the dead one's journal slot and ships its rows.
    assert_in_ledger_exactly_once(gw, answered, 90)
    print(f"ray SIGKILL mid-load: {len(answered)} answered, {failed} failed, 0 missing from the ledger")
    deadline = time.time() + 60
    while len(ray_pids(gw, INGRESS)) != 2 and time.time() < deadline:
        time.sleep(0.5)
    assert victims[0] not in ray_pids(gw, INGRESS) and len(ray_pids(gw, INGRESS)) == 2  # Ray replaced it


# -- without a cluster ----------------------------------------------------------------------------


def test_replicas_and_autoscaling_come_from_the_constellation(tmp_path):
    from rightmodel.gateway.ray_serve import INGRESS as INGRESS_NAME
    from rightmodel.gateway.ray_serve import app_builder, deployment_name, deployment_options
    from rightmodel.constellation.config import ReplicasConfig, parse_constellation

    auto = ReplicasConfig(max_ongoing_requests=8, autoscaling={"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 2})
    assert deployment_options(auto, 1.0, 5.0) == {
        "max_ongoing_requests": 8, "ray_actor_options": {"num_cpus": 1.0},
        "graceful_shutdown_timeout_s": 5.0, "graceful_shutdown_wait_loop_s": 0.2,
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 2.0},
    }
    assert deployment_options(ReplicasConfig(replicas=3, cpus=0.25), 0.0, 5.0)["num_replicas"] == 3
    with pytest.raises(Exception, match="ray.ingress.autoscaling"):
        parse_constellation({"ray": {"ingress": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}}, "test")
    # What `serve run` / `serve deploy` import (docs/scale.md): one ingress, one deployment per specialist.
    register_cpu_specialist(tmp_path, task="intent", width=16, layers=1, max_length=16)
    config = tmp_path / "c.yaml"
    import yaml

    config.write_text(yaml.safe_dump({"models": {"intent-specialist": {"kind": "specialist", "task": "intent", "serving": {"replicas": 2}}},
                                      "tasks": {"intent": {"specialist": "intent-specialist"}}, "ray": {"ingress": {"replicas": 3}}}))
    app = app_builder({"config": str(config), "home": str(tmp_path)})
    ingress = app._bound_deployment
    assert ingress.name == INGRESS_NAME and ingress.num_replicas == 3
    (specialist,) = ingress.init_args[1].values()
    assert specialist._bound_deployment.name == deployment_name("intent-specialist") and specialist._bound_deployment.num_replicas == 2


def test_the_documented_serve_config_is_valid():
    """docs/scale.md's `serve deploy` file parses with Ray's own schema and names our builder."""
    import re

    import yaml
    from ray.serve.schema import ServeDeploySchema

    text = (Path(__file__).parents[1] / "docs" / "scale.md").read_text()
    block = re.search(r"```yaml\n(# serve-config.*?)```", text, re.S).group(1)
    schema = ServeDeploySchema.model_validate(yaml.safe_load(block)) if hasattr(ServeDeploySchema, "model_validate") else ServeDeploySchema.parse_obj(yaml.safe_load(block))
    (app,) = schema.applications
    assert app.import_path == "rightmodel.gateway.ray_serve:app_builder"
    assert schema.http_options.host == "127.0.0.1"


def test_serve_ray_options_that_do_not_mix_are_clear_errors(tmp_path):
    from conftest import run_cli

    for args, words in ((("--address", "127.0.0.1:6379"), "--address is for --ray"), (("--ray", "--workers", "2"), "do not mix")):
        result = run_cli("serve", "--home", str(tmp_path), *args, timeout=120)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
