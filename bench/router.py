"""Bench: learned routers on RouteLLM's MMLU outcomes, held out two ways, beside published numbers.

    python bench/router.py            # → bench/results/router.{json,md,svg}

What it does, in order (one process, holding the shared /tmp/bench.lock from bench/benchlib.py):

1. Loads ``datasets/routellm_mmlu`` with the generic outcome loader (the directory's
   ``contaminated_prompts.jsonl`` is dropped at load time → 14,037 rows; each file is a group).
   Nothing in rightmodel.router knows it is MMLU: the same code reads any outcome file.
2. Embeds every prompt once with the router encoder (bundled MiniLM, int8, 128 tokens).
3. Two held-out schemes, 5 folds each:
   - **by prompt**: folds grouped by prompt *text* (the 105 repeated prompts never straddle a
     fold); inner CV (3 folds, also grouped by text) on each training part picks hyperparameters.
   - **leave subjects out**: folds grouped by subject file (~11 of 57 subjects held out per
     fold); inner CV grouped by subject too, so hyperparameters are picked for unseen topics.
   Router kinds: classifier, knn, hybrid, and tfidf — the TF-IDF + logistic-regression
   baseline, fitted and tuned by exactly the same procedure in the same run.
4. Scores pooled out-of-fold: APGR over the full threshold sweep and over RouteLLM's 10 quantile
   bins, CPT(50%), CPT(80%); per-fold APGR spread; random (seeded) and oracle for scale.
5. Routing latency: each kind refit on all rows, then one prompt at a time (300 random prompts,
   ONNX Runtime on 1 thread, and on all cores as `rightmodel serve` runs it by default): time to
   featurise + score, beside a baseline — the gateway's existing
   `auto` task recognition by example similarity (fp32 embedder on the same prompt + one dot
   product), which is what a request routed today already pays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

import benchlib  # noqa: E402  (bench/benchlib.py: the shared bench lock)
from router_bench.render import render  # noqa: E402

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
KINDS = ("classifier", "knn", "hybrid", "tfidf")
PUBLISHED = [  # ../shared/data/README.md (RouteLLM paper, MMLU; routers trained on Arena data + ~1.5k MMLU-val labels)
    {"router": "random", "apgr": 0.500, "cpt50": 0.501, "cpt80": None},
    {"router": "BERT classifier", "apgr": 0.572, "cpt50": 0.413, "cpt80": None},
    {"router": "matrix factorisation", "apgr": 0.597, "cpt50": 0.355, "cpt80": None},
    {"router": "causal LLM (Llama-3-8B)", "apgr": 0.600, "cpt50": 0.355, "cpt80": None},
    {"router": "similarity-weighted ranking (best)", "apgr": 0.603, "cpt50": 0.354, "cpt80": 0.716},
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def embeddings(outcomes, cache: Path, max_length: int, layers: int | None) -> tuple[np.ndarray, Path, float]:
    from rightmodel.router.encoder import Encoder, export_encoder

    enc_dir = export_encoder(cache / f"encoder-{max_length}-L{layers}", cache / "home-cache", None, max_length, layers)
    key = f"{outcomes.content_hash()[:16]}-{max_length}-L{layers}"
    path = cache / f"emb-{key}.npy"
    if path.is_file():
        return np.load(path), enc_dir, float("nan")
    t0 = time.perf_counter()
    x = Encoder(enc_dir).embed(outcomes.prompts)
    seconds = time.perf_counter() - t0
    np.save(path, x)
    return x, enc_dir, seconds


def scheme(name, kinds, feats, outcomes, fold_keys, inner_keys, folds, seed) -> dict:
    from rightmodel.router.crossval import cross_validate
    from rightmodel.router.metrics import random_scores, score_report, sweep_curve

    t0 = time.perf_counter()
    cv = cross_validate(kinds, feats, outcomes.gain, fold_keys, folds, seed, inner_keys=inner_keys, log=lambda m: log(f"{name}: {m}"))
    out: dict = {"seconds": round(time.perf_counter() - t0, 1), "folds": folds,
                 "fold_sizes": [int((cv.folds == f).sum()) for f in range(folds)], "kinds": {}}
    curves = {}
    for kind in (*kinds, "random"):
        s = cv.scores[kind] if kind != "random" else random_scores(len(outcomes), seed)
        rep = score_report(s, outcomes.strong, outcomes.weak)
        per_fold = []
        for f in range(folds):
            m = cv.folds == f
            per_fold.append(sweep_curve(s[m], outcomes.strong[m], outcomes.weak[m]).apgr())
        out["kinds"][kind] = {"sweep": rep["sweep"], "bins10": rep["bins10"],
                              "per_fold_apgr": per_fold, "per_fold_apgr_mean": float(np.mean(per_fold)),
                              "per_fold_apgr_sd": float(np.std(per_fold, ddof=1)),
                              "selected": [sel["params"] for sel in cv.selections.get(kind, [])]}
        out["oracle"] = rep["oracle"]
        curves[kind] = sweep_curve(s, outcomes.strong, outcomes.weak)
    return out, curves


def latency(kinds, feats, outcomes, enc_dir: Path, results: dict, cache: Path, n: int, seed: int) -> dict:
    """Per kind: refit on all rows with the hyperparameters most folds chose, time one prompt at a time."""
    import tempfile

    from rightmodel.router.artifact import load_router, save_router
    from rightmodel.router.kinds import make_router
    from rightmodel.specialists.embedder import Embedder, ensure_embedder

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(outcomes), n, replace=False)
    prompts = [outcomes.prompts[i] for i in idx]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(enc_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    tokens = [len(e.ids) for e in tok.encode_batch(prompts)]

    def timed(fn) -> dict:
        for p in prompts[:10]:
            fn(p)
        t = []
        for p in prompts:
            t0 = time.perf_counter()
            fn(p)
            t.append(time.perf_counter() - t0)
        ms = np.asarray(t) * 1e3
        return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "mean_ms": round(float(ms.mean()), 3)}

    out: dict = {"prompts": n, "prompt_tokens_p50": int(np.percentile(tokens, 50)),
                 "prompt_tokens_p99": int(np.percentile(tokens, 99)), "threads": 1, "default_threads": os.cpu_count(), "kinds": {}}
    # Baseline: what an `auto` request already pays today to be recognised by example similarity.
    emb = Embedder(ensure_embedder(cache / "home-cache"), threads=1)
    examples = emb.embed(["my card hasn't arrived", "translate this to French", "summarise the document"])
    out["baseline_auto_task_recognition"] = timed(lambda p: examples @ emb.embed([p])[0])
    for kind in kinds:
        chosen = results["by_prompt"]["kinds"][kind]["selected"]
        params = json.loads(Counter(json.dumps(c, sort_keys=True) for c in chosen).most_common(1)[0][0])
        model = make_router(kind, params).fit(feats, outcomes.gain)
        with tempfile.TemporaryDirectory(dir=cache) as d:
            d = Path(d)
            if model.needs_embeddings:
                for f in ("encoder.onnx", "encoder.json", "tokenizer.json"):
                    os.link(enc_dir / f, d / f)
            # the held-out score table only serves threshold_for_share, which this timing does not use
            save_router(d, model, {"name": kind, "strong_model": STRONG, "weak_model": WEAK}, np.zeros(1))
            router = load_router(d, threads=1)
            row = {"params": params, "decision": timed(lambda p: router.score([p])[0] >= 0.0)}
            if model.needs_embeddings:
                row["encoder_only"] = timed(lambda p: router.encoder.embed([p]))
                # as `rightmodel serve` runs it unless --threads is given: ONNX Runtime on all cores
                served = load_router(d, threads=None)
                row["decision_default_threads"] = timed(lambda p: served.score([p])[0] >= 0.0)
            out["kinds"][kind] = row
    # What the encoder costs under other settings (same int8 file; max_length only truncates input)
    from rightmodel.router.encoder import Encoder

    variants = {}
    for tokens_kept, threads in ((64, 1), (96, 1)):
        enc = Encoder(enc_dir, threads=threads)
        enc.tokenizer.enable_truncation(tokens_kept)
        variants[f"max_length={tokens_kept}, threads={threads}"] = timed(lambda p: enc.embed([p]))
    out["encoder_variants"] = variants
    return out


def compare_block(other: dict) -> dict:
    """The headline numbers of another run (another encoder depth), to print beside this one."""
    keep = ("sweep", "bins10")
    return {"started": other["started"], "layers": other.get("layers"), "max_length": other["max_length"],
            **{scheme: {k: {m: v[m] for m in keep} for k, v in other[scheme]["kinds"].items()}
               for scheme in ("by_prompt", "leave_subjects_out")},
            "latency": {k: v["decision"] for k, v in other["latency"]["kinds"].items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT / "datasets" / "routellm_mmlu"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--cache", default="/tmp/rightmodel-router-bench")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--layers", type=int, default=None, help="encoder layers to keep (default: as `router train`, 3; 0 keeps all)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--latency-prompts", type=int, default=300)
    ap.add_argument("--lock-wait", type=int, default=1800)
    ap.add_argument("--compare", help="router.json of an earlier run (e.g. the full encoder) to show beside this one")
    ap.add_argument("--compare-note", default="", help="what the reader should know about the comparison")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    kinds = tuple(k for k in a.kinds.split(",") if k)
    from rightmodel.router.encoder import resolve_layers

    a.layers = resolve_layers(None, a.layers)
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    lock = benchlib.BenchLock("bench/router.py", time.strftime("%Y%m%d-%H%M%S"), a.lock_wait, log=log)
    lock.acquire()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        from rightmodel.router.kinds import Features
        from rightmodel.router.outcomes import read_outcomes

        outcomes = read_outcomes(a.data, strong=STRONG, weak=WEAK)
        log(f"{len(outcomes)} rows ({outcomes.skipped}), {len(set(outcomes.prompts))} distinct prompts, {len(set(outcomes.groups))} groups")
        x, enc_dir, embed_s = embeddings(outcomes, cache, a.max_length, a.layers)
        log(f"embedded {len(x)} prompts ({embed_s:.0f} s)")
        feats = Features(list(outcomes.prompts), x)
        results: dict = {"started": started, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                          "processor": platform.processor() or platform.machine()},
                         "data": outcomes.describe(), "max_length": a.max_length, "layers": a.layers, "seed": a.seed,
                         "embed_seconds": round(embed_s, 1), "published": PUBLISHED}
        curves = {}
        results["by_prompt"], curves["by_prompt"] = scheme("by prompt", kinds, feats, outcomes, outcomes.prompts, outcomes.prompts, a.folds, a.seed)
        results["leave_subjects_out"], curves["leave_subjects_out"] = scheme(
            "leave subjects out", kinds, feats, outcomes, outcomes.groups, outcomes.groups, a.folds, a.seed)
        log("latency")
        results["latency"] = latency(kinds, feats, outcomes, enc_dir, results, cache, a.latency_prompts, a.seed)
    finally:
        lock.release()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from rightmodel.router.metrics import oracle_scores, sweep_curve
    from rightmodel.router.plot import plot_pgr

    oracle = sweep_curve(oracle_scores(outcomes.strong, outcomes.weak), outcomes.strong, outcomes.weak)
    for key, title in (("by_prompt", "5-fold by prompt"), ("leave_subjects_out", "leave subjects out (5 folds)")):
        shown = {k: c for k, c in curves[key].items() if k != "random"}
        plot_pgr(shown, oracle, out / f"router.{key.replace('_', '-')}.svg", f"RouteLLM MMLU outcomes, held out: {title}")
    results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if a.compare:
        results["compare"] = compare_block(json.loads(Path(a.compare).read_text()))
        results["compare_note"] = a.compare_note
    (out / "router.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    (out / "router.md").write_text(render(results))
    log(f"wrote {out / 'router.json'} and {out / 'router.md'}")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
