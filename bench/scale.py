"""Benchmark: specialist requests/s of one gateway process vs `serve --workers 2` (and Ray Serve), same load, one run.

A specialist is registered in a fresh home: by default the **real** one (MiniLM fine-tuned on a
slice of the shipped Banking77 data, int8 ONNX, as `rightmodel build` makes it; ~30-60 s of
training on 1 torch thread), or with `--specialist stand-in` the CPU-bound stand-in of
tests/cpu_specialist.py (a real ONNX graph built in a second, meaningless labels). Then:

- `single`: `rightmodel serve` pinned to one core (`taskset -c 0`, `--threads 1`): what one
  process can do, which is what the issue's acceptance compares with;
- `workers2`: `rightmodel serve --workers 2 --threads 1` on all cores;

both up at once (each on a copy of the home), taking turns: --rounds slices of
duration/rounds seconds each, in the order A B B A A B ..., so that other work on the machine
(a shared box is never quiet) weighs on both alike. The ratio is given over the sums and per round.
- with `--ray`, afterwards: `ray1` (`serve --ray`, 1 ingress + 1 specialist replica) and `ray2`
  (2 + 2), each with a Ray cluster of its own on loopback, for --duration seconds; and one
  connection against a pinned single process and `ray1` to give Ray's added latency per request
  (p50 difference at no concurrency).

Every slice is the same closed-loop load: --concurrency keep-alive connections (new
connections, so SO_REUSEPORT spreads them over the workers) sending chat completions that name
the specialist directly (it answers whatever its confidence). The load generator is this process
(raw asyncio HTTP/1.1 on uvloop); the CPU it used is reported per run, because on 2 cores it
competes with the workers but not with the pinned single process (which leaves it the other
core): the heavier the specialist's work per request, the less that skews the ratio.

Writes bench/results/scale.json and scale.md (or --out DIR): req/s, p50/p99, errors, the ratio
workers2/single (acceptance: >= 1.6 on 2 cores), the load average before each run and the exact
command. The numbers only mean something on a quiet machine: the page says what the load
average was.

Usage: .venv/bin/python bench/scale.py [--duration 20] [--rounds 4] [--concurrency 16] [--specialist real|stand-in] [--ray] [--out bench/results]
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
    deadline = time.time() + 240
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
    time.sleep(3.0 if "--workers" in args or "--ray" in args else 0.5)  # every worker / replica listening
    return proc


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the gateway itself (it stops its workers, or its Ray cluster and removes its
    temporary directory), then whatever is left of its process group after 60 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
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


class Tally:
    """What one run's slices add up to: answered latencies, errors, seconds, the generator's CPU seconds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.seconds = 0.0
        self.cpu = 0.0
        self.server_cpu = 0.0  # CPU seconds the gateway's processes got during the slices
        self.slices: list[float] = []  # req/s of each slice

    def summary(self) -> dict:
        lat = sorted(self.latencies)

        def q(p: float) -> float | None:
            return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

        return {"requests": len(lat), "errors": len(self.errors), "seconds": round(self.seconds, 2),
                "rps": round(len(lat) / self.seconds, 1) if self.seconds else 0.0, "p50_ms": q(0.50), "p99_ms": q(0.99),
                "generator_cpu_pct": round(100 * self.cpu / self.seconds, 1) if self.seconds else None,
                "server_cores": round(self.server_cpu / self.seconds, 2) if self.seconds and self.server_cpu else None,
                "requests_per_server_cpu_s": round(len(lat) / self.server_cpu, 1) if self.server_cpu else None,
                "slice_rps": [round(x, 1) for x in self.slices]}


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its children (a supervisor's workers)."""
    if pid is None:
        return 0.0
    import psutil

    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in (root, *root.children(recursive=True)):
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total
    except psutil.Error:
        return 0.0


async def load_slice(port: int, concurrency: int, duration: float, tally: Tally, warm_s: float = 1.0, server_pid: int | None = None) -> None:
    """Warm-up (not counted: new connections, the first batches), then `duration` seconds of load.
    With `server_pid`, also what CPU the gateway got meanwhile: on a shared machine that, not the
    gateway, is often what limits its req/s."""
    warm_until = time.perf_counter() + warm_s
    await asyncio.gather(*(one_connection(port, warm_until, [], []) for _ in range(concurrency)))
    before = len(tally.latencies)
    server_started = tree_cpu(server_pid)
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one_connection(port, started + duration, tally.latencies, tally.errors) for _ in range(concurrency)))
    took = time.perf_counter() - started
    tally.seconds += took
    tally.cpu += time.process_time() - cpu_started
    tally.server_cpu += tree_cpu(server_pid) - server_started
    tally.slices.append((len(tally.latencies) - before) / took)


