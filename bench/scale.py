"""Benchmark: specialist requests/s of one gateway process vs `serve --workers 2`, same load, one run.

A CPU-bound stand-in specialist (tests/cpu_specialist.py: a real ONNX graph served like any
specialist, built in a second, no training) is registered in a fresh home. Then, one after the
other with fresh processes:

- `single`: `rightmodel serve` pinned to one core (`taskset -c 0`, `--threads 1`): what one
  process can do, which is what the issue's acceptance compares with;
- `workers2`: `rightmodel serve --workers 2 --threads 1` on all cores;

each gets the same closed-loop load for --duration seconds: --concurrency keep-alive
connections (new connections, so SO_REUSEPORT spreads them over the workers) sending chat
completions that name the specialist directly (it answers whatever its confidence). The load
generator is this process (raw asyncio HTTP/1.1, a few % of a core).

Writes bench/results/scale.json and scale.md (or --out DIR): req/s, p50/p99, errors, the ratio
workers2/single (acceptance: >= 1.6 on 2 cores), the load average before each run and the exact
command. The numbers only mean something on a quiet machine: the page says what the load
average was.

Usage: .venv/bin/python bench/scale.py [--duration 20] [--concurrency 16] [--out bench/results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

BODY = json.dumps({"model": "intent-specialist", "messages": [{"role": "user", "content": "my card has not arrived yet, where is it?"}]}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(home: Path, port: int, args: list[str], pin: str | None, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rightmodel.cli", "serve", "--home", str(home), "--port", str(port), *args]
    if pin is not None:
        cmd = ["taskset", "-c", pin, *cmd]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(100):
                    break
        except OSError:
            pass
        time.sleep(0.2)
    time.sleep(3.0 if "--workers" in args else 0.5)  # every worker listening
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def one_connection(port: int, until: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
    try:
        while time.perf_counter() < until:
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n")[0].decode())
            else:
                latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()


async def load(port: int, concurrency: int, duration: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    warm_until = time.perf_counter() + 2.0  # warm-up, not counted
    await asyncio.gather(*(one_connection(port, warm_until, [], []) for _ in range(concurrency)))
    started = time.perf_counter()
    await asyncio.gather(*(one_connection(port, started + duration, latencies, errors) for _ in range(concurrency)))
    took = time.perf_counter() - started
    latencies.sort()

    def q(p: float) -> float | None:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else None

    return {"requests": len(latencies), "errors": len(errors), "seconds": round(took, 2), "rps": round(len(latencies) / took, 1),
            "p50_ms": q(0.50), "p99_ms": q(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    from cpu_specialist import register_cpu_specialist

    work = Path(tempfile.mkdtemp(prefix="rightmodel-scale-"))
    home = work / "home"
    home.mkdir()
    register_cpu_specialist(home, task="intent", width=384, layers=4, max_length=64)
    runs = {}
    for name, serve_args, pin in (("single", ["--threads", "1"], "0"), ("workers2", ["--workers", "2", "--threads", "1"], None)):
        port = free_port()
        loadavg = os.getloadavg()[0]
        proc = start(home, port, serve_args, pin, work / f"{name}.log")
        try:
            runs[name] = {"loadavg_1m_before": round(loadavg, 2), "pinned": pin, "serve_args": serve_args,
                          **asyncio.run(load(port, args.concurrency, args.duration))}
        finally:
            stop(proc)
        print(name, runs[name], file=sys.stderr)
        # a fresh home for the next run's ledger and journal, same registry
        for stale in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
            (home / stale).unlink(missing_ok=True)
    ratio = round(runs["workers2"]["rps"] / runs["single"]["rps"], 2) if runs["single"]["rps"] else None
    out = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count(), "python": platform.python_version(),
           "duration_s": args.duration, "concurrency": args.concurrency, "runs": runs, "ratio_workers2_vs_single": ratio,
           "acceptance": ">= 1.6", "command": "python bench/scale.py " + shlex.join(sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(out, indent=2))
    lines = ["# Scale-out: one pinned process vs `serve --workers 2`", "",
             f"Measured {out['measured_at']} on {out['cpus']} CPUs; {args.concurrency} keep-alive connections, {args.duration:.0f} s each, "
             "chat completions answered by a CPU-bound stand-in specialist (tests/cpu_specialist.py).", "",
             "| run | req/s | p50 ms | p99 ms | errors | load avg before |", "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['loadavg_1m_before']} |")
    lines += ["", f"Ratio workers2 / single: **{ratio}** (acceptance >= 1.6). A load average above ~0.5 before a run means "
              "other work shared the cores: then the ratio says little.", "", f"Command: `{out['command']}`", ""]
    (args.out / "scale.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
