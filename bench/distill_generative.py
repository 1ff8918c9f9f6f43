"""Bench: captured frontier answers → `rightmodel distill --kind generate` → a SmolLM2 LoRA that takes over.

    PYTHONPATH=src python bench/distill_generative.py --teacher /tmp/rm-gen5/extraction/extraction.q8_0.gguf
    # → bench/results/distill_generative.{json,md}

The generative twin of bench/distill.py, on the structured-extraction task of
bench/generative_bench/extraction.py (support message → {"intent", "order_id", "urgency"}, whose
sentence frames are split between train, calibration and test). Every part is a real process:

1. **Frontier** ("B"): a gateway serving a *teacher* GGUF (`--teacher`: a SmolLM2 LoRA that
   bench/generative.py fine-tuned on the train frames) as a `kind: generate` model. It stands in for
   the frontier API we cannot call here; gateway A prices its answers at gpt-4o's list price.
2. **Capture** ("A"): task `extraction` (kind generate, quality exact) with no specialist,
   `escalate_to` B, `capture: {}`. The first --captures messages of the *train* split go through A
   with the openai SDK (system prompt ex.SYSTEM, response_format json_schema ex.SCHEMA, greedy,
   max_tokens 64); A stores the conversations and B's answers.
3. **All-frontier baseline** ("A0"): the same gateway without capture serves the first --n-test
   messages of the *test* split (frames neither model trained on): the teacher's answers (the
   reference for agreement) and the all-frontier cost from A0's ledger.
4. **Distill**: `rightmodel distill extraction --kind generate --schema ... --quality exact` in a
   fresh home: a LoRA on the bundled SmolLM2-135M-Instruct (not on the teacher), its threshold
   calibrated on the held-out captures. Wall time around the command; the card's numbers.
5. **Serve** ("A'"): the candidate as the task's specialist (calibrated threshold, escalate_to B)
   serves the same test messages; coverage, agreement with the teacher on the local answers, exact
   match vs the true labels, cost per 1k requests vs the baseline, from the responses and A''s ledger.

Holds /tmp/bench.lock while it measures; records the machine's load per step (benchlib.Window);
stops every process it started at exit.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import benchlib  # noqa: E402
import distill as dbench  # noqa: E402  (its process handling, CLI runner, ledger totals and gpt-4o price)
from distill_generative_bench.render import render  # noqa: E402
from distill_generative_bench.score import rate, score  # noqa: E402
from generative_bench import extraction as ex  # noqa: E402

TASK = "extraction"
TEACHER = "teacher"  # B's model name
MAX_TOKENS = 64
log = dbench.log


# ----------------------------------------------------------------------------- configuration

def wait_for_teacher(path: Path, wait_s: float) -> dict:
    """The teacher GGUF, once it is complete. In a `train --kind generate` output directory (it has
    `merged/`) that is when its card.json exists (written after every GGUF and the card's checks);
    a lone file is complete when its size holds for 30 s."""
    waited, last = 0.0, -1
    while True:
        if path.is_file():
            size = path.stat().st_size
            if (path.parent / "card.json").is_file() or (size == last and not (path.parent / "merged").is_dir()):
                break
            last = size
        if waited == 0:
            log(f"teacher {path} not there yet (or its card.json): polling every 30 s (up to {wait_s:.0f} s)")
        if waited >= wait_s:
            raise SystemExit(f"--teacher {path}: not there (or its training not finished) after {waited:.0f} s")
        time.sleep(30)
        waited += 30
    return {"path": str(path), "bytes": path.stat().st_size, "waited_s": waited,
            "mtime_utc": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(path.stat().st_mtime))}


def teacher_card(path: Path) -> dict | None:
    """What the teacher's card says about its training and its own test split (None without a card)."""
    card = path.parent / "card.json"
    if not card.is_file():
        return None
    c = json.loads(card.read_text())
    acc = c.get("acceptance") or {}
    return {"base": c.get("base"), "data": c.get("data"), "training": {k: c.get("training", {}).get(k) for k in ("epochs", "steps", "seconds")},
            "lora": c.get("lora"), "test": acc.get("test"), "threshold": acc.get("threshold")}


def b_config(teacher: Path, home: Path, engines: int) -> dict:
    """Gateway B: the teacher as a named chat model (route `remote`; threshold unused there)."""
    model = {"kind": "generate", "path": str(teacher), "concurrency": engines, "threads": 1, "context_tokens": 1024, "threshold": 0.0}
    return {"models": {TEACHER: model}, "storage": {"home": str(home)}, "defaults": {"retries": 0}}


def a_config(b_url: str, home: Path, *, captures_url: str | None, student: bool, engines: int, local_cost: float) -> dict:
    """Gateway A / A0 / A': the task, escalating to B priced at gpt-4o's list price; with the
    distilled candidate as its specialist (A') and/or capture on (A)."""
    price = {k: dbench.GPT4O[k] for k in ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")}
    models: dict = {"frontier": {"kind": "openai", "base_url": f"{b_url}/v1", "model": TEACHER, "api_key_env": "DISTILL_BENCH_B_KEY",
                                 "timeout_s": 120, "price": price}}
    task: dict = {"escalate_to": "frontier", "kind": "generate", "quality": "exact"}
    if student:
        models["student"] = {"kind": "generate", "task": TASK, "stage": "candidate", "concurrency": engines, "threads": 1, "context_tokens": 1024}
        task["specialist"] = "student"
    if captures_url:
        task["capture"] = {}
    cfg = {"models": models, "tasks": {TASK: task}, "storage": {"home": str(home)},
           "defaults": {"frontier": "frontier", "local_cost_per_hour": local_cost, "retries": 0}}
    if captures_url:
        cfg["storage"]["captures_url"] = captures_url
    return cfg


# ----------------------------------------------------------------------------- traffic

def send_all(url: str, messages: list[str], concurrency: int) -> list[dict]:
    """Each message as one chat request through the openai SDK, the way a client of this task would
    send it: system prompt, JSON schema, greedy, max_tokens 64. The answer and the route header."""
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300)
    fmt = {"type": "json_schema", "json_schema": {"name": "support_request", "schema": ex.SCHEMA}}

    def one(message: str) -> dict:
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=TASK, messages=[{"role": "system", "content": ex.SYSTEM}, {"role": "user", "content": message}],
                response_format=fmt, temperature=0, max_tokens=MAX_TOKENS)
            reply = raw.parse()
            return {"answer": reply.choices[0].message.content, "route": raw.headers.get("x-rightmodel-route"),
                    "finish": reply.choices[0].finish_reason, "request_id": reply.id}
        except Exception as exc:  # recorded and counted, never hidden
            return {"answer": None, "route": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, messages))


