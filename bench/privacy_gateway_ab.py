"""Benchmark: what privacy detection adds to a ~1 KB gateway request, two versions of the code side by side.

bench/privacy.py measures one version against a gateway with detection off; on a shared 2-core
box its added p50 moved by 2 ms between two runs of the same code (issue 16). Comparing two
versions there means two runs at two machine states. Here both versions run at once: three
`rightmodel serve` processes (detection off, detection on at version A, detection on at
version B; each version's `src/` exported with `git archive`, or this working tree), the same
~1 KB chat requests to each in turn (cycling through every order), in several rounds. Reported per round:
each version's added p50 (on − off) and B's p50 ÷ A's, so a noisy round moves both.

Usage: .venv/bin/python bench/privacy_gateway_ab.py --a HEAD~1 --b WORKTREE [--rounds 4] [--requests 100]

Pinning as in bench/privacy.py: gateways on CPU 0, this process and the upstream on the last CPU.
Holds /tmp/bench.lock while measuring, as the other benches do.
Writes bench/results/privacy-gateway-ab.{json,md} (or --out).
"""

from __future__ import annotations

import argparse
import itertools
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: privacy_bench, gateway.py

from privacy_bench.common import CONF, ROOT, UPSTREAM_KEY_ENV, UPSTREAM_PORT as PRIVACY_UPSTREAM_PORT, chat_body, gwbench, log  # noqa: E402
from privacy_bench.dataset import build_dataset, kb_texts, load_reviews  # noqa: E402

PORTS = {"off": 18022, "A": 18023, "B": 18024}
UPSTREAM_PORT = 18021
WORKTREE = "WORKTREE"


def export_src(ref: str, into: Path) -> tuple[Path, str]:
    """`src/` of git ref `ref` (or this working tree) and a description of what it is."""
    if ref == WORKTREE:
        status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True).stdout
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        return ROOT / "src", f"working tree at {head}" + (" + uncommitted changes" if status.strip() else "")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True, text=True, check=True).stdout.strip()
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src", f"{ref} ({commit})"


