"""Bench (issue 8): captured frontier traffic → distilled specialist, vs the number of captures.

    .venv/bin/python bench/distill.py            # → bench/results/distill.{json,md}

Every part is a real process, as in tests/test_distill_gateway.py:

1. **Frontier** ("B"): a Banking77 specialist trained with the standard recipe on the official
   train split (`rightmodel train banking77 --data datasets/banking77/train.csv --eval
   datasets/banking77/test.csv`; cached in --work/frontier-*, reused when present), served by a
   gateway whose task answers every request (threshold 0.0) as an OpenAI-compatible chat model.
   It stands in for a frontier API: gateway A prices its answers at gpt-4o's list price.
2. **Capture** ("A"): task `support-intent` with no specialist, `escalate_to` B, `capture: {}`.
   --captures distinct texts of the Banking77 *train* split (seeded sample, folded-text distinct)
   go through A with the openai SDK; A stores the (input, answer) pairs.
3. **All-frontier baseline** ("A0"): the same gateway without capture serves the official
   *test* split (3,080 texts, never trained on by B or by any candidate): the frontier's answers
   (reference for agreement) and the ledger's all-frontier cost.
4. Per N in --sizes: `rightmodel distill support-intent --limit N --target-agreement 0.98
   --seed 13` into a fresh home, then gateway A'_N (the candidate as the task's specialist,
   escalate_to B, calibrated threshold) serves the test split. From the responses and A'_N's
   ledger: coverage, agreement with the frontier on the local answers, their accuracy vs the
   true labels, accuracy of everything served, cost per 1k requests.

The whole measurement holds the shared /tmp/bench.lock (bench/benchlib.py BenchLock). Every
process it starts is stopped at exit (SIGTERM to its pid, SIGKILL to its own process group).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import benchlib  # noqa: E402  (shared lock, /proc helpers)
from distill_bench.render import render  # noqa: E402

PY = sys.executable
DATA = ROOT / "datasets" / "banking77"
TASK_A, TASK_B = "support-intent", "banking77"
GPT4O = {"name": "gpt-4o", "input_per_mtok": 2.50, "output_per_mtok": 10.00, "cached_input_per_mtok": 1.25,
         "source": "src/rightmodel/constellation/prices.py (OpenAI list price)"}
# What a real frontier request for this task would carry (the projection column only; the ledger
# prices what B reports, which is the user text's tokens: B is a specialist, it needs no prompt).
SYSTEM_PROMPT = ("Classify the customer's banking message into exactly one of these intents. "
                 "Answer with the intent only.\nIntents: ")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_split(name: str) -> list[tuple[str, str]]:
    with (DATA / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(c - h, 4), round(c + h, 4)]


# ----------------------------------------------------------------------------- processes

class Procs:
    def __init__(self) -> None:
        self.live: dict[int, subprocess.Popen] = {}

    def gateway(self, name: str, config: dict, home: Path, env: dict) -> tuple[subprocess.Popen, str]:
        import yaml

        home.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        cfg = home / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [PY, "-m", "rightmodel.cli", "serve", "--config", str(cfg), "--port", str(port), "--home", str(config["storage"]["home"]),
                "--ledger-url", f"sqlite:///{home / 'ledger.db'}", "--journal-dir", str(home / "journal")]
        out = (home / f"{name}.log").open("ab")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        out.close()
        self.live[p.pid] = p
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 180
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited {p.returncode}: {(home / f'{name}.log').read_text(errors='replace')[-2000:]}")
            if benchlib.wait_http(f"{url}/readyz", 1, p, ok=lambda s: s == 200):
                return p, url
        raise RuntimeError(f"{name} did not become ready")

    def stop(self, p: subprocess.Popen, timeout: float = 30) -> int | None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {p.pid} ignored SIGTERM for {timeout:.0f} s: SIGKILL")
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait(5)
        self.live.pop(p.pid, None)
        return p.returncode

    def stop_all(self) -> None:
        for p in list(self.live.values()):
            log(f"stopping pid {p.pid}")
            self.stop(p, 10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROCS = Procs()


def _raise_exit(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_cli(args: list[str], env: dict, log_path: Path, timeout: float) -> tuple[float, str]:
    """A `rightmodel` CLI command as a child process (its own session); wall seconds and stdout."""
    t0 = time.perf_counter()
    with log_path.open("w") as out:
        p = subprocess.Popen([PY, "-m", "rightmodel.cli", *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        PROCS.live[p.pid] = p
        try:
            p.wait(timeout)
        finally:
            PROCS.stop(p)
    text = log_path.read_text(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"rightmodel {' '.join(args[:2])} exited {p.returncode}:\n{text[-3000:]}")
    return time.perf_counter() - t0, text


# ----------------------------------------------------------------------------- traffic

def send_all(url: str, model: str, texts: list[str], concurrency: int) -> list[dict]:
    """Each text as one chat request through the openai SDK; the answer and its rightmodel metadata."""
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)

    def one(text: str) -> dict:
        try:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
            meta = reply.model_extra.get("rightmodel") or {}
            return {"answer": reply.choices[0].message.content, "route": meta.get("route"), "confidence": meta.get("confidence"),
                    "model": meta.get("model"), "request_id": reply.id}
        except Exception as exc:  # recorded, counted, never hidden
            return {"answer": None, "route": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, texts))


def ledger(home: Path) -> dict:
    """Totals of a stopped gateway's SQLite ledger (chat rows)."""
    con = sqlite3.connect(home / "ledger.db")
    try:
        rows = con.execute("SELECT route, status, cost_usd, counterfactual_cost_usd, tokens_in, tokens_out, latency_ms, model_ms "
                           "FROM ledger_requests WHERE endpoint LIKE '%chat%'").fetchall()
    finally:
        con.close()
    by_route: dict[str, int] = {}
    for r in rows:
        by_route[r[0]] = by_route.get(r[0], 0) + 1
    n = len(rows)
    cost = sum(r[2] or 0 for r in rows)
    cf = sum(r[3] or 0 for r in rows)
    lat = sorted(r[6] for r in rows if r[6] is not None)
    return {"rows": n, "routes": by_route, "status_200": sum(r[1] == 200 for r in rows), "cost_usd": cost, "counterfactual_usd": cf,
            "cost_per_1k": 1000 * cost / n if n else None, "counterfactual_per_1k": 1000 * cf / n if n else None,
            "local_cost_usd": sum(r[2] or 0 for r in rows if r[0] == "specialist"),
            "tokens_in_mean": sum(r[4] for r in rows) / n if n else None, "tokens_out_mean": sum(r[5] for r in rows) / n if n else None,
            "latency_p50_ms": benchlib.pct(lat, 50) if lat else None, "latency_p99_ms": benchlib.pct(lat, 99) if lat else None}