def serve(name: str, cfg: dict, gw_home: Path, env: dict, messages: list[str], concurrency: int) -> tuple[list[dict], dict]:
    """Start a gateway, send the messages, stop it; (results, timing + machine + ledger totals)."""
    p, url = dbench.PROCS.gateway(name, cfg, gw_home, env)
    window = benchlib.Window(os.getpid())
    t0 = time.perf_counter()
    results = send_all(url, messages, concurrency)
    info = {"seconds": round(time.perf_counter() - t0, 1), "machine": window.close()}
    info["gateway_exit"] = dbench.PROCS.stop(p)
    info["ledger"] = dbench.ledger(gw_home)
    info["privacy_actions"] = privacy_actions(gw_home / "ledger.db")
    dbench.dump(gw_home.parent / f"{name}-results.jsonl", messages, results)
    return results, info


def privacy_actions(db: Path) -> dict:
    """What the default `redact` policy did to the requests sent to B (names in sign-offs are PERSONs)."""
    con = sqlite3.connect(db)
    try:
        return {str(k): v for k, v in con.execute("SELECT privacy_action, count(*) FROM ledger_requests GROUP BY privacy_action")}
    finally:
        con.close()


# ----------------------------------------------------------------------------- phases

def capture(a: argparse.Namespace, b_url: str, env: dict, train: list[tuple[str, dict]]) -> dict:
    """Train-split messages through gateway A (capture on); what the capture store then holds."""
    from rightmodel.distill.store import CaptureStore

    run = Path(a.run)
    cfg = a_config(b_url, run / "a-home", captures_url=a.captures_url, student=False, engines=a.engines, local_cost=a.local_cost_per_hour)
    messages = [m for m, _ in train]
    results, info = serve("a-capture", cfg, run / "a-capture", env, messages, a.concurrency)
    store = CaptureStore(a.captures_url)
    try:
        rows = store.fetch(TASK)
    finally:
        store.close()
    info.update(sent=len(results), routes=score(results, [y for _, y in train], [None] * len(train))["routes"],
                teacher_exact_on_captured=sum(ex.exact(r["answer"] or "", y)[0] for r, (_, y) in zip(results, train)) / len(train),
                stored=len(rows), redacted=sum(r.redacted for r in rows), with_system_prompt=sum(bool(r.prompt) for r in rows))
    return info