def start_gateway(procs: gwbench.Procs, label: str, src: Path, config: Path, work: Path, cpu: str | None) -> object:
    home = work / f"home-{label}"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", PYTHONPATH=str(src), **{UPSTREAM_KEY_ENV: "sk-privacy-bench"})
    argv = [sys.executable, "-m", "rightmodel.cli", "serve", "--config", str(config), "--port", str(PORTS[label]), "--home", str(home),
            "--log-level", "warning"]
    p = procs.start(label, argv, cpus=cpu, log_path=work / f"{label}.log", env=env, cwd=work)
    if not gwbench.wait_http(f"http://127.0.0.1:{PORTS[label]}/readyz", 180, p, ok=lambda s: s == 200):
        raise SystemExit(f"{label} did not become ready; see {work / f'{label}.log'}")
    return p


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", default="HEAD", help="version A: a git ref, or WORKTREE (default HEAD)")
    ap.add_argument("--b", default=WORKTREE, help="version B (default WORKTREE: this working tree)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=100, help="measured requests per gateway per round (default 100)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=41, help="texts' seed (bench/privacy.py's gateway section uses 25)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--lock-wait", type=int, default=1800, help="seconds to wait for /tmp/bench.lock (default 1800)")
    a = ap.parse_args(argv)

    import httpx
    from upstream_server import start_upstream

    work = Path(tempfile.mkdtemp(prefix="rightmodel-privacy-ab-"))
    ncpu = os.cpu_count() or 1
    gw_cpu, client_cpu = ("0", ncpu - 1) if ncpu > 1 else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    srcs = {"off": export_src(a.b, work / "b"), "B": export_src(a.b, work / "b")}
    srcs["A"] = export_src(a.a, work / "a")
    samples, _ = build_dataset(600, 0.15, a.seed)
    reviews = load_reviews()
    texts = kb_texts((a.rounds * a.requests + a.warmup) // 2 + 1, samples, reviews, a.seed + 1)
    warm, texts = texts[:a.warmup], texts[a.warmup:]
    lock = gwbench.BenchLock("bench/privacy_gateway_ab.py", time.strftime("%Y%m%d-%H%M%S"), a.lock_wait, log=log)
    lock.acquire()  # other benches measure too: not at the same time
    procs = gwbench.Procs()
    upstream = start_upstream(port=UPSTREAM_PORT, cpu=client_cpu)
    labels = list(PORTS)
    orders = list(itertools.permutations(labels))
    configs = {}
    for label in labels:
        configs[label] = work / f"{label}.yaml"  # bench/privacy's constellations, pointed at this bench's upstream port
        text = (CONF / ("detect-off.yaml" if label == "off" else "detect-on.yaml")).read_text()
        configs[label].write_text(text.replace(f"127.0.0.1:{PRIVACY_UPSTREAM_PORT}/", f"127.0.0.1:{UPSTREAM_PORT}/"))
    started_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rounds = []
    try:
        for r in range(a.rounds):
            # Fresh gateways every round: a process's own luck (memory layout, hash seed) is not carried
            # from round to round, and each round starts from the same warm-up.
            live = [start_gateway(procs, label, srcs[label][0], configs[label], work, gw_cpu) for label in labels]
            clients = {lab: httpx.Client(base_url=f"http://127.0.0.1:{PORTS[lab]}", timeout=60, trust_env=False) for lab in labels}
            for kt in warm:
                for lab in labels:
                    clients[lab].post("/v1/chat/completions", json=chat_body(kt.text)).raise_for_status()
            lat: dict[str, list[float]] = {lab: [] for lab in labels}
            window = gwbench.Window(os.getpid())
            for i, kt in enumerate(texts[r * a.requests:(r + 1) * a.requests]):
                # Every order in turn, so each gateway follows each other one equally often (with the
                # three rotations alone B always came right after A: an A/A run read 0.92).
                for lab in orders[(i + r) % len(orders)]:
                    t0 = time.perf_counter()
                    resp = clients[lab].post("/v1/chat/completions", json=chat_body(kt.text))
                    lat[lab].append((time.perf_counter() - t0) * 1000)
                    if resp.status_code != 200 or resp.json()["choices"][0]["message"]["content"] != "echo: " + kt.text:
                        raise SystemExit(f"{lab}: wrong answer ({resp.status_code}): {resp.text[:200]}")
            busy = window.close()
            for c in clients.values():
                c.close()
            for p in live:
                procs.stop(p)
            off = p50(lat["off"])
            row = {"round": r + 1, "p50_ms": {lab: round(p50(v), 3) for lab, v in lat.items()},
                   "added_p50_ms": {lab: round(p50(lat[lab]) - off, 3) for lab in ("A", "B")},
                   "other_cores": busy.get("other_cores")}
            row["added_ratio_b_over_a"] = round(row["added_p50_ms"]["B"] / row["added_p50_ms"]["A"], 3) if row["added_p50_ms"]["A"] > 0 else None
            rounds.append(row)
            log(f"round {r + 1}: p50 off {off:.2f} ms, A +{row['added_p50_ms']['A']:.2f}, B +{row['added_p50_ms']['B']:.2f} ms "
                f"(B/A {row['added_ratio_b_over_a']}); other processes {row['other_cores']} cores")
    finally:
        procs.stop_all()
        upstream.stop()
        lock.release()
    ratios = [r["added_ratio_b_over_a"] for r in rounds if r["added_ratio_b_over_a"] is not None]
    result = {"date_utc": started_at, "command": " ".join([os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable,
                                                           "bench/privacy_gateway_ab.py", *(argv or sys.argv[1:])]),
              "A": srcs["A"][1], "B": srcs["B"][1], "off": srcs["off"][1], "loadavg_at_start": load_before,
              "pinning": f"gateways on CPU {gw_cpu}, client and upstream on CPU {client_cpu}" if gw_cpu else "none (1 CPU)",
              "requests_per_round": a.requests, "rounds": rounds,
              "median_added_p50_ms": {lab: round(statistics.median(r["added_p50_ms"][lab] for r in rounds), 3) for lab in ("A", "B")},
              "median_ratio_b_over_a": round(statistics.median(ratios), 3) if ratios else None}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "privacy-gateway-ab.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "privacy-gateway-ab.md").write_text(render(result))
    print(render(result))
    return 0


def render(res: dict) -> str:
    lines = ["# Privacy detection through the gateway: two versions side by side", "",
             f"`{res['command']}` at {res['date_utc']}; load average at start {' '.join(res['loadavg_at_start'])}; {res['pinning']}.",
             f"A = {res['A']}; B = {res['B']}; the detection-off baseline runs B's code.",
             f"Each round: {res['requests_per_round']} ~1 KB chat requests (bench/privacy_bench/dataset.py's labelled and review texts) "
             "to each of the three gateways in turn, cycling through all six orders; added = p50 with detection on − p50 with it off, same round.", "",
             "| round | off p50 ms | A p50 ms | B p50 ms | A added ms | B added ms | B ÷ A (added) | other processes (cores) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rounds"]:
        p, d = r["p50_ms"], r["added_p50_ms"]
        lines.append(f"| {r['round']} | {p['off']:.2f} | {p['A']:.2f} | {p['B']:.2f} | {d['A']:.2f} | {d['B']:.2f} | {r['added_ratio_b_over_a']} | {r['other_cores']} |")
    m = res["median_added_p50_ms"]
    lines += ["", f"Median over rounds: A adds {m['A']:.2f} ms, B adds {m['B']:.2f} ms at p50; B ÷ A {res['median_ratio_b_over_a']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
