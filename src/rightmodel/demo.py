"""`make demo`: train the Banking77 specialist if needed, serve it, replay the test set through
the gateway with the real openai SDK, and show what the constellation did and saved.

Trains only when the registry has no production version of the task yet, so a second run is
quick. The replayed requests are the official Banking77 test split, which training never sees.
With no frontier model configured, requests the specialist is unsure of come back marked
`escalation_unavailable` (never as a silent guess); their cost is still compared with what the
reference frontier model (gpt-4o list price) would have charged for every request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

TASK = "support-intent"
SYSTEM_PROMPT = "Classify the customer's banking message into one of the Banking77 intents. Answer with the intent only."
FRONTIER_REFERENCE = "gpt-4o"
CONCURRENCY = 16


def ensure_specialist(console: Console, home: Path):
    from rightmodel.console import TrainingProgress, print_version_summary
    from rightmodel.data.shipped import datasets_root
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.scoring import golden_scorer

    with Registry(home, os.environ.get("RIGHTMODEL_DATABASE_URL")) as registry:
        production = [v for v in registry.list(TASK) if v.stage == "production"]
        if production:
            console.print(f"{production[0].ref} is already in production; `make clean` to rebuild")
            version = production[0]
        else:
            root = datasets_root() / "banking77"
            console.print(f"[bold]training {TASK} on Banking77[/] (official train split; scored on the official test split)")
            request = BuildRequest(task=TASK, train_path=root / "train.csv", eval_path=root / "test.csv")
            with TrainingProgress(Console(stderr=True)) as progress:
                version = build_specialist(request, registry, progress=progress, log=console.print)
            registry.promote(version.ref, scorer=golden_scorer(registry, version.ref))
            version = registry.get(version.ref)
        print_version_summary(version)
        return version


def write_constellation(home: Path) -> Path:
    import yaml

    config = {
        "models": {f"{TASK}-specialist": {"kind": "specialist", "task": TASK}},
        "tasks": {TASK: {"specialist": f"{TASK}-specialist", "recognise": {"system_prompts": [SYSTEM_PROMPT]}}},
        "defaults": {"frontier": FRONTIER_REFERENCE},
        "storage": {"home": str(home)},
    }
    path = home / "demo-constellation.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(config: Path, home: Path, ledger_db: Path, port: int) -> subprocess.Popen:
    import httpx

    journal = home / "demo-journal"
    log = (home / "demo-gateway.log").open("wb")
    cmd = [sys.executable, "-m", "rightmodel.cli", "serve", "--config", str(config), "--home", str(home), "--port", str(port),
           "--ledger-url", f"sqlite:///{ledger_db}", "--journal-dir", str(journal)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({proc.returncode}); see {home / 'demo-gateway.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the gateway did not become ready; see {home / 'demo-gateway.log'}")


async def replay(base_url: str, texts: list[str]) -> list[dict]:
    """Every test text as a chat request through the openai SDK, CONCURRENCY at a time."""
    import openai

    results: list[dict] = [{} for _ in texts]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(texts)):
        queue.put_nowait(i)
    async with openai.AsyncOpenAI(base_url=base_url, api_key="demo", max_retries=0) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                reply = await client.chat.completions.create(
                    model="auto", messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": texts[i]}]
                )
                meta = reply.model_extra["rightmodel"]
                results[i] = {
                    "latency_ms": (time.perf_counter() - started) * 1000,
                    "route": meta["route"],
                    "answer": reply.choices[0].message.content,
                    "request_id": meta["request_id"],
                }

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


async def send_feedback(base_url: str, results: list[dict], labels: list[tuple[str, ...]]) -> int:
    """The true label of every replayed request as POST /v1/feedback, as a team labelling a sample
    would: the ledger then knows each answer's accuracy (reports, /dashboard). Returns how many
    were stored."""
    import httpx

    stored = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for start in range(0, len(results), 64):
            batch = [(r["request_id"], truth) for r, (truth,) in zip(results[start:start + 64], labels[start:start + 64])]
            answers = await asyncio.gather(*(client.post("/feedback", json={"request_id": rid, "label": truth}) for rid, truth in batch))
            stored += sum(1 for a in answers if a.status_code == 200)
    return stored


def ledger_totals(ledger_db: Path, request_ids: set[str], timeout: float = 30) -> dict:
    """Cost sums over the replayed requests, read back from the ledger (waits for the shipper)."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{ledger_db}")
    deadline = time.time() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT request_id, route, cost_usd, counterfactual_cost_usd FROM ledger_requests")).all()
            mine = [r for r in rows if r.request_id in request_ids]
            if len(mine) >= len(request_ids) or time.time() > deadline:
                unanswered = [r for r in mine if r.route == "escalation_unavailable"]
                return {
                    "rows": len(mine),
                    "cost": sum(r.cost_usd for r in mine),
                    "counterfactual": sum(r.counterfactual_cost_usd for r in mine),
                    # what the unsure requests would cost once a frontier model answers them
                    "escalation_estimate": sum(r.counterfactual_cost_usd for r in unanswered),
                }
            time.sleep(0.2)
    finally:
        engine.dispose()