def distill(a: argparse.Namespace, env: dict) -> dict:
    """`rightmodel distill` in a fresh home from the bundled base; wall time and the card's numbers."""
    from rightmodel.registry import Registry

    home = Path(a.run) / "student-home"
    home.mkdir(parents=True, exist_ok=True)
    schema = Path(a.run) / "schema.json"
    schema.write_text(json.dumps(ex.SCHEMA))
    args = ["distill", TASK, "--kind", "generate", "--home", str(home), "--captures-url", a.captures_url, "--schema", str(schema),
            "--quality", "exact", "--target-agreement", str(a.target_agreement), "--max-tokens", str(MAX_TOKENS), "--seed", str(a.seed)]
    for flag, value in (("--epochs", a.epochs), ("--lr", a.lr)):
        if value is not None:
            args += [flag, str(value)]
    log("distill: rightmodel " + " ".join(args))
    window = benchlib.Window(os.getpid())
    secs, text = dbench.run_cli(args, env, Path(a.run) / "distill.log", 3600)
    machine = window.close()
    with Registry(home) as reg:
        version = reg.list(TASK)[-1]
    card = json.loads((version.path / "card.json").read_text())
    acc = card["acceptance"]
    m = re.search(r"registered (\S+@v\d+)", text)
    small = lambda d: {k: v for k, v in (d or {}).items() if not isinstance(v, list) or len(v) <= 20}  # noqa: E731
    return {"command": "rightmodel " + " ".join(args), "wall_s": round(secs, 1), "machine": machine, "registered": m.group(1) if m else None,
            "stage": version.stage, "home": str(home), "distilled": card.get("distilled"), "threshold": acc.get("threshold"),
            "target": acc.get("target"), "quality_bar": acc.get("quality_bar"), "calibration": small(acc.get("calibration")),
            "crossfit": small(acc.get("test")), "training": small(card.get("training")), "lora": card.get("lora"),
            "served_file": card.get("served_file"), "served_path": str(version.path / card["served_file"]), "warned": "does not hold up out of sample" in " ".join(text.split())}


