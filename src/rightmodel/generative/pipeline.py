"""`rightmodel train TASK --kind generate`: pairs → LoRA → merged model → GGUF files → a card.

Writes one directory: `merged/` (the HF model), `<task>.f16.gguf` and one file per quantization,
and `card.json` (base, data hash, settings, training time and losses, size and single-stream
tokens/s per file, and the acceptance threshold calibrated on held-out pairs with what it gives on
a test split: generative/calibrate.py).

Held-out pairs: `calibration_data` and `test_data` when given (data that comes in families, such
as templates or documents, should be split by family by its owner), otherwise 15% + 15% of
`data` at random, seeded; the model trains on the rest only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rightmodel.generative.acceptance import QualityBar
from rightmodel.generative.lora import LoraSettings, train_lora
from rightmodel.generative.pairs import data_hash, load_pairs

DEFAULT_QUANTS = ("q8_0", "q4_k_m")
K_QUANT_BLOCK = 256  # k-quants pack rows in super-blocks of 256 weights; q8_0 / q4_0 in blocks of 32


def served_quant(merged_dir: Path) -> str:
    """The file the card's threshold is calibrated on and the registry serves: q4_k_m, unless the
    model's widths are not multiples of 256. Then llama.cpp stores most tensors of a "q4_k_m" file
    in fallback types (SmolLM2-135M, width 576: 180 of 272 tensors, 6.2 bits per weight) whose
    prompt processing is about twice as slow as q8_0's on AVX-512/AMX (bench/results/
    generative_ttft.md), for no size gain worth having: q8_0 is served instead."""
    try:
        config = json.loads((merged_dir / "config.json").read_text())
    except (OSError, ValueError):
        return "q4_k_m"
    widths = [config.get(k) for k in ("hidden_size", "intermediate_size")]
    return "q4_k_m" if all(isinstance(w, int) and w % K_QUANT_BLOCK == 0 for w in widths) else "q8_0"


def tokens_per_s(path: Path, *, tokens: int = 32, threads: int = 1) -> float:
    """Single-stream greedy decode speed of a GGUF file on `threads` threads. The end token is
    suppressed: a fine-tuned model may answer this prompt with nothing, and a speed must not be 0."""
    from llama_cpp import Llama, LogitsProcessorList

    llm = Llama(str(path), n_ctx=256, n_threads=threads, n_threads_batch=threads, verbose=False)
    eos = llm.token_eos()

    def no_end(_ids, scores):
        scores[eos] = -float("inf")
        return scores

    try:
        ids = llm.tokenize(b"Summarise: the function adds two numbers.", add_bos=False)
        n, first = 0, None
        for _token in llm.generate(ids, temp=0.0, top_k=1, reset=True, logits_processor=LogitsProcessorList([no_end])):
            if first is None:
                first = time.perf_counter()
            n += 1
            if n >= tokens:
                break
        start = first or time.perf_counter()
        return (n - 1) / (time.perf_counter() - start) if n > 1 else 0.0
    finally:
        llm.close()


def build_generative(task: str, data: Path, base: Path, out: Path, settings: LoraSettings = LoraSettings(),
                     quants: tuple[str, ...] = DEFAULT_QUANTS, log: Callable[[str], None] = lambda _m: None, *,
                     calibration_data: Path | None = None, test_data: Path | None = None,
                     quality: QualityBar = QualityBar("exact"), target: float = 0.95, method: str = "expected",
                     json_schema: dict[str, Any] | None = None, threads: int = 1, crossfit: bool = False,
                     split: str | None = None, max_tokens: int = 256) -> dict[str, Any]:
    """Train, merge, export, calibrate and describe one generative specialist; returns the card
    (also in out/card.json). `crossfit` with calibration data and no test data: the card's test
    numbers are the calibration answers cross-fitted (distillation); `split` describes the split."""
    from rightmodel.generative.calibrate import calibrate_generative, holdout
    from rightmodel.generative.gguf_export import quantize, to_gguf

    given = load_pairs(data)
    examples = given
    if calibration_data is None:
        examples, calibration, test = holdout(given, settings.seed)
        split = f"random 15% calibration / 15% test of {data.name} (seed {settings.seed}); trained on the other {len(examples)} rows"
        if test_data is not None:  # the held-back test rows train instead
            examples, test = examples + test, load_pairs(test_data)
            split = f"random 15% calibration of {data.name} (seed {settings.seed}), test {test_data.name}; trained on the other {len(examples)} rows"
    else:
        calibration = load_pairs(calibration_data)
        test = load_pairs(test_data) if test_data is not None else []
        split = split or f"calibration {calibration_data.name}, test {test_data.name if test_data else '(none)'}, train {data.name}: files given"
    log(f"{len(examples)} training examples from {data} ({len(calibration)} calibration, {len(test)} test); "
        f"LoRA r={settings.rank} on {base}")
    result = train_lora(base, examples, out / "merged", settings, progress=lambda step, loss: log(f"step {step}: loss {loss:.4f}"))
    served = served_quant(result.merged_dir)
    quants = tuple(dict.fromkeys((*quants, served)))
    started = time.perf_counter()
    files = {"f16": to_gguf(result.merged_dir, out / f"{task}.f16.gguf", "f16")}
    for kind in quants:
        files[kind] = quantize(files["f16"], out / f"{task}.{kind}.gguf", kind)
    export_s = time.perf_counter() - started
    log(f"calibrating the acceptance threshold on {files[served].name} ({quality}, target {target})")
    acceptance = calibrate_generative(files[served], calibration, test, quality, target=target, method=method,
                                      json_schema=json_schema, threads=threads, split=split, log=log, crossfit=crossfit,
                                      max_tokens=max_tokens)
    card = {
        "task": task,
        "kind": "generate",
        "base_model": str(base),
        "data": {"path": str(data), "examples": len(given), "data_hash": data_hash(given), "train_examples": len(examples),
                 "calibration_examples": len(calibration), "test_examples": len(test)},
        "lora": {k: v for k, v in vars(settings).items()},
        "training": {"seconds": round(result.seconds, 3), "steps": result.steps, "first_loss": result.losses[0], "last_loss": result.losses[-1]},
        "export_seconds": round(export_s, 3),
        "served_file": files[served].name,
        "acceptance": acceptance,
        "calibration": acceptance["calibration"],  # where classifier cards keep it (registry/cli.py reads it)
        **({"calibration_on_eval": acceptance["calibration_on_eval"]} if "calibration_on_eval" in acceptance else {}),
        "files": {kind: {"file": path.name, "bytes": path.stat().st_size, "tokens_per_s_1_thread": round(tokens_per_s(path), 1)}
                  for kind, path in files.items()},
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def register_generative(registry, task: str, out: Path, card: dict[str, Any]):
    """Register the served file and the card as the task's next version (a candidate), in the same
    registry as classifiers: `models promote/rollback` move it, and a `kind: generate` model with
    `task:` (no `path`) serves its production version. The other quantizations stay in `out`."""
    import shutil

    test = (card["acceptance"].get("test") or {})
    manifest = {
        "kind": "generate",
        "model_file": card["served_file"],
        "data_hash": card["data"]["data_hash"],
        "base_model": card["base_model"],
        "metrics": {"test_pass_rate": test.get("all_pass_rate"), "test_coverage": test.get("coverage"),
                    "test_accepted_pass_rate": test.get("accepted_pass_rate")},
        "calibration": card["calibration"],
        "acceptance": {k: card["acceptance"][k] for k in ("score", "quality_bar", "target", "threshold", "json_schema")},
        "hyperparameters": card["lora"],
    }
    with registry.staging(task) as staged:
        shutil.copy(out / card["served_file"], staged / card["served_file"])
        (staged / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        return registry.register(task, staged, manifest)
