"""bench/gateway.py's machinery: settings, bookkeeping, installing and checking tools, the run's
metadata, load generation with wrk, request bodies and the nginx upstream.

What is measured, and how the phases run, stays in bench/gateway.py (class Run, a Harness);
this is what any phase leans on. Split out of gateway.py (843 lines) unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib import CLK_TCK, BenchError, BenchLock, Procs, Window, cpu_ticks, log, port_busy, wait_http

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gateway.py"
CONF = ROOT / "bench" / "gateway"
UPSTREAM_PORT, LITELLM_PORT, GATEWAY_PORT = 18001, 18002, 18003
GW_CPU, LOAD_CPU, UP_CPU = 0, 1, 1
TASK = "bench-intent"
TRAIN_PER_INTENT = 26  # 77 intents x 26 = 2,002 rows
KEY = "sk-fake"  # bearer key sent to the upstream and the gateway (rightmodel has no client auth; the aiohttp example wants this one)
EXPECTED_TEXT = "Hello! This is a fixed benchmark response."
REQ_TIMEOUT_S = 10
LITELLM_ENV = {
    "LITELLM_LOG": "ERROR",
    "LITELLM_MODE": "PRODUCTION",  # do not load a .env file
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the model price map
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "true",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
}
NO_DB_ENV = ("DATABASE_URL", "DIRECT_URL", "DATABASE_HOST", "REDIS_HOST", "REDIS_URL")

PROCS = Procs()
PII_SIGNATURES = tuple(
    f" Thanks, {name}. {email}, phone {phone}, card {card}."
    for name, email, phone, card in (
        ("Isabel Morales", "isabel.morales@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"),
        ("Tomasz Kowalczyk", "t.kowalczyk@example.org", "(212) 555-0187", "5500 0000 0000 0004"),
        ("Aiko Tanaka", "aiko_t@example.net", "+49 30 901820", "3400 000000 00009"),
        ("Jean-Luc Martin", "jl.martin@example.fr", "06 12 34 56 78", "6011 0000 0000 0004"),
        ("Priya Raman", "priya.raman@example.in", "+91 98765 43210", "4012 8888 8888 1881"),
    )
)


class Harness:
    """State of one bench run and the steps every phase uses."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.conc = [int(c) for c in args.concurrency.split()]
        self.work = Path(args.work).resolve()
        self.run_id = time.strftime("%Y%m%d-%H%M%S")
        self.dir = self.work / "runs" / self.run_id
        self.logs = self.dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        self.instances: dict[str, dict] = {}
        self.checks: list[str] = []
        self.problems: list[str] = []
        self.meta: dict = {}
        self.nginx: subprocess.Popen | None = None
        self.lock_held = False
        self.env = dict(os.environ)
        self.env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        ncpu = os.cpu_count() or 1
        self.all_cpus = f"0-{ncpu - 1}" if ncpu > 1 else "0"

    # --------------------------------------------------------------- bookkeeping
    def check(self, ok: bool, what: str) -> bool:
        self.checks.append(("OK " if ok else "FAILED ") + what)
        log(("check OK: " if ok else "check FAILED: ") + what)
        if not ok:
            self.problems.append(what)
        return ok

    def acquire_lock(self) -> None:
        self.lock = BenchLock("bench/gateway.py", self.run_id, self.a.lock_wait)
        self.lock.acquire()
        self.lock_held = True

    def wait_quiet(self) -> None:
        """Wait (up to --quiet-wait s) until processes other than this bench's use < 0.15 cores over 5 s."""
        t0 = time.time()
        while True:
            w = Window(os.getpid())
            time.sleep(5)
            other = w.close()
            if other["other_cores"] < 0.15:
                self.meta["quiet_wait_s"] = round(time.time() - t0)
                return
            if time.time() - t0 >= self.a.quiet_wait:
                msg = (f"the machine was not quiet after {self.a.quiet_wait} s: other processes use {other['other_cores']:.2f} cores "
                       f"({other['other_top']}); measuring anyway (see the `others, cores` columns)")
                log(msg)
                self.problems.append(msg)
                return
            log(f"waiting for a quiet machine: other processes use {other['other_cores']:.2f} cores ({other['other_top']})")

    def release_lock(self) -> None:
        if self.lock_held:
            self.lock.release()
            self.lock_held = False

    # --------------------------------------------------------------- install / preflight
    def ensure_tools(self) -> None:
        missing = [t for t in ("nginx", "wrk") if not shutil.which(t)]
        if missing:
            if os.geteuid() != 0:
                raise BenchError(f"missing {', '.join(missing)}: install them (apt-get install nginx wrk)")
            log(f"installing {' '.join(missing)} with apt-get")
            t0 = time.time()
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            with open(self.logs / "apt.log", "ab") as out:
                subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=300)
                r = subprocess.run(["apt-get", "install", "-y", "-q", "nginx", "wrk"], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, timeout=900)
            if r.returncode != 0:
                raise BenchError(f"apt-get install nginx wrk failed (see {self.logs / 'apt.log'})")
            self.meta["install_apt_s"] = round(time.time() - t0, 1)
        for t in ("taskset",):
            if not shutil.which(t):
                raise BenchError(f"missing tool: {t} (util-linux)")

    def litellm_venv(self) -> Path:
        return Path(self.a.litellm_venv).resolve() if self.a.litellm_venv else self.work / "litellm-venv"

    def ensure_litellm(self) -> None:
        venv = self.litellm_venv()
        if (venv / "bin" / "litellm").exists():
            return
        log(f"installing {self.a.litellm_spec} into {venv} (pip, about a minute)")
        t0 = time.time()
        python = shutil.which("python3") or sys.executable
        with open(self.logs / "pip-litellm.log", "ab") as out:
            r = subprocess.run([python, "-m", "venv", str(venv)], stdout=out, stderr=subprocess.STDOUT, timeout=300)
            if r.returncode == 0:
                r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", self.a.litellm_spec], stdout=out,
                                   stderr=subprocess.STDOUT, timeout=1200)
        if r.returncode != 0 or not (venv / "bin" / "litellm").exists():
            raise BenchError(f"pip install {self.a.litellm_spec} failed (see {self.logs / 'pip-litellm.log'})")
        self.meta["install_litellm_s"] = round(time.time() - t0, 1)

    def preflight(self) -> None:
        if (os.cpu_count() or 1) < 2:
            self.problems.append("fewer than 2 CPUs: pinning overlaps")
        ports = [UPSTREAM_PORT, GATEWAY_PORT] + ([LITELLM_PORT] if self.do_litellm else [])
        for port in ports:
            if port_busy(port):
                raise BenchError(f"port {port} is already in use; stop whatever listens there (this bench only stops what it starts)")

    @property
    def do_litellm(self) -> bool:
        return self.a.only != "specialist" and not self.a.skip_litellm

    def collect_meta(self) -> None:
        import importlib.metadata as md

        m = self.meta
        m["run_id"] = self.run_id
        m["date_utc"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        m["command"] = " ".join(shlex.quote(x) for x in [os.path.relpath(sys.executable, ROOT), os.path.relpath(SCRIPT, ROOT), *sys.argv[1:]])
        m["duration_s"], m["warmup_s"], m["concurrency"] = self.a.duration, self.a.warmup, self.conc
        m["pinning"] = {"gateway": GW_CPU, "load_generator": LOAD_CPU, "upstream": UP_CPU}
        m["cpu_model"] = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                               if l.startswith("model name")), "?")
        m["nproc"] = os.cpu_count()
        m["mem_gib"] = round(int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines()
                                      if l.startswith("MemTotal"))) / 1024 / 1024, 1)
        m["kernel"] = platform.release()
        try:
            m["os"] = next(l.split("=", 1)[1].strip('"') for l in Path("/etc/os-release").read_text().splitlines()
                           if l.startswith("PRETTY_NAME="))
        except (OSError, StopIteration):
            m["os"] = platform.platform()
        m["python"] = platform.python_version()
        m["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
        versions = {}
        for pkg in ("onnxruntime", "tokenizers", "numpy", "fastapi", "starlette", "uvicorn", "uvloop", "httptools",
                    "aiohttp", "orjson", "SQLAlchemy"):
            try:
                versions[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
        m["rightmodel_env"] = versions
        try:
            m["nginx"] = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().replace("nginx version: ", "")
            m["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
        except (OSError, IndexError):
            pass
        try:
            git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()
            m["git_commit"] = git("rev-parse", "--short", "HEAD")
            dirty = [l for l in git("status", "--porcelain", "--", "src").splitlines() if l]
            m["git_src_uncommitted_files"] = len(dirty)
        except OSError:
            pass
        h = hashlib.sha256()
        for f in sorted((ROOT / "src" / "rightmodel").rglob("*.py")):
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
        m["src_digest"] = h.hexdigest()[:12]  # which gateway code was measured, committed or not

    # --------------------------------------------------------------- load generation
    def wrk(self, url: str, bodies: Path, conc: int, seconds: int, key: str, tag: str) -> dict:
        out_path = self.logs / f"wrk-{tag}.txt"
        argv = ["wrk", "-t1", f"-c{conc}", f"-d{seconds}s", "--latency", "--timeout", f"{REQ_TIMEOUT_S}s",
                "-s", str(CONF / "bodies.lua"), url, "--", str(bodies), key]
        p = PROCS.start(f"wrk {tag}", argv, cpus=str(LOAD_CPU), log_path=out_path)
        try:
            rc = p.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            PROCS.stop(p)
            rc = -1
        PROCS.live.pop(p.pid, None)
        line = next((l for l in out_path.read_text(errors="replace").splitlines() if l.startswith("BENCH_JSON ")), None)
        res = json.loads(line[len("BENCH_JSON "):]) if line else {}
        if rc != 0 or not line:
            res["failed"] = f"wrk rc={rc}" + ("" if line else ", no summary")
        return res

    def step(self, row: dict, url: str, bodies: Path, conc: int, key: str, pid: int | None, counter: dict | None) -> dict:
        tag = "-".join(str(row[k]) for k in ("phase", "target", "config", "mode") if row.get(k)) + f"-c{conc}"
        t0 = cpu_ticks(pid) if pid else None
        w = Window(os.getpid())
        res = self.wrk(url, bodies, conc, self.a.duration, key, tag)
        machine = w.close()
        t1 = cpu_ticks(pid) if pid else None
        row = {**row, "conc": conc, **res, **machine}
        if pid and res.get("requests"):
            row["cpu_ms_per_req"] = round((t1 - t0) * 1000.0 / CLK_TCK / res["requests"], 3)
            row["cpu_s"] = round((t1 - t0) / CLK_TCK, 2)
        if counter is not None:
            counter["answered"] += res.get("requests", 0)
            counter["sent"] += res.get("sent", 0)
        self.rows.append(row)
        log(f"  {row['target']:>10} {row.get('config', ''):>9} {row['mode']:>14} c={conc:<3} "
            f"req/s={row.get('rps', 0):>9.1f} p50={row.get('p50_ms', 0):>8.2f} ms p99={row.get('p99_ms', 0):>8.2f} ms "
            f"errors={row.get('errors', '-')} cpu/req={row.get('cpu_ms_per_req', '-')} ms" + (f" FAILED {row['failed']}" if "failed" in row else ""))
        time.sleep(1)
        return row

    def warm(self, url: str, bodies: Path, key: str, tag: str, counter: dict | None) -> None:
        if self.a.warmup <= 0:
            return
        res = self.wrk(url, bodies, 16, self.a.warmup, key, f"warmup-{tag}")
        if counter is not None:
            counter["answered"] += res.get("requests", 0)
            counter["sent"] += res.get("sent", 0)
        if res.get("errors"):
            self.problems.append(f"warm-up {tag}: {res.get('errors')} errors of {res.get('requests')}")

    def fixed_requests(self, path: str, bodies: list[bytes], n: int, key: str, conc: int = 4) -> dict:
        """Exactly `n` POSTs to the gateway, `conc` keep-alive connections, bodies cycled (wrk runs for
        a time, not a count). The client threads run on the load generator's CPU."""
        import http.client
        import itertools
        import threading

        order = itertools.count()
        totals = {"ok": 0, "answered": 0, "sent": 0, "errors": 0}
        lock = threading.Lock()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

        def worker() -> None:
            mine = dict.fromkeys(totals, 0)
            conn = http.client.HTTPConnection("127.0.0.1", GATEWAY_PORT, timeout=REQ_TIMEOUT_S)
            while (i := next(order)) < n:
                mine["sent"] += 1
                try:
                    conn.request("POST", path, bodies[i % len(bodies)], headers)
                    r = conn.getresponse()
                    r.read()
                except (OSError, http.client.HTTPException):
                    mine["errors"] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", GATEWAY_PORT, timeout=REQ_TIMEOUT_S)
                    continue
                mine["answered"] += 1
                mine["ok" if r.status == 200 else "errors"] += 1
            conn.close()
            with lock:
                for k, v in mine.items():
                    totals[k] += v

        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {LOAD_CPU})  # this thread, and so the workers it starts
        t0 = time.time()
        try:
            workers = [threading.Thread(target=worker) for _ in range(conc)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        finally:
            os.sched_setaffinity(0, before)
        return {**totals, "n": n, "conc": conc, "seconds": round(time.time() - t0, 1)}

    # --------------------------------------------------------------- bodies
    def write_bodies(self) -> dict[str, Path]:
        d = self.dir / "bodies"
        d.mkdir(exist_ok=True)
        say = [{"role": "user", "content": "Say hello."}]
        files = {
            "nostream": [{"model": "gpt-4o-mini", "messages": say, "max_tokens": 16}],
            "stream": [{"model": "gpt-4o-mini-stream", "messages": say, "max_tokens": 16, "stream": True}],
        }
        if self.a.only != "passthrough":
            from rightmodel.data.shipped import banking77

            texts = banking77("test").texts
            self.meta["specialist_texts"] = f"{len(texts)} Banking77 test texts, cycled"
            files["chat"] = [{"model": TASK, "messages": [{"role": "user", "content": t}]} for t in texts]
            # The same texts, one in five signed with a name, an e-mail, a phone number and a card
            # number (PII_SIGNATURES, cycled) and sent to the remote model (nginx): privacy detection
            # runs on what leaves, so the RSS-after-N-requests run exercises every detector there,
            # and the specialist answers the other four locally.
            files["chat-pii"] = [
                {"model": "gpt-4o-mini", "max_tokens": 16,
                 "messages": [{"role": "user", "content": t + PII_SIGNATURES[i // 5 % len(PII_SIGNATURES)]}]}
                if i % 5 == 0 else {"model": TASK, "messages": [{"role": "user", "content": t}]}
                for i, t in enumerate(texts)]
            files["classify"] = [{"model": TASK, "input": t} for t in texts]
        paths = {}
        for name, bodies in files.items():
            p = d / f"{name}.jsonl"
            p.write_text("".join(json.dumps(b) + "\n" for b in bodies))
            paths[name] = p
        return paths

    # --------------------------------------------------------------- upstream
    def start_nginx(self) -> None:
        prefix = self.dir / "nginx"
        prefix.mkdir(exist_ok=True)
        base = ["nginx", "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(CONF / "nginx.conf")]
        r = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"nginx config test failed: {r.stderr.strip()}")
        self.nginx = PROCS.start("nginx upstream", [*base, "-g", "daemon off;"], cpus=str(UP_CPU), log_path=self.logs / "nginx.out")
        if not wait_http(f"http://127.0.0.1:{UPSTREAM_PORT}/health", 15, self.nginx):
            raise BenchError(f"nginx did not come up (see {prefix / 'error.log'})")
