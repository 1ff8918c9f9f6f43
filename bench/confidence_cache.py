"""Train the Banking77 specialists the confidence bench scores, and cache what scoring needs.

The bench compares acceptance scores (bench/confidence.py); every score is a function of a
model's logits and pooled sentence embeddings, so training happens once per variant here and the
arrays are cached under bench/results/cache/ (gitignored): re-scoring is then pure numpy.

Variants (same splits as bench/specialists.py: official train -> 90% fit / 10% calibration,
stratified, seed 13 + 1 as `rightmodel train` carves it; official test for scoring):
- ``full``: all 77 intents, the project's default recipe (train_classifier, auto epochs).
- ``unknown``: a seeded 60 of the 77 intents; rows of the other 17 are removed from fit and
  calibration and appear only in test, as requests the specialist has never seen.

Per split (fit, calibration, test) it stores the fp32 PyTorch logits and mean-pooled embeddings
(what the linear head sees) and the same two outputs from the int8 ONNX graph the product serves,
exported with a second output so the embedding comes from the served artifact too.

``--variant base`` instead embeds every Banking77 text once with the gateway's own base-encoder
embedder (rightmodel.specialists.embedder: all-MiniLM-L6-v2 as shipped, fp32 ONNX, not fine-tuned),
for a kNN term in a space that fine-tuning has not collapsed onto the 77 intents.

Usage: python bench/confidence_cache.py --variant full|unknown|base [--epochs N] [--deadline HH:MM] [--seed N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CACHE = ROOT / "bench" / "results" / "cache"
SEED = 13  # TrainConfig's default seed; the calibration split uses seed + 1 like make_splits
KNOWN_INTENTS = 60
UNKNOWN_SEED = 22  # which intents stay known in the `unknown` variant
INFERENCE_MARGIN_S = 420  # embedding + export + int8 passes after training


class BudgetExceeded(RuntimeError):
    """Training would run past the deadline; carries the measured rate so epochs can be cut."""

    def __init__(self, steps_per_second: float) -> None:
        super().__init__(f"projected past deadline at {steps_per_second:.2f} steps/s")
        self.steps_per_second = steps_per_second


def splits(variant: str):
    """(fit, calibration, test, known label names) for a variant; deterministic."""
    from rightmodel.data import split_holdout
    from rightmodel.data.shipped import banking77

    train, test = banking77("train"), banking77("test")
    fit, calibration = split_holdout(train, 0.1, SEED + 1)
    known = train.label_names
    if variant == "unknown":
        known = sorted(random.Random(UNKNOWN_SEED).sample(train.label_names, KNOWN_INTENTS))
        keep = set(known)
        fit = fit.subset([i for i, labs in enumerate(fit.labels) if labs[0] in keep])
        calibration = calibration.subset([i for i, labs in enumerate(calibration.labels) if labs[0] in keep])
    return fit, calibration, test, known


def torch_outputs(trained, texts, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """fp32 logits and mean-pooled embeddings of the trained torch model, in input order."""
    import torch

    from rightmodel.specialists.train import pad_batch

    model = trained.model.eval()
    rows = trained.tokenizer(list(texts), truncation=True, max_length=trained.config.max_length)["input_ids"]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    hidden_size = model.head.in_features
    logits = np.zeros((len(rows), len(trained.labels)), dtype=np.float32)
    pooled = np.zeros((len(rows), hidden_size), dtype=np.float32)
    pad_id = trained.tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = pad_batch([rows[i] for i in idx], pad_id)
            hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            p = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)
            pooled[idx] = p.numpy()
            logits[idx] = model.head(p).numpy()
    return logits, pooled


def export_with_embedding(trained, directory: Path) -> Path:
    """int8 ONNX with outputs `logits` and `embedding` (the pooled vector the head reads)."""
    import torch

    from rightmodel.specialists.export import MODEL_FILE, quantize_int8, quiet_export, write_specialist_files

    class WithEmbedding(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            hidden = self.inner.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
            return self.inner.head(pooled), pooled

    write_specialist_files(trained, directory)
    fp32 = directory / "model.fp32.onnx"
    example = trained.tokenizer(["an example sentence", "a second one"], padding=True, return_tensors="pt")
    with torch.inference_mode(), quiet_export():
        torch.onnx.export(
            WithEmbedding(trained.model.eval()), (example["input_ids"], example["attention_mask"]), str(fp32),
            input_names=["input_ids", "attention_mask"], output_names=["logits", "embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "logits": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    quantize_int8(fp32, directory / MODEL_FILE)
    fp32.unlink()
    return directory / MODEL_FILE


def onnx_outputs(directory: Path, texts, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """int8 logits and embeddings, tokenized and length-batched by SpecialistRuntime itself."""
    from rightmodel.specialists.runtime import SpecialistRuntime

    logits, pooled = SpecialistRuntime(directory, threads=1).outputs(texts, ("logits", "embedding"), batch_size)
    return logits, pooled


def train(fit, known, epochs: int | None, deadline: datetime | None, log, seed: int = SEED, threads: int = 1):
    """train_classifier with the default recipe; if the measured pace would overrun `deadline`,
    abort after a short probe and retrain with as many epochs as fit (at least 2)."""
    from rightmodel.specialists.train import TrainConfig, auto_epochs, train_classifier

    epochs = epochs or auto_epochs(len(fit))
    cut_from = None
    while True:
        config = TrainConfig(epochs=epochs, threads=threads, seed=seed)
        started = time.time()
        last = [0.0]

        def progress(step: int, total: int, info: dict) -> None:
            now = time.time()
            if now - last[0] > 60:
                last[0] = now
                log(f"step {step}/{total} epoch {info['epoch']} loss {info['loss']:.4f} "
                    f"({step / (now - started):.2f} steps/s)")
            if deadline is not None and step == 120 and epochs > 2:
                rate = step / (now - started)
                end = now + (total - step) / rate + INFERENCE_MARGIN_S
                if end > deadline.timestamp():
                    raise BudgetExceeded(rate)

        try:
            trained = train_classifier(fit, config=config, labels=known, progress=progress)
            return trained, cut_from
        except BudgetExceeded as exc:
            steps_per_epoch = math.ceil(len(fit) / config.batch_size)
            room = deadline.timestamp() - time.time() - INFERENCE_MARGIN_S
            new = max(2, int(room * exc.steps_per_second / steps_per_epoch))
            log(f"{exc}: cutting epochs {epochs} -> {new}")
            cut_from = cut_from or epochs
            if new >= epochs:
                new = epochs - 1
            epochs = new


def base_embeddings(log) -> None:
    """Base-encoder embeddings of fit, calibration and test rows (full-variant order; the
    `unknown` variant's rows are a label-filtered subset of the same order)."""
    from rightmodel.specialists.embedder import Embedder, ensure_embedder

    fit, calibration, test, _ = splits("full")
    embedder = Embedder(ensure_embedder(CACHE / "embedders"), threads=1)
    arrays = {}
    for name, part in (("calibration", calibration), ("test", test), ("fit", fit)):
        arrays[f"{name}_labels"] = np.array([labs[0] for labs in part.labels])
        arrays[f"{name}_base_embedding"] = embedder.embed(part.texts)
        log(f"base embeddings for {name}")
    (CACHE / "base").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE / "base" / "base.npz", **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=("full", "unknown", "base"), required=True)
    parser.add_argument("--epochs", type=int, default=None, help="default: auto_epochs of the fit size")
    parser.add_argument("--deadline", default=None, help="UTC HH:MM by which training must be done")
    parser.add_argument("--seed", type=int, default=SEED,
                        help=f"training seed (initialisation and batch order; default {SEED}). The splits never change. "
                             "Another seed writes an ensemble member to cache/<variant>-seed<N>/ with fp32 outputs of "
                             "calibration and test rows only (bench/confidence.py --ensemble reads them)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    log = lambda m: print(time.strftime("%H:%M:%S"), args.variant, m, flush=True)  # noqa: E731
    if args.variant == "base":
        return base_embeddings(log)
    deadline = None
    if args.deadline:
        h, m = map(int, args.deadline.split(":"))
        deadline = datetime.now(timezone.utc).replace(hour=h, minute=m, second=0, microsecond=0)
    fit, calibration, test, known = splits(args.variant)
    log(f"fit {len(fit)}, calibration {len(calibration)}, test {len(test)}, {len(known)} known intents")
    member = args.seed != SEED
    out = CACHE / (f"{args.variant}-seed{args.seed}" if member else args.variant)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    trained, cut_from = train(fit, known, args.epochs, deadline, log, args.seed, args.threads)
    seconds = time.time() - started
    log(f"trained {trained.epochs} epochs in {trained.seconds:.0f} s")
    torch.save(trained.model.state_dict(), out / "state_dict.pt")
    arrays: dict[str, np.ndarray] = {}
    for name, part in (("calibration", calibration), ("test", test)) + ((("fit", fit),) if not member else ()):
        arrays[f"{name}_labels"] = np.array([labs[0] for labs in part.labels])
        arrays[f"{name}_fp32_logits"], arrays[f"{name}_fp32_embedding"] = torch_outputs(trained, part.texts)
        log(f"fp32 outputs for {name}")
    np.savez_compressed(out / "fp32.npz", **arrays)
    meta = {"variant": args.variant, "known": known, "epochs": trained.epochs, "epochs_cut_from": cut_from,
            "train_seconds": round(trained.seconds, 1), "wall_seconds_with_probes": round(seconds, 1),
            "history": trained.history, "config": trained.config.to_dict(),
            "n": {"fit": len(fit), "calibration": len(calibration), "test": len(test)},
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    if member:
        log("done (ensemble member: fp32 outputs only)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        export_with_embedding(trained, Path(tmp))
        int8: dict[str, np.ndarray] = {}
        for name, part in (("calibration", calibration), ("test", test), ("fit", fit)):
            int8[f"{name}_int8_logits"], int8[f"{name}_int8_embedding"] = onnx_outputs(Path(tmp), part.texts)
            log(f"int8 outputs for {name}")
    np.savez_compressed(out / "int8.npz", **int8)
    log("done")


if __name__ == "__main__":
    main()