def dump(path: Path, texts: list[str], results: list[dict]) -> None:
    with path.open("w") as f:
        for text, r in zip(texts, results):
            f.write(json.dumps({"text": text, **r}) + "\n")


def frontier_direct(version_dir: Path, test: list[tuple[str, str]], a0_ledger: Path) -> dict:
    """The frontier called in-process, one raw text per call, on the test split, beside how many test
    requests gateway A redacted before sending them to B (default `redact` policy): explains the gap
    between the frontier's accuracy on its card and through the gateway."""
    from rightmodel.specialists.runtime import SpecialistRuntime

    rt = SpecialistRuntime(version_dir)
    labels = [rt.predict([t], top_k=1)[0].labels[0] for t, _ in test]
    con = sqlite3.connect(a0_ledger)
    try:
        actions = dict(con.execute("SELECT privacy_action, count(*) FROM ledger_requests GROUP BY privacy_action").fetchall())
    finally:
        con.close()
    return {"accuracy_raw_one_at_a_time": sum(p == y for p, (_, y) in zip(labels, test)) / len(test),
            "through_gateway_privacy_actions": actions, "labels": labels}


def projected_per_1k(results: list[dict], texts: list[str], labels: list[str], local_usd: float) -> float:
    """Cost per 1k had each escalation carried a real frontier prompt (instructions + the 77 intents)
    at gpt-4o's list price, plus the measured local cost. A projection, labelled as such."""
    from rightmodel.constellation.costs import estimate_prompt_tokens, estimate_tokens

    system = SYSTEM_PROMPT + ", ".join(labels)
    usd = local_usd
    for r, text in zip(results, texts):
        if r["route"] in ("escalated", "remote"):
            tin = estimate_prompt_tokens([{"role": "system", "content": system}, {"role": "user", "content": text}])
            usd += (tin * GPT4O["input_per_mtok"] + estimate_tokens(r["answer"] or "") * GPT4O["output_per_mtok"]) / 1e6
    return 1000 * usd / len(results)


