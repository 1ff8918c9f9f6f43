"""Benchmark: the rightmodel gateway's overhead, in one run, on loopback, with CPU pinning.

(a) Specialist requests. POST /v1/chat/completions with `model` = a task served by a local
    specialist, and POST /v1/classify, at each concurrency, against the same specialist called
    in-process: `SpecialistRuntime.predict_proba([text])` one text at a time (c=1) and
    `MicroBatcher` with N concurrent asyncio callers (at every c, c=1 included), batching settings as
    the gateway's defaults. Texts cycle through the 3,080 Banking77 test texts. The specialist is trained by the
    bench (1 epoch on 2,002 Banking77 train rows, 26 per intent) and promoted: throughput does not
    depend on accuracy. Measured with the gateway pinned to CPU 0 (ONNX Runtime 1 thread) and again
    unpinned on both cores (ONNX Runtime default threads), the load generator on CPU 1 both times.
(b) Passthrough chat requests, non-streaming and streaming, to a fixed-response nginx upstream:
    directly, through rightmodel (ledger on, SQLite in --home) and through LiteLLM's proxy
    (num_retries 0, no DB). rightmodel has retries 0 too.

(c) A lean server (issue 18): for each specialist gateway, the time from process start to the
    first 200 from /readyz, and its RSS right after exactly --rss-requests (default 10,000) chat
    completions with privacy detection on (the constellation keeps the default): four in five
    answered by the specialist, one in five carrying a name, an e-mail, a phone and a card number
    and sent to the remote model (nginx), so detection runs on it and redacts before it leaves
    (detection runs only on what leaves); LiteLLM's RSS in the same run next to it. Privacy is
    shown to have run by the ledger (rows with a privacy policy).

Load: wrk, 1 thread, closed loop, keep-alive, `bench/gateway/bodies.lua`. Pinning: gateway (and the
direct baseline process) on CPU 0; nginx and wrk on CPU 1. CPU ms per request = utime+stime of
the gateway's process tree (/proc/<pid>/stat, all threads) over the step / responses. After each
rightmodel instance is stopped with SIGTERM (which flushes the ledger), the rows of
`ledger_requests` are counted against the responses the clients received. The bench specialist's
task has `threshold: 0` (bench/gateway/specialist.yaml) so every request for it is answered locally.
Before measuring it waits (up to --quiet-wait s) for other processes to go quiet, and for every
step it records the CPU used by processes it did not start (`others, cores` in the tables).

Writes bench/results/gateway.json and bench/results/gateway.md (or --out DIR). Work files (runs,
logs, the LiteLLM venv) go to --work (default $TMPDIR/rightmodel-bench-gateway). Installs what
is missing: nginx and wrk with apt-get (as root), litellm[proxy] into WORK/litellm-venv with pip.
While measuring it holds /tmp/bench.lock. Every process it starts is stopped at exit, also on
Ctrl-C or SIGTERM.

Usage: .venv/bin/python bench/gateway.py [--duration 10] [--warmup 3] [--concurrency "1 16 64"]
           [--only specialist|passthrough] [--skip-litellm] [--rss-requests 10000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import secrets
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from benchlib import BenchError, affinity, http, log, mib, set_aside_ledger, status_kib, wait_http
from benchlib import (LOCK, CLK_TCK, BenchLock, Procs, Window, busy, cpu_snapshot, cpu_ticks, pct,  # noqa: F401  (re-exported,
                      port_busy, proc_snapshot, tree)  # gwbench.X: bench/load.py and bench/privacy* use them through this module)
from gateway_bench.harness import (CONF, EXPECTED_TEXT, GATEWAY_PORT, GW_CPU, KEY, LITELLM_ENV, LITELLM_PORT, LOAD_CPU, NO_DB_ENV, PROCS,
                                    ROOT, TASK, TRAIN_PER_INTENT, UPSTREAM_PORT, Harness)
from gateway_bench.render import evaluate_targets, lean_targets
from gateway_bench.render import fmt  # noqa: F401  (unused here: re-exported)
from gateway_bench.render import render as render_md


def write_train_subset(path: Path, per_intent: int = TRAIN_PER_INTENT) -> list[tuple[str, str]]:
    """A seeded, balanced slice of Banking77's official train split as a training CSV (the benches'
    specialist: every intent, `per_intent` texts each); returns its rows."""
    from rightmodel.data.shipped import banking77

    train = banking77("train")
    by: dict[str, list[str]] = {}
    for text, labels in zip(train.texts, train.labels):
        by.setdefault(labels[0], []).append(text)
    rng = random.Random(7)
    rows: list[tuple[str, str]] = []
    for label in sorted(by):
        texts = by[label][:]
        rng.shuffle(texts)
        rows += [(t, label) for t in texts[:per_intent]]
    rng.shuffle(rows)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "category"])
        w.writerows(rows)
    return rows




def _raise_exit(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ----------------------------------------------------------------------------- the run


class Run(Harness):
    """The phases: specialist (rightmodel vs in-process), passthrough (direct, rightmodel, LiteLLM)."""

    # --------------------------------------------------------------- checks on a target
    def check_passthrough(self, name: str, base: str, key: str, counter: dict | None, phase: str, stream_base: str | None = None) -> None:
        say = [{"role": "user", "content": "Say hello."}]
        s, _, b = http("POST", f"{base}/v1/chat/completions", {"model": "gpt-4o-mini", "messages": say, "max_tokens": 16}, key)
        ok = False
        try:
            ok = s == 200 and json.loads(b)["choices"][0]["message"]["content"] == EXPECTED_TEXT
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        self.check(ok, f"{name} non-stream answer {phase}" + ("" if ok else f": HTTP {s} {b[:200]!r}"))
        s2, _, b2 = http("POST", f"{stream_base or base}/v1/chat/completions",
                         {"model": "gpt-4o-mini-stream", "messages": say, "max_tokens": 16, "stream": True}, key)
        text = b2.decode(errors="replace")
        ok2 = s2 == 200 and "data: [DONE]" in text and '"content":"Hello"' in text.replace(" ", "")
        self.check(ok2, f"{name} stream answer {phase} ({text.count('data:')} SSE events)" + ("" if ok2 else f": HTTP {s2} {b2[:200]!r}"))
        if counter is not None:
            counter["checks"] += (s > 0) + (s2 > 0)

    def check_specialist(self, name: str, base: str, counter: dict, phase: str) -> None:
        text = "I still have not received my new card, what should I do?"
        s, h, b = http("POST", f"{base}/v1/chat/completions", {"model": TASK, "messages": [{"role": "user", "content": text}]})
        ok = False
        try:
            route = {k.lower(): v for k, v in h.items()}.get("x-rightmodel-route")
            ok = s == 200 and bool(json.loads(b)["choices"][0]["message"]["content"]) and route == "specialist"
        except (ValueError, KeyError, IndexError, TypeError):
            route = None
        self.check(ok, f"{name} chat answered by the specialist {phase} (route {route})" + ("" if ok else f": HTTP {s} {b[:200]!r}"))
        s2, _, b2 = http("POST", f"{base}/v1/classify", {"model": TASK, "input": text})
        ok2 = False
        try:
            ok2 = s2 == 200 and bool(json.loads(b2)["data"][0]["label"])
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        self.check(ok2, f"{name} classify answered {phase}" + ("" if ok2 else f": HTTP {s2} {b2[:200]!r}"))
        counter["checks"] += (s > 0) + (s2 > 0)

    # --------------------------------------------------------------- rightmodel gateway
    def start_rightmodel(self, label: str, config: Path, home: Path, cpus: str, threads: int | None) -> tuple[subprocess.Popen, dict]:
        if set_aside_ledger(home, f"{self.run_id}-before-{label}"):
            log(f"an earlier ledger in {home} was moved aside: this instance's rows are counted alone")
        if self.a.gateway_cmd:
            argv = shlex.split(self.a.gateway_cmd.format(port=GATEWAY_PORT))
            ready = f"http://127.0.0.1:{GATEWAY_PORT}/v1/models"
        else:
            argv = [sys.executable, "-m", "rightmodel.cli", "serve", "--config", str(config), "--port", str(GATEWAY_PORT),
                    "--home", str(home), "--log-level", "warning"]
            if threads:
                argv += ["--threads", str(threads)]
            ready = f"http://127.0.0.1:{GATEWAY_PORT}/readyz"
        inst = {"label": label, "cpus": cpus, "argv": " ".join(shlex.quote(x) for x in argv)}
        if not self.a.gateway_cmd and config.name == "specialist.yaml":
            inst["onnx_threads"] = threads or "default"
        log(f"starting {label}: taskset -c {cpus} {inst['argv']}")
        t0 = time.time()
        p = PROCS.start(label, argv, cpus=cpus, log_path=self.logs / f"{label}.log", env=self.env, cwd=ROOT)
        if not wait_http(ready, 120, p, ok=lambda s: s == 200, interval=0.02):
            tail = (self.logs / f"{label}.log").read_text(errors="replace")[-3000:]
            PROCS.stop(p)
            raise BenchError(f"{label} did not become ready at {ready} within 120 s (exit code {p.returncode}); log tail:\n{tail}")
        inst["startup_s"] = round(time.time() - t0, 2)  # process start to the first 200 from the readiness URL (polled every 20 ms)
        inst["pid"] = p.pid
        inst["affinity"] = affinity(p.pid)
        time.sleep(1)
        inst["rss_idle_mib"] = mib(status_kib(p.pid, "VmRSS"))
        self.instances[label] = inst
        return p, inst

    def stop_instance(self, p: subprocess.Popen, inst: dict, counter: dict | None = None) -> None:
        inst["rss_after_mib"] = mib(status_kib(p.pid, "VmRSS"))
        if counter is not None:
            inst["answered_before_rss_after"] = counter["answered"] + counter["checks"]  # requests served when that RSS was read
        inst["rss_peak_mib"] = mib(status_kib(p.pid, "VmHWM"))
        took = PROCS.stop(p, timeout=60)
        inst["stop_s"] = round(took, 2) if took is not None else "killed after 60 s"
        inst["exit_code"] = p.returncode
        if inst["label"].startswith("rightmodel") and p.returncode not in (0, None):
            try:
                last = (self.logs / f"{inst['label']}.log").read_text(errors="replace").strip().splitlines()[-1][:200]
            except (OSError, IndexError):
                last = ""
            self.problems.append(f"{inst['label']} exited with code {p.returncode} after SIGTERM (a graceful stop); last log line: "
                                 f"{last!r} (see the ledger row count for whether the stop flushed)")

    def ledger_check(self, label: str, home: Path, counter: dict) -> dict:
        """Rows of ledger_requests after the gateway flushed on SIGTERM vs what the clients got back.

        answered = responses wrk and the checks received; sent = requests written. Requests still in
        flight when a wrk run stopped (sent - answered) may or may not have been completed by the
        gateway, so the rows must lie in [answered, sent], and request ids must be unique."""
        db = home / "ledger.db"
        res: dict = {"instance": label, "answered": counter["answered"] + counter["checks"], "sent": counter["sent"] + counter["checks"]}
        if not db.exists():
            res["error"] = f"{db} does not exist"
            self.check(False, f"{label} ledger: {res['error']}")
            return res
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            res["rows"], res["distinct_ids"] = con.execute("SELECT count(*), count(DISTINCT request_id) FROM ledger_requests").fetchone()
            # privacy detection ran on a request when its row has a policy; pii_entities holds what it found
            res["privacy_scanned"], res["privacy_found"] = con.execute(
                "SELECT count(privacy_policy), count(CASE WHEN pii_entities IS NOT NULL AND pii_entities NOT IN ('', '{}', 'null') "
                "THEN 1 END) FROM ledger_requests").fetchone()
            res["by"] = [
                {"endpoint": e, "route": r, "stream": bool(s), "status": st, "rows": n}
                for e, r, s, st, n in con.execute(
                    "SELECT endpoint, route, stream, status, count(*) FROM ledger_requests GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC")
            ]
        finally:
            con.close()
        journal = home / "ledger-journal"
        res["journal_files_left"] = sorted(p.name for p in journal.iterdir()) if journal.exists() else []
        ok = res["answered"] <= res["rows"] <= res["sent"] and res["rows"] == res["distinct_ids"]
        res["ok"] = ok
        self.check(ok, f"{label} ledger rows {res['rows']:,} (distinct ids {res['distinct_ids']:,}) within "
                       f"[answered {res['answered']:,}, sent {res['sent']:,}]")
        set_aside_ledger(home, f"{self.run_id}-{label}")  # kept for inspection; the next instance starts afresh
        return res

    # --------------------------------------------------------------- (a) specialist
    def train_specialist(self) -> Path:
        if self.a.specialist_home:
            home = Path(self.a.specialist_home).resolve()
            self.meta["specialist"] = f"reused from {home} (--specialist-home)"
            return home
        home = self.dir / "home"

        data = self.dir / "train-subset.csv"
        rows = write_train_subset(data)
        log(f"training {TASK} on {len(rows)} Banking77 train rows, {self.a.epochs} epoch(s), into {home}")
        t0 = time.time()
        cli = [sys.executable, "-m", "rightmodel.cli"]
        with open(self.logs / "train.log", "ab") as out:
            r = subprocess.run([*cli, "train", TASK, "--data", str(data), "--epochs", str(self.a.epochs), "--home", str(home),
                                "--calibration-mode", "split"],  # one model: cross-fitting would train five more
                               stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, timeout=1800)
            if r.returncode == 0:
                r = subprocess.run([*cli, "models", "--home", str(home), "promote", f"{TASK}@v1", "--force", "--reason",
                                    "bench: throughput and memory do not depend on how much it answers locally"], stdout=out,
                                   stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, timeout=300)
        if r.returncode != 0:
            raise BenchError(f"training or promotion failed (see {self.logs / 'train.log'})")
        try:
            acc = json.loads((home / "models" / TASK / "v1" / "card.json").read_text())["metrics"]["accuracy"]
        except (OSError, ValueError, KeyError, TypeError):
            acc = None
        self.meta["specialist"] = (f"{TASK}@v1 trained by this run: {len(rows)} Banking77 train rows ({TRAIN_PER_INTENT} per intent), "
                                   f"{self.a.epochs} epoch(s), {time.time() - t0:.0f} s incl. export, then promoted"
                                   + (f"; held-out accuracy {acc:.3f} (irrelevant to throughput)" if isinstance(acc, (int, float)) else ""))
        return home

    def direct(self, home: Path, config: str, cpus: str, threads: int | None) -> None:
        """The in-process baseline, in its own process (pinned like the gateway)."""
        out = self.dir / f"direct-{config}.jsonl"
        argv = [sys.executable, str(Path(__file__).resolve()), "--_direct", str(home), "--_out", str(out),
                "--duration", str(self.a.duration), "--warmup", str(self.a.warmup), "--concurrency", self.a.concurrency,
                "--_threads", str(threads or 0), "--_root", str(os.getpid())]
        log(f"direct baseline ({config}): taskset -c {cpus}, ONNX Runtime threads {threads or 'default'}")
        p = PROCS.start(f"direct-{config}", argv, cpus=cpus, log_path=self.logs / f"direct-{config}.log", env=self.env, cwd=ROOT)
        budget = len(self.conc) * (self.a.duration + self.a.warmup + 5) + 120
        try:
            rc = p.wait(budget)
        except subprocess.TimeoutExpired:
            PROCS.stop(p)
            rc = -1
        PROCS.live.pop(p.pid, None)
        if rc != 0 or not out.exists():
            tail = (self.logs / f"direct-{config}.log").read_text(errors="replace")[-2000:]
            self.check(False, f"direct baseline ({config}) exit code {rc}: {tail}")
            return
        for line in out.read_text().splitlines():
            r = json.loads(line)
            r.update(phase="specialist", target="direct", config=config)
            self.rows.append(r)
            log(f"      direct {config:>9} {r['mode']:>14} c={r['conc']:<3} req/s={r['rps']:>9.1f} p50={r['p50_ms']:>8.2f} ms "
                f"p99={r['p99_ms']:>8.2f} ms cpu/req={r['cpu_ms_per_req']} ms")

    def specialist_phase(self, home: Path, bodies: dict[str, Path]) -> None:
        base = f"http://127.0.0.1:{GATEWAY_PORT}"
        for config, cpus, threads in (("pinned", str(GW_CPU), 1), ("unpinned", self.all_cpus, None)):
            self.direct(home, config, cpus, threads)
            label = f"rightmodel-specialist-{config}"
            p, inst = self.start_rightmodel(label, CONF / "specialist.yaml", home, cpus, threads)
            counter = {"answered": 0, "sent": 0, "checks": 0}
            try:
                self.check_specialist(label, base, counter, "before load")
                if self.a.rss_requests:
                    self.rss_after_requests(label, p, inst, bodies["chat-pii"], counter)
                for endpoint, path in (("chat", "/v1/chat/completions"), ("classify", "/v1/classify")):
                    self.warm(base + path, bodies[endpoint], KEY, f"{label}-{endpoint}", counter)
                    if endpoint == "chat":
                        inst["rss_warm_mib"] = mib(status_kib(p.pid, "VmRSS"))
                    for c in self.conc:
                        self.step({"phase": "specialist", "target": "rightmodel", "config": config,
                                   "mode": f"{endpoint}"}, base + path, bodies[endpoint], c, KEY, p.pid, counter)
                self.check_specialist(label, base, counter, "after load")
            finally:
                self.stop_instance(p, inst, counter)
            inst["ledger"] = self.ledger_check(label, home, counter)

    def rss_after_requests(self, label: str, p: subprocess.Popen, inst: dict, bodies: Path, counter: dict) -> None:
        """RSS after exactly --rss-requests chat completions (privacy on: the constellation keeps the
        default detection), the first requests this instance serves after its checks."""
        n = self.a.rss_requests
        lines = [line.encode() for line in bodies.read_text().splitlines() if line]
        log(f"{label}: {n:,} chat completions (4 connections; one in five with PII, to the remote model) before reading RSS")
        res = self.fixed_requests("/v1/chat/completions", lines, n, KEY, conc=4)
        inst["rss_after_n_mib"] = mib(status_kib(p.pid, "VmRSS"))
        inst["rss_requests"] = res
        counter["answered"] += res["answered"]
        counter["sent"] += res["sent"]
        self.check(res["ok"] == n, f"{label}: {res['ok']:,} of {n:,} chat completions answered 200 in {res['seconds']} s, "
                                   f"then RSS {inst['rss_after_n_mib']} MiB")

    # --------------------------------------------------------------- (b) passthrough
    def passthrough_phase(self, bodies: dict[str, Path]) -> None:
        up = f"http://127.0.0.1:{UPSTREAM_PORT}"
        self.check_passthrough("upstream", up, KEY, None, "", stream_base=up + "/stream")
        for mode, path in (("nostream", "/v1/chat/completions"), ("stream", "/stream/v1/chat/completions")):
            for c in self.conc:
                self.step({"phase": "passthrough", "target": "upstream", "mode": mode}, up + path, bodies[mode], c, KEY,
                          self.nginx.pid, None)
        # rightmodel (or --gateway-cmd)
        name = self.a.gateway_name if self.a.gateway_cmd else "rightmodel"
        label = f"{name}-passthrough"
        home = self.dir / "home-passthrough"
        p, inst = self.start_rightmodel(label, CONF / "passthrough.yaml", home, str(GW_CPU), None)
        base = f"http://127.0.0.1:{GATEWAY_PORT}"
        counter = {"answered": 0, "sent": 0, "checks": 0}
        try:
            self.measure_passthrough(name, base, KEY, p, inst, bodies, counter)
        finally:
            self.stop_instance(p, inst, counter)
        if not self.a.gateway_cmd:
            inst["ledger"] = self.ledger_check(label, home, counter)
        if self.do_litellm:
            self.litellm_phase(bodies)

    def measure_passthrough(self, name: str, base: str, key: str, p, inst: dict, bodies: dict[str, Path], counter: dict | None) -> None:
        self.check_passthrough(name, base, key, counter, "before load")
        for mode in ("nostream", "stream"):
            self.warm(base + "/v1/chat/completions", bodies[mode], key, f"{name}-{mode}", counter)
            if mode == "nostream":
                inst["rss_warm_mib"] = mib(status_kib(p.pid, "VmRSS"))
            for c in self.conc:
                self.step({"phase": "passthrough", "target": name, "mode": mode}, base + "/v1/chat/completions", bodies[mode], c,
                          key, p.pid, counter)
        self.check_passthrough(name, base, key, counter, "after load")

    def litellm_phase(self, bodies: dict[str, Path]) -> None:
        venv = self.litellm_venv()
        key = "sk-bench-" + secrets.token_hex(24)  # this LiteLLM refuses to start without a master key
        env = {k: v for k, v in os.environ.items() if k not in NO_DB_ENV}
        env.update(LITELLM_ENV, LITELLM_MASTER_KEY=key)
        argv = [str(venv / "bin" / "litellm"), "--config", str(CONF / "litellm.yaml"), "--host", "127.0.0.1", "--port", str(LITELLM_PORT)]
        cwd = self.dir / "litellm-cwd"
        cwd.mkdir(exist_ok=True)
        log(f"starting LiteLLM: taskset -c {GW_CPU} {' '.join(argv)}")
        t0 = time.time()
        p = PROCS.start("litellm", argv, cpus=str(GW_CPU), log_path=self.logs / "litellm.log", env=env, cwd=cwd)
        inst = {"label": "litellm", "cpus": str(GW_CPU), "argv": " ".join(argv)}
        self.instances["litellm"] = inst
        counter = {"answered": 0, "sent": 0, "checks": 0}
        try:
            if not wait_http(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", 180, p, ok=lambda s: s == 200):
                self.check(False, f"LiteLLM did not start within 180 s (see {self.logs / 'litellm.log'})")
                return
            inst["startup_s"] = round(time.time() - t0, 1)
            inst["pid"], inst["affinity"] = p.pid, affinity(p.pid)
            time.sleep(2)
            inst["rss_idle_mib"] = mib(status_kib(p.pid, "VmRSS"))
            try:
                v = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                                   capture_output=True, text=True, timeout=60).stdout.strip()
                self.meta["litellm"] = v
            except (OSError, subprocess.TimeoutExpired):
                pass
            self.measure_passthrough("litellm", f"http://127.0.0.1:{LITELLM_PORT}", key, p, inst, bodies, counter)
        finally:
            self.stop_instance(p, inst, counter)

    # --------------------------------------------------------------- main
    def run(self) -> None:
        self.ensure_tools()
        if self.do_litellm:
            self.ensure_litellm()
        self.preflight()
        self.collect_meta()
        bodies = self.write_bodies()
        home = self.train_specialist() if self.a.only != "passthrough" else None
        self.acquire_lock()
        self.wait_quiet()
        self.meta["loadavg_at_measure_start"] = Path("/proc/loadavg").read_text().split()[:3]
        t0 = time.time()
        try:
            self.start_nginx()
            if home is not None:
                self.specialist_phase(home, bodies)
            if self.a.only != "specialist":
                self.passthrough_phase(bodies)
        finally:
            if self.nginx is not None:
                PROCS.stop(self.nginx)
            self.release_lock()
            self.meta["measure_s"] = round(time.time() - t0, 1)


# ----------------------------------------------------------------------------- report


def render(result: dict) -> str:
    """bench/results/gateway.md (gateway_bench/render.py) for this bench's CPU pinning."""
    return render_md(result, GW_CPU, LOAD_CPU)