def load(port: int, concurrency: int, duration: float, server_pid: int | None = None) -> dict:
    tally = Tally()
    asyncio.run(load_slice(port, concurrency, duration, tally, warm_s=2.0, server_pid=server_pid))
    return tally.summary()


def register_real_specialist(home: Path, work: Path) -> str:
    """MiniLM fine-tuned on 4 Banking77 intents (120 rows), exported int8, calibrated, registered."""
    from conftest import banking_rows, write_csv

    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.train import TrainConfig

    train = write_csv(work / "train.csv", banking_rows("train", 30))
    evaluate = write_csv(work / "eval.csv", banking_rows("test", 10))
    with Registry(home) as registry:
        version = build_specialist(BuildRequest(task="intent", train_path=train, eval_path=evaluate, calibration_mode="split",
                                                config=TrainConfig(epochs=3, batch_size=16, threads=1)), registry, log=lambda m: None)
        registry.promote(version.ref, force=True, reason="bench/scale.py")
        return version.ref


def ray_config(home: Path, replicas: int) -> Path:
    import yaml

    path = home / f"ray{replicas}.yaml"
    path.write_text(yaml.safe_dump({
        "models": {"intent-specialist": {"kind": "specialist", "task": "intent", "serving": {"replicas": replicas, "cpus": 1, "max_ongoing_requests": 64}}},
        "tasks": {"intent": {"specialist": "intent-specialist"}},
        "ray": {"ingress": {"replicas": replicas, "max_ongoing_requests": 64}},
    }))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--specialist", choices=("real", "stand-in"), default="real")
    parser.add_argument("--rounds", type=int, default=4, help="single and workers2 take turns: this many slices each")
    parser.add_argument("--ray", action="store_true", help="also Ray Serve with 1 and 2 replicas (needs rightmodel[ray]; ~1 min more)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()  # the load generator's own overhead, as small as it gets here
    except ImportError:
        pass
    work = Path(tempfile.mkdtemp(prefix="rightmodel-scale-"))
    home = work / "home"
    home.mkdir()
    started = time.monotonic()
    if args.specialist == "real":
        ref = register_real_specialist(home, work)
        what = "the real specialist (MiniLM fine-tuned on 4 Banking77 intents, int8 ONNX)"
    else:
        from cpu_specialist import register_cpu_specialist

        ref = register_cpu_specialist(home, task="intent", width=384, layers=4, max_length=64)
        what = "a CPU-bound stand-in specialist (tests/cpu_specialist.py)"
    print(f"registered {ref} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    # single and workers2 run side by side (a copy of the home each) and take turns: --rounds slices
    # of duration/rounds seconds each, in the order A B B A A B ..., so that what else runs on the
    # machine weighs on both alike; their ratio is taken over the sums and per round.
    import shutil

    homes = {"single": home, "workers2": work / "home-workers2"}
    shutil.copytree(home, homes["workers2"])
    pair = {"single": (["--threads", "1"], "0"), "workers2": (["--workers", "2", "--threads", "1"], None)}
    procs, ports, tallies, loadavg = {}, {}, {name: Tally() for name in pair}, {}
    try:
        for name, (serve_args, pin) in pair.items():
            ports[name] = free_port()
            procs[name] = start(homes[name], ports[name], serve_args, pin, work / f"{name}.log")
        loadavg = {name: round(os.getloadavg()[0], 2) for name in pair}
        per_round = args.duration / args.rounds
        for k in range(args.rounds):
            for name in (("single", "workers2") if k % 2 == 0 else ("workers2", "single")):
                asyncio.run(load_slice(ports[name], args.concurrency, per_round, tallies[name], server_pid=procs[name].pid))
    finally:
        for proc in procs.values():
            stop(proc)
    runs = {name: {"loadavg_1m_before": loadavg.get(name), "pinned": pair[name][1], "serve_args": pair[name][0], **tallies[name].summary()}
            for name in pair}
    for name in pair:
        print(name, runs[name], file=sys.stderr)
    round_ratios = [round(w / s1, 2) for s1, w in zip(tallies["single"].slices, tallies["workers2"].slices) if s1]
    sequential = {}
    if args.ray:
        port = free_port()
        proc = start(home, port, ["--threads", "1"], "0", work / "single-seq.log")
        try:
            sequential["single"] = load(port, 1, min(args.duration, 8.0))
        finally:
            stop(proc)
        for name, replicas in (("ray1", 1), ("ray2", 2)):
            for stale in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "limits.db", "limits.db-wal", "limits.db-shm"):
                (home / stale).unlink(missing_ok=True)
            port = free_port()
            loadavg_before = round(os.getloadavg()[0], 2)
            proc = start(home, port, ["--ray", "--threads", "1", "--config", str(ray_config(home, replicas))], None, work / f"{name}.log")
            try:
                runs[name] = {"loadavg_1m_before": loadavg_before, "pinned": None, "serve_args": ["--ray", "--threads", "1"],
                              "replicas": {"ingress": replicas, "specialist": replicas}, **load(port, args.concurrency, args.duration, proc.pid)}
                if name == "ray1":
                    sequential["ray1"] = load(port, 1, min(args.duration, 8.0))
            finally:
                stop(proc)
            print(name, runs[name], file=sys.stderr)
    ratio = round(runs["workers2"]["rps"] / runs["single"]["rps"], 2) if runs["single"]["rps"] else None
    out = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count(), "python": platform.python_version(),
           "specialist": args.specialist, "duration_s": args.duration, "concurrency": args.concurrency, "runs": runs,
           "ratio_workers2_vs_single": ratio, "ratio_per_round": round_ratios, "rounds": args.rounds, "acceptance": ">= 1.6", "command": "python bench/scale.py " + shlex.join(sys.argv[1:])}
    if sequential:
        out["one_connection"] = sequential
        if sequential.get("ray1", {}).get("p50_ms") and sequential.get("single", {}).get("p50_ms"):
            out["ray_overhead_p50_ms"] = round(sequential["ray1"]["p50_ms"] - sequential["single"]["p50_ms"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(out, indent=2))
    lines = ["# Scale-out: one pinned process vs `serve --workers 2`" + (" vs Ray Serve" if args.ray else ""), "",
             f"Measured {out['measured_at']} on {out['cpus']} CPUs; {args.concurrency} keep-alive connections, {args.duration:.0f} s per run, "
             f"chat completions answered by {what}.", "",
             "| run | req/s | p50 ms | p99 ms | errors | gateway got (cores) | req per gateway CPU-s | load generator CPU % | load avg before |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r.get('server_cores') or '-'} | "
                     f"{r.get('requests_per_server_cpu_s') or '-'} | {r['generator_cpu_pct']} | {r['loadavg_1m_before']} |")
    lines += ["", f"Ratio workers2 / single: **{ratio}** (acceptance >= 1.6); per round: {', '.join(map(str, round_ratios))} "
              f"(the two took turns, {args.rounds} slices of {args.duration / args.rounds:.0f} s each)."]
    if runs["single"].get("server_cores") and runs["workers2"].get("server_cores"):
        lines.append(f"CPU the gateway got, workers2 / single: {round(runs['workers2']['server_cores'] / runs['single']['server_cores'], 2)}; "
                     f"requests per CPU-second, workers2 / single: "
                     f"{round(runs['workers2']['requests_per_server_cpu_s'] / runs['single']['requests_per_server_cpu_s'], 2)} "
                     "(1.0: the workers turn CPU into answers as efficiently as one process, so a ratio below 2 is CPU they did not get).")
    if args.ray:
        for name in ("ray1", "ray2"):
            lines.append(f"Ratio {name} / single: {round(runs[name]['rps'] / runs['single']['rps'], 2)}.")
        if "ray_overhead_p50_ms" in out:
            lines.append(f"One connection, p50: single {sequential['single']['p50_ms']} ms, ray1 {sequential['ray1']['p50_ms']} ms: "
                         f"Ray adds **{out['ray_overhead_p50_ms']} ms** per request (proxy hop + ingress-to-specialist call).")
    lines += ["", "A load average above ~0.5 before a run means other work shared the cores: then the ratio says little. "
              "The load generator (this process) shares the 2 cores with the workers, while the pinned single process leaves it the other core.",
              "", f"Command: `{out['command']}`", ""]
    (args.out / "scale.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