# ----------------------------------------------------------------------------- phases

def machine_info(a: argparse.Namespace) -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "?")
    git = lambda *x: subprocess.run(["git", "-C", str(ROOT), *x], capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_model": cpu, "nproc": os.cpu_count(),
            "python": platform.python_version(), "kernel": platform.release(), "git_commit": git("rev-parse", "--short", "HEAD"),
            "git_head_subject": git("log", "-1", "--format=%s")[:160],
            "uncommitted_relevant": git("status", "--porcelain", "--", "src/rightmodel/distill", "src/rightmodel/gateway",
                                        "src/rightmodel/cli.py", "src/rightmodel/specialists").splitlines(),
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
            "command": " ".join(shlex.quote(x) for x in [os.path.relpath(PY, ROOT), "bench/distill.py", *sys.argv[1:]])}


def ensure_frontier(a: argparse.Namespace, env: dict) -> dict:
    """The frontier's registry home (reused if it already holds the version); its card."""
    from rightmodel.evaluate.card import read_card
    from rightmodel.registry import Registry
    from rightmodel.specialists.export import SPEC_FILE

    key = f"rows{a.frontier_rows or 'all'}-ep{a.frontier_epochs or 'auto'}"
    home = Path(a.work) / f"frontier-{key}"
    out: dict = {"home": str(home), "reused": False}
    with Registry(home) as reg:
        versions = reg.list(TASK_B) if (home / "registry.db").exists() else []
    if not versions:
        home.mkdir(parents=True, exist_ok=True)
        data, extra = DATA / "train.csv", []
        if a.frontier_rows:
            rows = read_split("train")
            random.Random(5).shuffle(rows)
            data = home / "train-subset.csv"
            extra = ["--drop-rare"]
            with data.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([("text", "category"), *rows[: a.frontier_rows]])
        args = ["train", TASK_B, "--data", str(data), "--eval", str(DATA / "test.csv"), "--home", str(home), *extra]
        if a.frontier_epochs:
            args += ["--epochs", str(a.frontier_epochs)]
        log(f"training the frontier: rightmodel {' '.join(args)}")
        window = benchlib.Window(os.getpid())
        secs, _ = run_cli(args, env, home / "train.log", 3600)
        out.update(train_wall_s=round(secs, 1), train_machine=window.close(), command="rightmodel " + " ".join(args),
                   trained_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        (home / "bench-frontier.json").write_text(json.dumps(out, default=str))
        with Registry(home) as reg:
            versions = reg.list(TASK_B)
    else:
        if (home / "bench-frontier.json").exists():  # trained by an earlier run of this bench (e.g. --frontier-only)
            out.update(json.loads((home / "bench-frontier.json").read_text()))
        out["reused"] = True
    version = versions[-1]
    card = read_card(version.path)
    out.update(ref=version.ref, version=version.version, data_rows=a.frontier_rows or "all (official train split)",
               card_test_accuracy=card["metrics"]["accuracy"], card_train_seconds=card["training"].get("seconds"),
               card_epochs=card["training"].get("epochs"), labels=list(json.loads((version.path / SPEC_FILE).read_text())["labels"]))
    return out


def remote_model(b_url: str) -> dict:
    price = {k: GPT4O[k] for k in ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")}
    return {"kind": "openai", "base_url": f"{b_url}/v1", "model": TASK_B, "api_key_env": "DISTILL_BENCH_B_KEY", "timeout_s": 60, "price": price}


def a_config(b_url: str, home: Path, captures_url: str | None, specialist: bool, local_cost: float) -> dict:
    task: dict = {"escalate_to": "frontier"}
    models = {"frontier": remote_model(b_url)}
    if specialist:
        models["candidate"] = {"kind": "specialist", "task": TASK_A, "stage": "candidate"}
        task["specialist"] = "candidate"
    if captures_url:
        task["capture"] = {}
    cfg = {"models": models, "tasks": {TASK_A: task}, "defaults": {"frontier": "frontier", "local_cost_per_hour": local_cost},
           "storage": {"home": str(home)}}
    if captures_url:
        cfg["storage"]["captures_url"] = captures_url
    return cfg


def score(results: list[dict], truth: list[str], frontier: list[str | None]) -> dict:
    answered = [i for i, r in enumerate(results) if r["route"] not in ("error", None) and r["answer"]]
    local = [i for i in answered if results[i]["route"] == "specialist"]
    agree = sum(results[i]["answer"] == frontier[i] for i in local)
    right = sum(results[i]["answer"] == truth[i] for i in local)
    served_right = sum(results[i]["answer"] == truth[i] for i in answered)
    n = len(results)
    routes: dict[str, int] = {}
    for r in results:
        routes[r["route"]] = routes.get(r["route"], 0) + 1
    return {"requests": n, "answered": len(answered), "errors": routes.get("error", 0), "routes": routes, "local": len(local),
            "coverage": len(local) / n if n else None,
            "agreement_accepted": agree / len(local) if local else None, "agreement_accepted_ci95": wilson(agree, len(local)),
            "accepted_accuracy": right / len(local) if local else None, "accepted_accuracy_ci95": wilson(right, len(local)),
            "frontier_accuracy_on_accepted": sum(frontier[i] == truth[i] for i in local) / len(local) if local else None,
            "served_accuracy": served_right / n if n else None,
            "escalated_agreement_with_frontier": (sum(results[i]["answer"] == frontier[i] for i in answered if results[i]["route"] != "specialist")
                                                  / max(1, len(answered) - len(local)))}


def distill_one(a, n: int, captures_url: str, env: dict, b_url: str, test: list[tuple[str, str]], frontier_answers, labels) -> dict:
    from rightmodel.evaluate.card import read_card
    from rightmodel.registry import Registry

    home = Path(a.run) / f"n{n}"
    home.mkdir(parents=True, exist_ok=True)
    args = ["distill", TASK_A, "--home", str(home), "--captures-url", captures_url, "--limit", str(n),
            "--target-agreement", str(a.target_agreement), "--seed", str(a.seed)]
    if a.epochs:
        args += ["--epochs", str(a.epochs)]
    log(f"N={n}: rightmodel {' '.join(args)}")
    window = benchlib.Window(os.getpid())
    secs, text = run_cli(args, env, home / "distill.log", 3600)
    machine = window.close()
    m = re.search(r"registered (\S+@v\d+)", text)
    with Registry(home) as reg:
        version = reg.list(TASK_A)[-1]
    card = read_card(version.path)
    stamp = sorted((home / "distill" / TASK_A).iterdir())[-1]
    dataset = json.loads((stamp / "dataset.json").read_text())
    out = {"n": n, "command": "rightmodel " + " ".join(args), "distill_wall_s": round(secs, 1), "registered": m.group(1) if m else None,
           "stage": version.stage, "dataset": {k: v for k, v in dataset.items() if k != "unparseable_answers"},
           "unparseable_examples": dataset.get("unparseable_answers", [])[:5],
           "card": {"train_seconds": card["training"].get("seconds"), "epochs": card["training"].get("epochs"),
                    "labels_trained": card["data"].get("n_labels") or len(card.get("labels", []) or []),
                    "heldout_n": card["data"].get("n_eval"), "heldout_agreement": card["metrics"]["accuracy"],
                    "threshold": card["calibration"]["threshold"], "target": card["calibration"].get("target_accuracy"),
                    "heldout_coverage": (card.get("calibration_on_eval") or {}).get("coverage"),
                    "heldout_accepted_agreement": (card.get("calibration_on_eval") or {}).get("accepted_accuracy")},
           "distill_machine": machine}
    log(f"N={n}: {out['registered']} in {secs:.0f} s; held-out captures {out['card']['heldout_n']}: agreement "
        f"{out['card']['heldout_agreement']:.4f}, threshold {out['card']['threshold']:.4f}, coverage {out['card']['heldout_coverage']}")
    gw_home = home / "gateway"
    p, url = PROCS.gateway(f"a-n{n}", a_config(b_url, home, None, True, a.local_cost_per_hour), gw_home, env)
    window = benchlib.Window(os.getpid())
    t0 = time.perf_counter()
    results = send_all(url, TASK_A, [t for t, _ in test], a.concurrency)
    dump(home / "test-results.jsonl", [t for t, _ in test], results)
    out["serve_s"] = round(time.perf_counter() - t0, 1)
    out["serve_machine"] = window.close()
    out["gateway_exit"] = PROCS.stop(p)
    out["test"] = score(results, [y for _, y in test], frontier_answers)
    out["ledger"] = ledger(gw_home)
    out["projected_per_1k"] = projected_per_1k(results, [t for t, _ in test], labels, out["ledger"]["local_cost_usd"])
    t = out["test"]
    log(f"N={n}: coverage {t['coverage']:.3f}, agreement on local {t['agreement_accepted']}, accepted accuracy "
        f"{t['accepted_accuracy']}, served accuracy {t['served_accuracy']:.4f}, ${out['ledger']['cost_per_1k']:.5f}/1k")
    return out


def run(a: argparse.Namespace) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DISTILL_BENCH_B_KEY": "sk-bench"}
    for k in ("RIGHTMODEL_HOME", "RIGHTMODEL_LEDGER_URL", "RIGHTMODEL_CAPTURES_URL", "RIGHTMODEL_DATABASE_URL"):
        env.pop(k, None)
    run_dir = Path(a.run)
    run_dir.mkdir(parents=True, exist_ok=True)
    out: dict = {"machine": machine_info(a), "params": {k: v for k, v in vars(a).items()}, "frontier_price": GPT4O}
    t_all = time.perf_counter()
    out["frontier"] = fr = ensure_frontier(a, env)
    if a.frontier_only:
        return out
    log(f"frontier: {fr['ref']} (test accuracy on its card {fr['card_test_accuracy']:.4f}; reused: {fr['reused']})")
    labels = fr["labels"] or sorted({y for _, y in read_split("train")})

    b_cfg = {"models": {"banking77-v": {"kind": "specialist", "task": TASK_B, "version": fr["version"]}},
             "tasks": {TASK_B: {"specialist": "banking77-v", "threshold": 0.0}}, "storage": {"home": fr["home"]},
             # One text per ONNX call: int8 dynamic quantisation makes a label depend on its batch-mates
             # (README), and the reference answers must not depend on what else was in flight.
             "defaults": {"batch_max_size": 1}}
    b, b_url = PROCS.gateway("frontier-b", b_cfg, run_dir / "b", env)

    # Capture: distinct train-split texts, seeded order, through A (no specialist, capture on).
    seen, pool = set(), []
    for text, label in read_split("train"):
        if fold(text) not in seen:
            seen.add(fold(text))
            pool.append((text, label))
    random.Random(a.seed).shuffle(pool)
    captured_texts = pool[: a.captures]
    captures_url = f"sqlite:///{run_dir / 'captures.db'}"
    p, url = PROCS.gateway("a-capture", a_config(b_url, run_dir / "a-home", captures_url, False, a.local_cost_per_hour), run_dir / "a-capture", env)
    window = benchlib.Window(os.getpid())
    t0 = time.perf_counter()
    res = send_all(url, TASK_A, [t for t, _ in captured_texts], a.concurrency)
    dump(run_dir / "capture-results.jsonl", [t for t, _ in captured_texts], res)
    cap = {"sent": len(res), "seconds": round(time.perf_counter() - t0, 1), "machine": window.close(),
           "routes": {r: sum(x["route"] == r for x in res) for r in {x["route"] for x in res}},
           "frontier_accuracy_on_captured": sum(x["answer"] == y for x, (_, y) in zip(res, captured_texts)) / len(res)}
    cap["gateway_exit"] = PROCS.stop(p)
    cap["ledger"] = ledger(run_dir / "a-capture")
    from rightmodel.distill.store import CaptureStore

    store = CaptureStore(captures_url)
    try:
        rows = store.fetch(TASK_A)
    finally:
        store.close()
    said = {t: x["answer"] for (t, _), x in zip(captured_texts, res)}
    plain = [r for r in rows if not r.redacted]
    cap.update(stored=len(rows), redacted=len(rows) - len(plain), unredacted=len(plain),
               unredacted_answer_equals_served=sum(r.answer == said.get(r.input) for r in plain))
    out["capture"] = cap
    log(f"captured {cap['stored']} of {cap['sent']} pairs in {cap['seconds']} s (routes {cap['routes']}; {cap['redacted']} redacted)")

    # All-frontier baseline on the official test split (capture off).
    test = read_split("test")[: a.test_limit] if a.test_limit else read_split("test")
    p, url = PROCS.gateway("a-frontier-only", a_config(b_url, run_dir / "a-home", None, False, a.local_cost_per_hour), run_dir / "a0", env)
    window = benchlib.Window(os.getpid())
    t0 = time.perf_counter()
    base = send_all(url, TASK_A, [t for t, _ in test], a.concurrency)
    dump(run_dir / "baseline-results.jsonl", [t for t, _ in test], base)
    frontier_answers = [r["answer"] for r in base]
    out["baseline"] = {"seconds": round(time.perf_counter() - t0, 1), "machine": window.close(), "gateway_exit": PROCS.stop(p),
                       "test": score(base, [y for _, y in test], frontier_answers), "ledger": ledger(run_dir / "a0"),
                       "frontier_accuracy": sum(r["answer"] == y for r, (_, y) in zip(base, test)) / len(test)}
    out["baseline"]["projected_per_1k"] = projected_per_1k(base, [t for t, _ in test], labels, 0.0)
    direct = frontier_direct(Path(fr["home"]) / "models" / TASK_B / fr["version"], test, run_dir / "a0" / "ledger.db")
    fd = out["baseline"]["frontier_direct"] = {k: v for k, v in direct.items() if k != "labels"}
    fd["gateway_answer_differs"] = sum(x != y for x, y in zip(direct["labels"], frontier_answers))
    log(f"all-frontier on {len(test)} test texts: accuracy {out['baseline']['frontier_accuracy']:.4f}, "
        f"${out['baseline']['ledger']['cost_per_1k']:.5f}/1k")

    out["sizes"] = []
    for n in a.sizes:
        out["sizes"].append(distill_one(a, n, captures_url, env, b_url, test, frontier_answers, labels))
        save(a, {**out, "partial": f"sizes done so far: {[x['n'] for x in out['sizes']]}"})
    out["frontier_b_exit"] = PROCS.stop(b)
    out["b_ledger"] = ledger(run_dir / "b")
    out["runtime_s"] = round(time.perf_counter() - t_all, 1)
    last = next((s for s in out["sizes"] if s["n"] == 3000), None)
    if last is not None:
        cov, agr = last["test"]["coverage"], last["test"]["agreement_accepted"] or 0.0
        out["acceptance"] = {"n": 3000, "coverage": cov, "agreement": agr, "met": cov >= 0.70 and agr >= 0.98,
                             "coverage_gap_points": round(100 * (cov - 0.70), 2), "agreement_gap_points": round(100 * (agr - 0.98), 2)}
    return out


def save(a: argparse.Namespace, result: dict) -> None:
    result.setdefault("started", a.started)
    result.setdefault("finished", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{a.name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / f"{a.name}.md").write_text(render(result))


def annotate(a: argparse.Namespace) -> int:
    """The frontier check (frontier_direct) for a finished run: reads its run directory, re-renders."""
    path = Path(a.annotate)
    result = json.loads(path.read_text())
    p, fr, run_dir = result["params"], result["frontier"], Path(result["params"]["run"])
    test = read_split("test")[: p["test_limit"]] if p.get("test_limit") else read_split("test")
    with sqlite3.connect(run_dir / "a0" / "ledger.db") as con:
        n = con.execute("SELECT count(*) FROM ledger_requests").fetchone()[0]
    direct = frontier_direct(Path(fr["home"]) / "models" / TASK_B / fr["version"], test, run_dir / "a0" / "ledger.db")
    fd = result["baseline"]["frontier_direct"] = {k: v for k, v in direct.items() if k != "labels"}
    fd["added_after_the_run_by"] = f"bench/distill.py --annotate {path.name} at {time.strftime('%H:%M UTC', time.gmtime())} (ledger rows: {n})"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    path.with_suffix(".md").write_text(render(result))
    log(f"frontier one text at a time, raw: {fd['accuracy_raw_one_at_a_time']:.4f}; gateway privacy actions {fd['through_gateway_privacy_actions']}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,300,1000,3000", help="captures used per distillation (the oldest N)")
    ap.add_argument("--captures", type=int, default=3000, help="distinct train-split texts sent through gateway A")
    ap.add_argument("--test-limit", type=int, default=None, help="first N test texts only (dry runs)")
    ap.add_argument("--target-agreement", type=float, default=0.98)
    ap.add_argument("--epochs", type=int, default=None, help="distill --epochs (default: the recipe's, from data size)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--frontier-rows", type=int, default=None, help="train the frontier on a subset (dry runs)")
    ap.add_argument("--frontier-epochs", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--local-cost-per-hour", type=float, default=0.10)
    ap.add_argument("--work", default="/tmp/rightmodel-distill-bench")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--name", default="distill", help="results file stem")
    ap.add_argument("--lock-wait", type=int, default=3600)
    ap.add_argument("--annotate", default=None, help="add the in-process frontier check to an existing results JSON of a run that predates it")
    ap.add_argument("--frontier-only", action="store_true", help="train (or find) the frontier and stop")
    ap.add_argument("--no-lock", action="store_true", help="dry runs only: do not take /tmp/bench.lock (recorded)")
    a = ap.parse_args(argv)
    a.sizes = [int(x) for x in a.sizes.split(",") if x]
    a.run = str(Path(a.work) / f"run-{time.strftime('%Y%m%d-%H%M%S')}")
    signal.signal(signal.SIGTERM, _raise_exit)
    if a.annotate:
        return annotate(a)
    lock = benchlib.BenchLock("bench/distill.py", time.strftime("%Y%m%d-%H%M%S"), a.lock_wait, log=log)
    if not a.no_lock:
        lock.acquire()
    a.started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    try:
        result = run(a)
    finally:
        PROCS.stop_all()
        lock.release()
    if a.frontier_only:
        print(json.dumps(result["frontier"], indent=1, default=str))
        return 0
    save(a, result)
    log(f"wrote {a.out}/{a.name}.json and .md")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
