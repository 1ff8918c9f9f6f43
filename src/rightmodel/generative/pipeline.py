"""`rightmodel train TASK --kind generate`: pairs → LoRA → merged model → GGUF files → a card.

Writes one directory: `merged/` (the HF model), `<task>.f16.gguf` and one file per quantization,
and `card.json` (base, data hash, settings, training time and losses, size and single-stream
tokens/s per file). Not registered in the registry yet: the registry and the default
constellation still assume every version is a classifier (issue 19 has the rest).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rightmodel.generative.lora import LoraSettings, train_lora
from rightmodel.generative.pairs import data_hash, load_pairs

DEFAULT_QUANTS = ("q8_0", "q4_k_m")


def tokens_per_s(path: Path, *, tokens: int = 32, threads: int = 1) -> float:
    """Single-stream greedy decode speed of a GGUF file on `threads` threads (EOS allowed to end it early)."""
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=256, n_threads=threads, n_threads_batch=threads, verbose=False)
    try:
        ids = llm.tokenize(b"Summarise: the function adds two numbers.", add_bos=False)
        start, n, first = None, 0, None
        for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            if first is None:
                first = time.perf_counter()
            n += 1
            if n >= tokens or llm.token_eos() == token:
                break
        start = first or time.perf_counter()
        return (n - 1) / (time.perf_counter() - start) if n > 1 else 0.0
    finally:
        llm.close()


def build_generative(task: str, data: Path, base: Path, out: Path, settings: LoraSettings = LoraSettings(),
                     quants: tuple[str, ...] = DEFAULT_QUANTS, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Train, merge, export and describe one generative specialist; returns the card (also in out/card.json)."""
    from rightmodel.generative.gguf_export import quantize, to_gguf

    examples = load_pairs(data)
    log(f"{len(examples)} examples from {data}; LoRA r={settings.rank} on {base}")
    result = train_lora(base, examples, out / "merged", settings, progress=lambda step, loss: log(f"step {step}: loss {loss:.4f}"))
    started = time.perf_counter()
    files = {"f16": to_gguf(result.merged_dir, out / f"{task}.f16.gguf", "f16")}
    for kind in quants:
        files[kind] = quantize(files["f16"], out / f"{task}.{kind}.gguf", kind)
    export_s = time.perf_counter() - started
    card = {
        "task": task,
        "kind": "generate",
        "base_model": str(base),
        "data": {"path": str(data), "examples": len(examples), "data_hash": data_hash(examples)},
        "lora": {k: v for k, v in vars(settings).items()},
        "training": {"seconds": round(result.seconds, 3), "steps": result.steps, "first_loss": result.losses[0], "last_loss": result.losses[-1]},
        "export_seconds": round(export_s, 3),
        "files": {kind: {"file": path.name, "bytes": path.stat().st_size, "tokens_per_s_1_thread": round(tokens_per_s(path), 1)}
                  for kind, path in files.items()},
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