# ----------------------------------------------------------------------------- entry point


def out_name(a: argparse.Namespace) -> str:
    return os.path.relpath(Path(a.out) / "gateway.*", ROOT)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured step (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up seconds per target and mode, at c=16 (default 3)")
    ap.add_argument("--concurrency", default="1 16 64", help='concurrency levels (default "1 16 64")')
    ap.add_argument("--only", choices=("specialist", "passthrough"), help="run one half only")
    ap.add_argument("--skip-litellm", action="store_true", help="passthrough without LiteLLM")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results directory (default bench/results)")
    ap.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "rightmodel-bench-gateway"),
                    help="work directory: runs, logs, the LiteLLM venv (default $TMPDIR/rightmodel-bench-gateway)")
    ap.add_argument("--litellm-venv", help="use the LiteLLM venv at this path (default WORK/litellm-venv, installed if missing)")
    ap.add_argument("--litellm-spec", default="litellm[proxy]", help="pip requirement installed into a new LiteLLM venv")
    ap.add_argument("--epochs", type=int, default=1, help="epochs for the bench specialist (default 1)")
    ap.add_argument("--specialist-home", help="reuse a home that already has bench-intent in production (skip training)")
    ap.add_argument("--gateway-cmd", help="measure another gateway instead of rightmodel in the passthrough half "
                                          "(command with {port}; no ledger check), e.g. the aiohttp example")
    ap.add_argument("--gateway-name", default="other-gateway", help="label for --gateway-cmd")
    ap.add_argument("--rss-requests", type=int, default=10_000,
                    help="chat completions sent to each specialist instance before its RSS is read (default 10000; 0 = skip)")
    ap.add_argument("--quiet-wait", type=int, default=300,
                    help="seconds to wait for other processes to go quiet before measuring (default 300; 0 = do not wait)")
    ap.add_argument("--lock-wait", type=int, default=600, help="seconds to wait for another holder of /tmp/bench.lock")
    ap.add_argument("--_direct", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    ap.add_argument("--_threads", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_root", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    try:
        conc = [int(c) for c in a.concurrency.split()]
    except ValueError:
        ap.error("--concurrency must be integers, e.g. \"1 16 64\"")
    if not conc or any(c < 1 or c > 1024 for c in conc):
        ap.error("--concurrency values must be 1..1024")
    if not 1 <= a.duration <= 600 or not 0 <= a.warmup <= 600:
        ap.error("--duration must be 1..600 s and --warmup 0..600 s")
    if a.gateway_cmd and a.only != "passthrough":
        ap.error("--gateway-cmd measures passthrough only: add --only passthrough")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if a._direct:
        from gateway_bench.direct import direct_main

        direct_main(a)
        return 0
    signal.signal(signal.SIGTERM, _raise_exit)
    run = Run(a)
    rc = 0
    try:
        run.run()
    except KeyboardInterrupt as exc:
        log(f"interrupted ({str(exc) or 'Ctrl-C'}): stopping everything this bench started; no results written")
        rc = 130
    except BenchError as exc:
        log(f"ERROR: {exc}")
        run.problems.append(str(exc))
        rc = 1
    except Exception as exc:  # a bug here or a surprise from a tool: clean up, keep what was measured
        import traceback

        traceback.print_exc()
        run.problems.append(f"bench error: {type(exc).__name__}: {exc}")
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # cleanup is bounded (10 s per process): let it finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        PROCS.stop_all()
        run.release_lock()
    if rc == 130:
        return rc
    result = {"meta": run.meta, "targets": evaluate_targets(run.rows) + lean_targets(run.instances), "rows": run.rows, "instances": run.instances,
              "checks": run.checks, "problems": run.problems}
    (run.dir / "gateway.json").write_text(json.dumps(result, indent=1) + "\n")
    (run.dir / "gateway.md").write_text(render(result))
    if rc == 0:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "gateway.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / "gateway.md").write_text(render(result))
        log(f"wrote {out / 'gateway.json'} and {out / 'gateway.md'} (work files: {run.dir})")
    else:
        log(f"the run failed: partial results only in {run.dir}/gateway.{{json,md}} ({out_name(a)} left as it was)")
    print(render(result))
    return rc


if __name__ == "__main__":
    sys.exit(main())