def report(console: Console, data, results: list[dict], totals: dict, seconds: float) -> None:
    import numpy as np

    n = len(results)
    routes: dict[str, int] = {}
    for r in results:
        routes[r["route"]] = routes.get(r["route"], 0) + 1
    local = [(r, truth) for r, (truth,) in zip(results, data.labels) if r["route"] == "specialist"]
    correct = sum(1 for r, truth in local if r["answer"] == truth)
    latency = np.array([r["latency_ms"] for r in results])
    table = Table(title=f"Banking77 test set replayed through the gateway ({n} requests, openai SDK, {CONCURRENCY} concurrent)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for route, count in sorted(routes.items(), key=lambda kv: -kv[1]):
        table.add_row(f"route: {route}", f"{count} ({count / n:.1%})")
    table.add_row("accuracy on locally answered", f"{correct / len(local):.2%} ({correct}/{len(local)})" if local else "n/a")
    escalations = n - len(local)
    table.add_row("escalations (no frontier configured: escalation_unavailable)", f"{escalations} ({escalations / n:.1%})")
    table.add_row("latency p50 / p95 / p99 (client side)", " / ".join(f"{np.percentile(latency, q):.1f} ms" for q in (50, 95, 99)))
    table.add_row("throughput", f"{n / seconds:.0f} requests/s")
    table.add_row("ledger rows for these requests", f"{totals['rows']} of {n}")
    table.add_row("actual cost (local compute)", f"${totals['cost']:.6f}")
    projected = totals["cost"] + totals["escalation_estimate"]
    table.add_row(f"with {FRONTIER_REFERENCE} answering the escalations (estimate)", f"${projected:.6f}")
    table.add_row(f"all-frontier cost ({FRONTIER_REFERENCE} list price)", f"${totals['counterfactual']:.6f}")
    if totals["counterfactual"] > 0:
        table.add_row("saved vs all-frontier, escalations included", f"{1 - projected / totals['counterfactual']:.1%}")
    console.print(table)


def main() -> None:
    from rightmodel.data.labelled import read_labelled
    from rightmodel.data.shipped import datasets_root

    console = Console()
    home = Path(os.environ.get("RIGHTMODEL_HOME", ".rightmodel")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    ensure_specialist(console, home)
    data = read_labelled(datasets_root() / "banking77" / "test.csv", min_per_class=1)
    config = write_constellation(home)
    ledger_db = home / "demo-ledger.db"
    port = free_port()
    console.print(f"\n[bold]serving[/] {TASK} at http://127.0.0.1:{port}/v1 (constellation: {config})")
    gateway = start_gateway(config, home, ledger_db, port)
    try:
        started = time.perf_counter()
        results = asyncio.run(replay(f"http://127.0.0.1:{port}/v1", list(data.texts)))
        seconds = time.perf_counter() - started
        totals = ledger_totals(ledger_db, {r["request_id"] for r in results})
        totals["feedback"] = asyncio.run(send_feedback(f"http://127.0.0.1:{port}/v1", results, list(data.labels)))
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    report(console, data, results, totals, seconds)
    console.print(f"feedback: the true label of {totals['feedback']} requests went to POST /v1/feedback")
    console.print(f"ledger: {ledger_db}  ·  the numbers: rightmodel report --ledger-url sqlite:///{ledger_db} --config {config}")
    console.print(f"serve it yourself, dashboard at /dashboard: rightmodel serve --config {config} --ledger-url sqlite:///{ledger_db}")


if __name__ == "__main__":
    main()
