"""Speed of a GGUF file on one thread: in-process (the serving engine) and through a real gateway.

Both use the engine the gateway serves with (rightmodel.generative.engine.LlamaEngine), model
loaded and warmed up first. Time to first token is measured on ~200-token prompts two ways:
every prompt different from its first words (no prefix for llama.cpp to reuse: the worst case),
and prompts sharing the task's long system prompt (what a task's traffic looks like: llama.cpp
reuses the cached prefix and only the message is prefilled). Decode speed: tokens after the first
divided by the time after it, free text (64 tokens, EOS allowed) and a schema-constrained answer.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

WORDS = ("order parcel refund invoice address courier warehouse ticket account payment delivery customer "
         "package label return exchange voucher receipt tracking support agent").split()


def long_prompts(system: str, messages: list[str], unique: bool, seed: int = 0) -> list[list[dict[str, str]]]:
    """Chat prompts: the system prompt (prefixed by a different random line each when `unique`) and one message."""
    rng = random.Random(seed)
    out = []
    for m in messages:
        head = " ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + ".\n" if unique else ""
        out.append([{"role": "system", "content": head + system}, {"role": "user", "content": m}])
    return out


def _run(engine, messages, *, max_tokens: int, schema: dict | None = None) -> dict[str, Any]:
    from rightmodel.generative.request import GenerationRequest

    req = GenerationRequest(messages=messages, max_tokens=max_tokens, temperature=0.0, seed=0, json_schema=schema)
    start = time.perf_counter()
    ids = engine.prompt_ids(messages)
    pieces, counter = engine.generate(req, ids, threading.Event())
    first = None
    for piece in pieces:
        if first is None and piece.text:
            first = time.perf_counter()
    end = time.perf_counter()
    first = first or end
    n = counter.completion_tokens
    return {"prompt_tokens": len(ids), "ttft_s": first - start, "tokens": n,
            "tokens_per_s": (n - 1) / (end - first) if n > 1 and end > first else None}


def in_process(gguf: Path, system: str, messages: list[str], schema: dict, repeats: int = 5) -> dict[str, Any]:
    """TTFT (unique and shared prefix), free decode and schema decode tokens/s, load time."""
    from rightmodel.generative.engine import LlamaEngine

    t0 = time.perf_counter()
    engine = LlamaEngine(gguf, n_ctx=1024, threads=1)
    load_s = time.perf_counter() - t0
    try:
        _run(engine, long_prompts(system, messages[:1], True, seed=99)[0], max_tokens=4)  # warm-up
        unique = [_run(engine, p, max_tokens=1) for p in long_prompts(system, messages[:repeats], True)]
        shared = [_run(engine, p, max_tokens=1) for p in long_prompts(system, messages[:repeats + 1], False)][1:]
        free = [_run(engine, [{"role": "user", "content": "Write a long friendly reply to a customer whose parcel is late."}],
                     max_tokens=64) for _ in range(3)]
        guided = [_run(engine, p, max_tokens=64, schema=schema) for p in long_prompts(system, messages[:3], False)]
    finally:
        engine.close()
    med = lambda xs: statistics.median([x for x in xs if x is not None]) if any(x is not None for x in xs) else None  # noqa: E731
    return {
        "file": gguf.name, "mib": round(gguf.stat().st_size / 2**20, 1), "load_s": round(load_s, 3),
        "prompt_tokens": statistics.median(r["prompt_tokens"] for r in unique),
        "ttft_ms_unique_prefix": round(1000 * med([r["ttft_s"] for r in unique]), 1),
        "ttft_ms_shared_system_prompt": round(1000 * med([r["ttft_s"] for r in shared]), 1),
        "decode_tokens_per_s": round(med([r["tokens_per_s"] for r in free]), 1),
        "decode_tokens": [r["tokens"] for r in free],
        "schema_tokens_per_s": round(med([r["tokens_per_s"] for r in guided]), 1),
    }


def through_gateway(gguf: Path, home: Path, system: str, messages: list[str], repeats: int = 8, threads: int = 1,
                    env: dict[str, str] | None = None) -> dict[str, Any]:
    """TTFT of streamed answers seen by the openai SDK from a real gateway process serving `gguf` on
    `threads` threads; `env` is added to the gateway's environment (e.g. PYTHONPATH to another
    llama-cpp-python build)."""
    import os
    import socket
    import subprocess
    import sys

    import httpx
    import openai
    import yaml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home.mkdir(parents=True, exist_ok=True)
    config = home / "constellation.yaml"
    config.write_text(yaml.safe_dump({"models": {"extractor": {"kind": "generate", "path": str(gguf), "threads": threads, "context_tokens": 1024}},
                                      "defaults": {"retries": 0}}))
    log = (home / "gateway.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "rightmodel.cli", "serve", "--port", str(port), "--home", str(home), "--threads", str(threads),
                             "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"gateway did not start: {(home / 'gateway.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-bench", max_retries=0)

        def ttft(messages_) -> float:
            start = time.perf_counter()
            stream = client.chat.completions.create(model="extractor", messages=messages_, max_tokens=8, temperature=0, stream=True)
            first = None
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter()
            return (first or time.perf_counter()) - start

        ttft(long_prompts(system, messages[:1], True, seed=99)[0])  # warm-up
        unique = [ttft(p) for p in long_prompts(system, messages[:repeats], True, seed=1)]
        shared = [ttft(p) for p in long_prompts(system, messages[:repeats + 1], False)][1:]
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return {"file": gguf.name, "repeats": repeats, "threads": threads,
            "ttft_ms_unique_all": [round(1000 * x, 1) for x in unique],
            "ttft_ms_unique_prefix": round(1000 * statistics.median(unique), 1),
            "ttft_ms_unique_prefix_p90": round(1000 * sorted(unique)[int(0.9 * (len(unique) - 1))], 1),
            "ttft_ms_shared_system_prompt": round(1000 * statistics.median(shared), 1),
            "ttft_ms_shared_system_prompt_p90": round(1000 * sorted(shared)[int(0.9 * (len(shared) - 1))], 1)}


def main_smoke(gguf: str) -> None:  # python -c "from generative_bench.speed import main_smoke; main_smoke(PATH)"
    from generative_bench import extraction as e

    msgs = [m for m, _ in e.dataset(10, 10, 10)["test"]]
    print(json.dumps(in_process(Path(gguf), e.ZERO_SHOT_SYSTEM, msgs, e.SCHEMA, repeats=3), indent=1))
