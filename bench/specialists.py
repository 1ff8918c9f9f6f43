"""Benchmark: specialists trained on the shipped public datasets, on this machine.

For each dataset: held-out score, training time, calibrated coverage, and the int8 ONNX
artifact's batched throughput beside the same model in PyTorch and in fp32 ONNX, all measured in
this one run. Results go to bench/results/specialists.json and bench/results/specialists.md.

Splits (no test item is ever trained on or calibrated on):
- Banking77: official train (10,003) → 90% fit / 10% calibration; scored on the official test (3,080).
- Reviews (UCI sentiment, 3,000): fixed stratified seeded split, 20% test; calibration carved from the rest.
- CLAUDETTE: the five document-level folds (40 train / 10 test documents); multi-label over the 8
  unfair categories; micro/macro-F1 pooled over all test folds and averaged per fold.

Usage: python bench/specialists.py [--only banking77,reviews,claudette] [--claudette-epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "bench" / "results"

PUBLISHED = {
    "banking77": [
        ("all-MiniLM-L6-v2 frozen + logistic regression (MTEB)", 80.0),
        ("GPT-3.5 3-shot (Loukas et al. 2023, µF1)", 65.5),
        ("GPT-4 3-shot (Loukas et al. 2023, µF1, ~$740 / 3,080 queries)", 83.1),
        ("GPT-4 + 20 retrieved examples (Loukas et al. 2023, µF1)", 87.7),
        ("SetFit mpnet-base, 20 per intent (Loukas et al. 2023, µF1)", 91.2),
        ("USE+ConveRT frozen (Casanueva et al. 2020)", 93.36),
        ("BERT-large fine-tuned, 335M (Casanueva et al. 2020)", 93.66),
        ("all-mpnet-base-v2 fine-tuned, 110M (Loukas et al. 2023, µF1)", 94.1),
    ],
    "claudette": [
        ("LexGLUE UNFAIR-ToS fine-tuned small encoders (µF1 / mF1)", "~94–97 / ~76–83"),
        ("gpt-3.5-turbo zero-shot on UNFAIR-ToS (Chalkidis 2023, µF1)", "41.4"),
    ],
}


def throughput(predict, texts, rounds: int = 3) -> float:
    """Texts per second for one call over all `texts` (the runtime sorts by length and batches
    internally); median of `rounds` after a warm-up."""
    import statistics

    predict(texts[:64])
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        predict(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


def build(task: str, train_file: Path, eval_file: Path | None, registry, config, multi_label=False, log=print):
    """Train + register through the same pipeline `rightmodel train` uses; keep the torch model."""
    from rightmodel.specialists.pipeline import BuildRequest, package_and_register, train_from_request

    request = BuildRequest(task=task, train_path=train_file, eval_path=eval_file, multi_label=multi_label, config=config)
    last = [0.0]

    def progress(step, total, info):
        if time.time() - last[0] > 30:
            last[0] = time.time()
            log(f"  {task}: step {step}/{total} epoch {info['epoch']} loss {info['loss']:.4f}")

    data, splits, trained = train_from_request(request, progress, log)
    version = package_and_register(request, registry, data, splits, trained, log)
    return version, trained, splits


def speed_comparison(version, trained, texts) -> dict:
    """Same texts, same batch size, same threads: PyTorch fp32 vs ONNX fp32 vs ONNX int8."""
    from rightmodel.specialists.export import export_onnx_fp32
    from rightmodel.specialists.runtime import SpecialistRuntime
    from rightmodel.specialists.train import predict_proba_torch

    texts = list(texts)[:2000]
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        export_onnx_fp32(trained, fp32_path)
        int8 = SpecialistRuntime(version.path)
        fp32 = SpecialistRuntime(version.path, model_file=str(fp32_path))
        int8_tps = throughput(lambda b: int8.predict_proba(b, batch_size=64), texts)
        torch_tps = throughput(lambda b: predict_proba_torch(trained, b, batch_size=64), texts)
        fp32_tps = throughput(lambda b: fp32.predict_proba(b, batch_size=64), texts)
    return {
        "texts": len(texts),
        "batch_size": 64,
        "pytorch_fp32_per_s": round(torch_tps, 1),
        "onnx_fp32_per_s": round(fp32_tps, 1),
        "onnx_int8_per_s": round(int8_tps, 1),
        "int8_over_pytorch": round(int8_tps / torch_tps, 2),
        "int8_over_onnx_fp32": round(int8_tps / fp32_tps, 2),
    }


def batch_consistency(version, texts, batch_size: int = 64) -> dict:
    """int8 dynamic quantization scales activations per batch tensor, so a text's probabilities
    depend a little on its batch-mates. Measure how often that changes a label or a routing
    decision: one text per call vs length-sorted batches."""
    import numpy as np

    from rightmodel.evaluate.card import read_card
    from rightmodel.specialists.runtime import SpecialistRuntime, confidence_of

    runtime = SpecialistRuntime(version.path)
    threshold = read_card(version.path)["calibration"]["threshold"]
    texts = list(texts)
    single = np.stack([runtime.predict_proba([t])[0] for t in texts])
    batched = runtime.predict_proba(texts, batch_size=batch_size)
    conf_s = confidence_of(single, runtime.multi_label, runtime.decision_threshold)
    conf_b = confidence_of(batched, runtime.multi_label, runtime.decision_threshold)
    diff = np.abs(single - batched).max(axis=1)
    return {
        "texts": len(texts),
        "label_flips": int((single.argmax(1) != batched.argmax(1)).sum()),
        "routing_flips": int(((conf_s >= threshold) != (conf_b >= threshold)).sum()),
        "max_abs_prob_diff": round(float(diff.max()), 5),
        "mean_abs_prob_diff": round(float(diff.mean()), 6),
    }


def card_summary(version) -> dict:
    from rightmodel.evaluate.card import read_card

    card = read_card(version.path)
    return {
        "version": version.ref,
        "n_train": card["data"]["n_train"],
        "n_calibration": card["data"]["n_calibration"],
        "n_eval": card["data"]["n_eval"],
        "eval_source": card["data"]["eval_source"],
        "accuracy": card["metrics"]["accuracy"],
        "micro_f1": card["metrics"]["micro_f1"],
        "macro_f1": card["metrics"]["macro_f1"],
        "fp32_accuracy": card["metrics_fp32"]["accuracy"],
        "int8_vs_fp32": card["int8_vs_fp32"],
        "calibration": card["calibration"],
        "calibration_on_test": card["calibration_on_eval"],
        "calibration_methods": card["calibration_methods"],
        "training_seconds": card["training"]["seconds"],
        "epochs": card["training"]["epochs"],
        "examples_per_second": card["training"]["examples_per_second"],
        "latency": card["latency"],
        "model_mb": round(card["size"]["model_bytes"] / 1e6, 1),
        "fp32_model_mb": round(card["size"]["fp32_model_bytes"] / 1e6, 1),
        "parameters_m": round(card["size"]["parameters"] / 1e6, 1),
        "hyperparameters": card["hyperparameters"],
    }


def bench_banking77(registry, config, work: Path, log) -> dict:
    from rightmodel.data.shipped import datasets_root

    root = datasets_root() / "banking77"
    started = time.perf_counter()
    version, trained, splits = build("banking77", root / "train.csv", root / "test.csv", registry, config, log=log)
    result = card_summary(version)
    result["build_seconds"] = round(time.perf_counter() - started, 1)
    result["speed"] = speed_comparison(version, trained, splits.evaluation.texts)
    result["batch_consistency"] = batch_consistency(version, splits.evaluation.texts)
    result["published"] = PUBLISHED["banking77"]
    return result


def bench_reviews(registry, config, work: Path, log) -> dict:
    from rightmodel.data import split_holdout
    from rightmodel.data.shipped import reviews_sentiment

    data = reviews_sentiment()
    rest, test = split_holdout(data, 0.2, seed=2024)
    rest.to_jsonl(work / "reviews_train.jsonl")
    test.to_jsonl(work / "reviews_test.jsonl")
    version, trained, splits = build("reviews", work / "reviews_train.jsonl", work / "reviews_test.jsonl", registry, config, log=log)
    result = card_summary(version)
    result["split"] = "stratified seeded split (seed 2024): 2,400 train (of which 10% calibration) / 600 test"
    result["speed"] = speed_comparison(version, trained, splits.evaluation.texts)
    return result


def bench_claudette(registry, config, work: Path, log) -> dict:
    from rightmodel.data.shipped import claudette_folds
    from rightmodel.specialists.scoring import open_runtime, score

    folds = []
    pooled_truth, pooled_pred = [], []
    for k, (train, test) in enumerate(claudette_folds()):
        train.to_jsonl(work / f"claudette_train_{k}.jsonl")
        test.to_jsonl(work / f"claudette_test_{k}.jsonl")
        version, trained, splits = build(
            f"claudette-fold{k}", work / f"claudette_train_{k}.jsonl", work / f"claudette_test_{k}.jsonl",
            registry, config, multi_label=True, log=log,
        )
        summary = card_summary(version)
        _, runtime, threshold = open_runtime(registry, version.ref)
        scored = score(runtime, test.texts, test.labels, threshold)
        pooled_truth += list(test.labels)
        pooled_pred += scored["predictions"]
        folds.append(summary)
        log(f"  fold {k}: micro-F1 {summary['micro_f1']:.4f} macro-F1 {summary['macro_f1']:.4f}")
    from rightmodel.data.shipped import CLAUDETTE_CATEGORIES
    from rightmodel.evaluate.metrics import classification_metrics

    pooled = classification_metrics(pooled_truth, pooled_pred, list(CLAUDETTE_CATEGORIES), True)
    with_none = lexglue_style(pooled_truth, pooled_pred)
    return {
        "pooled_with_none_class": with_none,
        "folds": folds,
        "pooled_micro_f1": pooled["micro_f1"],
        "pooled_macro_f1": pooled["macro_f1"],
        "mean_fold_micro_f1": round(sum(f["micro_f1"] for f in folds) / len(folds), 4),
        "mean_fold_macro_f1": round(sum(f["macro_f1"] for f in folds) / len(folds), 4),
        "per_class_pooled": pooled["per_class"],
        "training_seconds_total": round(sum(f["training_seconds"] for f in folds), 1),
        "published": PUBLISHED["claudette"],
    }


def lexglue_style(truth, pred) -> dict:
    """Scores with a 9th "none" label for sentences without an unfair category, as LexGLUE's
    UNFAIR-ToS evaluation does; it lifts micro-F1 because most sentences are "none"."""
    from rightmodel.data.shipped import CLAUDETTE_CATEGORIES
    from rightmodel.evaluate.metrics import classification_metrics

    def fill(rows):
        return [tuple(r) if r else ("none",) for r in rows]

    m = classification_metrics(fill(truth), fill(pred), list(CLAUDETTE_CATEGORIES) + ["none"], True)
    return {"micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"]}


def main() -> None:
    from rightmodel.registry import Registry
    from rightmodel.specialists.train import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="banking77,reviews,claudette")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch count (all datasets)")
    parser.add_argument("--claudette-epochs", type=int, default=8)
    parser.add_argument("--negative-rate", type=float, default=0.1, help="CLAUDETTE: label-less rows sampled per epoch")
    parser.add_argument("--claudette-max-length", type=int, default=96, help="CLAUDETTE: tokens kept per sentence")
    parser.add_argument("--out", type=Path, default=RESULTS / "specialists.json")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    results = dict(previous.get("datasets", {}))
    work = Path(tempfile.mkdtemp(prefix="rightmodel-bench-"))
    registry = Registry(work / "home")
    log = lambda m: print(m, flush=True)  # noqa: E731
    for name in args.only.split(","):
        config = TrainConfig(epochs=args.epochs)
        if name == "claudette":
            # 92% of CLAUDETTE sentences carry no label: sample 10% of those per epoch (prior-corrected)
            config = TrainConfig(
                epochs=args.claudette_epochs, negative_rate=args.negative_rate, max_length=args.claudette_max_length
            )
        log(f"== {name}")
        results[name] = {"banking77": bench_banking77, "reviews": bench_reviews, "claudette": bench_claudette}[name](
            registry, config, work, log
        )
        results[name]["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        out = {"machine": machine(), "datasets": results}
        args.out.write_text(json.dumps(out, indent=2))
        (args.out.with_suffix(".md")).write_text(render(out))
        log(f"wrote {args.out}")


def machine() -> dict:
    import torch

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def render(out: dict) -> str:
    from bench_report import render_specialists  # noqa: E402  (bench/bench_report.py)

    return render_specialists(out)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