def student_direct(gguf: Path, threshold: float, test: list[tuple[str, dict]], teacher: list[str | None]) -> dict:
    """The student on every test message in process, as the gateway would generate (greedy, schema,
    max_tokens 64, raw text): what it would say on the requests it escalated too, so agreement and
    exact match at full coverage are measured, not guessed. Its accept decisions at the card's
    threshold should reproduce A''s coverage (a consistency check)."""
    from rightmodel.generative.acceptance import QualityBar
    from rightmodel.generative.calibrate import answer_all

    convs = [[{"role": "system", "content": ex.SYSTEM}, {"role": "user", "content": m}, {"role": "assistant", "content": t or ""}]
             for (m, _), t in zip(test, teacher)]
    window = benchlib.Window(os.getpid())
    t0 = time.perf_counter()
    judged = answer_all(gguf, convs, QualityBar.parse("exact"), json_schema=ex.SCHEMA, max_tokens=MAX_TOKENS, threads=1)
    accepted = [j.score >= threshold for j in judged]
    return {"seconds": round(time.perf_counter() - t0, 1), "machine": window.close(),
            "agreement_all": rate(sum(j.right for j in judged), len(judged)),
            "exact_all": rate(sum(ex.exact(j.answer, y)[0] for j, (_, y) in zip(judged, test)), len(judged)),
            "accepted": rate(sum(accepted), len(judged)),
            "agreement_rejected": rate(sum(j.right for j, ok in zip(judged, accepted) if not ok), len(judged) - sum(accepted))}


