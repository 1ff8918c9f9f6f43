"""Time to first token through the gateway: this machine's llama.cpp build against the portable one.

`scripts/llama-cpp-wheel.sh` builds llama-cpp-python for the CPU it runs on (GGML_NATIVE: AVX-512,
VNNI, AMX where present) unless told to build the portable wheel (AVX2). This bench serves the same
GGUF files from real gateway processes with each build in turn — both cached wheels, each installed
into a directory of its own and put first on the gateway's PYTHONPATH, whatever the venv holds —
and streams ~200-token prompts to them with the openai SDK, on 1 and on 2 threads. Builds, files
and thread counts take turns within each round, so a change in the machine's load hits all alike;
the results quote medians and the native ÷ portable ratio per cell.

Prompts: the extraction task's full instruction plus a support message (~250 tokens), each starting
with a different random line, so llama.cpp can reuse nothing (the worst case); and the same prompts
sharing that instruction (the prefix cached, only the message prefilled).

    python bench/generative_ttft.py [--gguf FILE ...] [--rounds 3] [--repeats 8] [--work /tmp/rm-ttft]

Writes bench/results/generative_ttft.{json,md}; takes /tmp/bench.lock while it measures.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BenchLock, Window, log  # noqa: E402
from generative_bench import extraction as ex  # noqa: E402
from generative_bench import speed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RIGHTMODEL_CACHE", Path.home() / ".cache" / "rightmodel"))
TARGET_MS = 300


def build_info(env: dict[str, str]) -> dict[str, str]:
    """Where `llama_cpp` is imported from under `env`, and the instruction sets its ggml uses."""
    code = ("import llama_cpp, pathlib, json; p = pathlib.Path(llama_cpp.__file__).parent;"
            "m = p / '.rightmodel-build';"
            "print(json.dumps({'path': str(p), 'build': m.read_text().strip() if m.exists() else 'unknown',"
            "'system_info': llama_cpp.llama_print_system_info().decode()}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def build_env(work: Path, flavor: str, wheel: Path | None) -> dict[str, str]:
    """PYTHONPATH that makes a gateway import the cached `flavor` build of llama-cpp-python (native-* or
    portable), installed into a directory of its own, whatever the venv holds."""
    if wheel is None:
        found = sorted((CACHE / "wheels").glob(f"{flavor}/llama_cpp_python-*.whl"))
        if not found:
            how = "RIGHTMODEL_LLAMA_BUILD=portable " if flavor == "portable" else ""
            raise SystemExit(f"no {flavor} wheel cached for this CPU: build one with\n"
                             f"  python3 -m venv /tmp/v && {how}bash scripts/llama-cpp-wheel.sh /tmp/v/bin/python")
        wheel = found[-1]
    target = work / f"site-{wheel.parent.name}"
    if not (target / "llama_cpp").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True)
        (target / "llama_cpp" / ".rightmodel-build").write_text(wheel.parent.name + "\n")
    return {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def native_flavor() -> str:
    """The cache key scripts/llama-cpp-wheel.sh gives this CPU's native build."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / "llama-cpp-flavor.sh"), "native"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def default_ggufs() -> list[Path]:
    """The bundled SmolLM2 Q4_1, and the bench's requantized files of the same model when present."""
    from rightmodel.generative.base_model import bundled_gguf

    files = [bundled_gguf()]
    files += [p for q in ("q4_0", "q4_k_m", "q8_0") if (p := CACHE / "bench-generative" / f"smollm2.{q}.gguf").is_file()]
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", type=Path, action="append", help="GGUF file to serve (repeatable; default: bundled SmolLM2 and cached requantizations)")
    ap.add_argument("--native-wheel", type=Path, help="wheel built for this CPU (default: the cached native build)")
    ap.add_argument("--portable-wheel", type=Path, help="baseline wheel (default: the cached portable build)")
    ap.add_argument("--threads", type=int, action="append", help="thread counts (default 1 and 2)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=8, help="prompts per gateway and kind")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rm-ttft"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generative_ttft")
    ap.add_argument("--lock-wait", type=float, default=1800)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ggufs = args.gguf or default_ggufs()
    threads = args.threads or [1, 2]
    builds = {"native": build_env(args.work, native_flavor(), args.native_wheel),
              "portable": build_env(args.work, "portable", args.portable_wheel)}
    info = {name: build_info(env) for name, env in builds.items()}
    for name, i in info.items():
        log(f"{name}: {i['build']} at {i['path']}: {i['system_info']}")
    if info["native"]["path"] == info["portable"]["path"]:
        raise SystemExit("both builds import the same llama_cpp")
    messages = [m for m, _ in ex.dataset(40, 10, 10)["train"]]

    lock = BenchLock("generative_ttft.py", "ttft", args.lock_wait)
    lock.acquire()
    cells: dict[tuple[str, str, int], list[dict]] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    window = Window(os.getpid())
    try:
        order = [(b, g, t) for g in ggufs for t in threads for b in builds]
        for r in range(args.rounds):
            turn = order if r % 2 == 0 else list(reversed(order))
            for b, g, t in turn:
                res = speed.through_gateway(g, args.work / f"gw-{b}-{g.stem}-{t}", ex.ZERO_SHOT_SYSTEM,
                                            messages[r * args.repeats:], repeats=args.repeats, threads=t, env=builds[b])
                cells.setdefault((b, g.name, t), []).append(res)
                log(f"round {r + 1}: {b} {g.name} threads {t}: unique {res['ttft_ms_unique_prefix']} ms, "
                    f"shared {res['ttft_ms_shared_system_prompt']} ms")
    finally:
        machine = window.close()
        lock.release()
    prompt_tokens = prompt_length(ggufs[0])
    write(args, ggufs, threads, info, cells, machine, started, prompt_tokens)


def prompt_length(gguf: Path) -> int:
    from rightmodel.generative.engine import LlamaEngine

    engine = LlamaEngine(gguf, n_ctx=1024, threads=1)
    try:
        messages = ex.dataset(40, 10, 10)["train"][:5]
        prompts = speed.long_prompts(ex.ZERO_SHOT_SYSTEM, [m for m, _ in messages], True, seed=1)
        return int(statistics.median(len(engine.prompt_ids(p)) for p in prompts))
    finally:
        engine.close()


def write(args, ggufs, threads, info, cells, machine, started, prompt_tokens) -> None:
    def pooled(b, g, t, key):
        vals = [x for res in cells[(b, g, t)] for x in (res["ttft_ms_unique_all"] if key == "unique" else [res["ttft_ms_shared_system_prompt"]])]
        return statistics.median(vals), sorted(vals)[max(0, math.ceil(0.9 * len(vals)) - 1)]

    rows, data = [], []
    for g in ggufs:
        for t in threads:
            nu, nu90 = pooled("native", g.name, t, "unique")
            pu, pu90 = pooled("portable", g.name, t, "unique")
            ns, _ = pooled("native", g.name, t, "shared")
            ps, _ = pooled("portable", g.name, t, "shared")
            data.append({"file": g.name, "threads": t, "native_unique_ms": nu, "native_unique_p90_ms": nu90, "portable_unique_ms": pu,
                         "portable_unique_p90_ms": pu90, "native_shared_ms": ns, "portable_shared_ms": ps, "ratio_unique": nu / pu})
            ok = "✅" if nu <= TARGET_MS else "❌"
            rows.append(f"| {g.name} | {t} | **{nu:.0f}** / {nu90:.0f} {ok} | {pu:.0f} / {pu90:.0f} | {nu / pu:.2f}× | {ns:.0f} | {ps:.0f} |")
    payload = {"started": started, "command": " ".join(["python", "bench/generative_ttft.py", *sys.argv[1:]]), "builds": info,
               "prompt_tokens": prompt_tokens, "rounds": args.rounds, "repeats": args.repeats, "machine": machine, "cells": data,
               "raw": {f"{b}|{g}|{t}": v for (b, g, t), v in cells.items()}}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    md = [
        "# Time to first token through the gateway: native vs portable llama.cpp build (issue 19)",
        "",
        f"Run {started}; command `{payload['command']}`. Each cell: a real gateway process serving the file (`kind: generate`, "
        f"`threads` as shown), the openai SDK streaming {args.rounds} rounds × {args.repeats} prompts of ~{prompt_tokens} tokens "
        "(the extraction task's full instruction plus a support message); builds, files and thread counts take turns within each round. "
        "Time to first token = request sent → first content chunk received. Warm: each gateway answers one prompt before timing.",
        "",
        f"- **native**: `{info['native']['build']}` — {info['native']['system_info']}",
        f"- **portable**: `{info['portable']['build']}` — {info['portable']['system_info']}",
        "",
        f"**Machine** during the run: cores busy {machine.get('cpu0_busy_pct', '?')}% / {machine.get('cpu1_busy_pct', '?')}%, other processes "
        f"{machine['other_cores']} cores ({machine['other_top'] or 'none'}), steal {machine['steal_pct']}%.",
        "",
        f"| file | threads | native: TTFT unique prefix, median / p90 ms (target ≤ {TARGET_MS}) | portable: median / p90 ms | native ÷ portable | native, shared system prompt ms | portable, shared ms |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Build: `bash scripts/llama-cpp-wheel.sh VENV_PYTHON` (native, the default) or with `RIGHTMODEL_LLAMA_BUILD=portable`; "
        "the native build applies scripts/llama-cpp-amx-tilecfg.patch (without it every AMX matmul dies with SIGILL when built by GCC 12).",
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(md))
    log(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