def run(a: argparse.Namespace) -> dict:
    env = {**os.environ, "DISTILL_BENCH_B_KEY": "sk-bench", "PYTHONPATH": str(ROOT / "src")}
    for k in ("RIGHTMODEL_HOME", "RIGHTMODEL_LEDGER_URL", "RIGHTMODEL_CAPTURES_URL", "RIGHTMODEL_DATABASE_URL"):
        env.pop(k, None)
    run_dir = Path(a.run)
    run_dir.mkdir(parents=True, exist_ok=True)
    a.captures_url = f"sqlite:///{run_dir / 'captures.db'}"
    machine = dbench.machine_info(a)
    machine["command"] = " ".join([os.path.relpath(sys.executable, ROOT), "bench/distill_generative.py", *sys.argv[1:]])
    out: dict = {"machine": machine, "params": {k: v for k, v in vars(a).items() if k != "teacher_info"}, "frontier_price": dbench.GPT4O,
                 "max_tokens": MAX_TOKENS, "system_prompt": ex.SYSTEM}
    t_all = time.perf_counter()
    out["teacher"] = {**a.teacher_info, "card": teacher_card(Path(a.teacher))}
    data = ex.dataset()  # the split bench/generative.py trains the teacher on: 1200 / 300 / 300 messages, split by frame
    train, test = data["train"][: a.captures], data["test"][: a.n_test]
    out["split"] = {"frames_per_intent": {k: len(v) // len(ex.INTENTS) for k, v in ex.split_frames().items()},
                    "captured_from": f"train split, first {len(train)} of {len(data['train'])}", "scored_on": f"test split, first {len(test)} of {len(data['test'])}"}

    b, b_url = dbench.PROCS.gateway("frontier-b", b_config(Path(a.teacher), run_dir / "b-home", a.engines), run_dir / "b", env)
    log(f"capture: {len(train)} train-split messages through A")
    out["capture"] = cap = capture(a, b_url, env, train)
    log(f"captured {cap['stored']} of {cap['sent']} in {cap['seconds']} s (routes {cap['routes']}, {cap['redacted']} redacted)")
    save(a, {**out, "partial": "after capture"})

    log(f"all-frontier baseline: {len(test)} test-split messages through A0")
    labels = [y for _, y in test]
    cfg = a_config(b_url, run_dir / "a-home", captures_url=None, student=False, engines=a.engines, local_cost=a.local_cost_per_hour)
    base, info = serve("a0-baseline", cfg, run_dir / "a0", env, [m for m, _ in test], a.concurrency)
    teacher = [r["answer"] for r in base]
    out["baseline"] = {**info, "test": score(base, labels, teacher)}
    log(f"baseline: exact vs truth {out['baseline']['test']['exact_served']['rate']:.3f}, ${info['ledger']['cost_per_1k']:.5f}/1k")
    save(a, {**out, "partial": "after the baseline"})

    out["distill"] = d = distill(a, env)
    log(f"distilled {d['registered']} in {d['wall_s']} s: held-out agreement {d['distilled'].get('agreement')}, threshold "
        f"{d['threshold']}, cross-fitted {d['crossfit']}")
    save(a, {**out, "partial": "after distill"})

    cfg = a_config(b_url, Path(d["home"]), captures_url=None, student=True, engines=a.engines, local_cost=a.local_cost_per_hour)
    served, info = serve("a-student", cfg, run_dir / "a-student", env, [m for m, _ in test], a.concurrency)
    out["student"] = {**info, "test": score(served, labels, teacher)}
    if info["ledger"]["cost_per_1k"] and out["baseline"]["ledger"]["cost_per_1k"]:
        out["student"]["cost_ratio"] = info["ledger"]["cost_per_1k"] / out["baseline"]["ledger"]["cost_per_1k"]
    t = out["student"]["test"]
    log(f"student: coverage {t['coverage']['rate']:.3f}, agreement on local {t['agreement_local']['rate']}, exact served "
        f"{t['exact_served']['rate']:.3f}, ${info['ledger']['cost_per_1k']:.5f}/1k")
    out["frontier_b_exit"] = dbench.PROCS.stop(b)
    out["b_ledger"] = dbench.ledger(run_dir / "b")
    if not a.no_student_direct:
        log("the student in process on every test message")
        save(a, {**out, "partial": "after serving"})
        out["student_direct"] = student_direct(Path(d["served_path"]), d["threshold"], test, teacher)
    out["runtime_s"] = round(time.perf_counter() - t_all, 1)
    return out


def save(a: argparse.Namespace, result: dict) -> None:
    result.setdefault("started", a.started)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{a.name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / f"{a.name}.md").write_text(render(result))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", type=Path, required=True, help="the teacher GGUF B serves (waited for, polled every 30 s, when absent)")
    ap.add_argument("--teacher-wait", type=float, default=3600, help="seconds to wait for --teacher to appear")
    ap.add_argument("--captures", type=int, default=600, help="train-split messages sent through the capturing gateway")
    ap.add_argument("--n-test", type=int, default=300, help="test-split messages served by the baseline and the student")
    ap.add_argument("--target-agreement", type=float, default=0.95)
    ap.add_argument("--epochs", type=int, default=None, help="distill --epochs (default: the recipe's)")
    ap.add_argument("--lr", type=float, default=None, help="distill --lr (default: the recipe's)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--engines", type=int, default=2, help="llama.cpp contexts (1 thread each) of the teacher and of the student")
    ap.add_argument("--concurrency", type=int, default=4, help="client requests in flight")
    ap.add_argument("--local-cost-per-hour", type=float, default=0.10)
    ap.add_argument("--no-student-direct", action="store_true", help="skip the student's in-process answers to every test message")
    ap.add_argument("--work", default="/tmp/rightmodel-distill-gen-bench")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--name", default="distill_generative", help="results file stem")
    ap.add_argument("--lock-wait", type=int, default=3600)
    ap.add_argument("--no-lock", action="store_true", help="dry runs only: do not take /tmp/bench.lock (recorded)")
    a = ap.parse_args(argv)
    a.run = str(Path(a.work) / f"run-{time.strftime('%Y%m%d-%H%M%S')}")
    signal.signal(signal.SIGTERM, dbench._raise_exit)
    a.teacher_info = wait_for_teacher(a.teacher, a.teacher_wait)
    lock = benchlib.BenchLock("bench/distill_generative.py", time.strftime("%Y%m%d-%H%M%S"), a.lock_wait, log=log)
    if not a.no_lock:
        lock.acquire()
    a.started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    try:
        result = run(a)
    finally:
        dbench.PROCS.stop_all()
        lock.release()
    save(a, result)
    log(f"wrote {a.out}/{a.name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
