"""``router train``: outcome file → cross-validated card → final router → registry version.

The card's numbers are held out: k-fold by prompt text (duplicates together) or by the file's
groups, hyperparameters chosen by inner CV inside each training part. The registered router is
then refit on every row, with hyperparameters chosen by the same inner CV over all rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rightmodel.errors import ConfigError
from rightmodel.router.kinds import KINDS, Features
from rightmodel.router.outcomes import OutcomeSet, read_outcomes

SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class RouterTrainRequest:
    name: str
    data: Path
    strong: str
    weak: str
    kind: str = "hybrid"
    prompt_col: str | None = None
    exclude: list[Path] = field(default_factory=list)
    folds: int = 5
    split: str = "prompt"  # or "group": hold out whole groups (files of a directory)
    seed: int = 13
    max_length: int = 128
    layers: int | None = None  # keep the encoder's first N layers; None: encoder.DEFAULT_LAYERS; 0: all
    base: str | None = None
    encoding: str = "utf-8"


def embed_outcomes(outcomes: OutcomeSet, encoder_dir: Path | None) -> Features:
    if encoder_dir is None:
        return Features(list(outcomes.prompts))
    from rightmodel.router.encoder import Encoder

    return Features(list(outcomes.prompts), Encoder(encoder_dir).embed(outcomes.prompts))


def measure_latency(router: Any, texts: list[str], n: int = 100) -> dict[str, float]:
    """Single-prompt routing time (featurise + score), as the gateway calls it."""
    sample = texts[:n]
    for t in sample[:5]:
        router.score([t])
    times = []
    for t in sample:
        t0 = time.perf_counter()
        router.score([t])
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times) * 1e3
    return {"n": len(sample), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def build_router(request: RouterTrainRequest, registry: Any, log: Callable[[str], None] = lambda m: None) -> Any:
    """Train, evaluate, write card and plot, register as a candidate; returns the ModelVersion."""
    from rightmodel.router.artifact import load_router, save_router
    from rightmodel.router.card import write_card
    from rightmodel.router.crossval import INNER_FOLDS, cross_validate, fit_selected
    from rightmodel.router.encoder import export_encoder, resolve_layers
    from rightmodel.router.metrics import random_curve, score_report, sweep_curve, oracle_scores
    from rightmodel.specialists.encoder import describe_base

    if request.kind not in KINDS:
        raise ConfigError(f"--kind must be one of: {', '.join(KINDS)}")
    if request.split not in ("prompt", "group"):
        raise ConfigError("--split must be 'prompt' or 'group'")
    if not 0 < request.max_length <= 512:
        raise ConfigError(f"--max-length must be between 1 and 512, got {request.max_length}")
    outcomes = read_outcomes(request.data, strong=request.strong, weak=request.weak, prompt_col=request.prompt_col,
                             exclude=request.exclude, encoding=request.encoding)
    desc = outcomes.describe()
    log(f"{desc['rows']} rows, {desc['unique_prompts']} distinct prompts, {desc['groups']} group(s); "
        f"strong {desc['strong_mean']:.3f} vs weak {desc['weak_mean']:.3f}")
    keys = outcomes.prompts if request.split == "prompt" else outcomes.groups
    layers = resolve_layers(request.base, request.layers) if KINDS[request.kind].needs_embeddings else None
    with registry.staging(request.name) as stage:
        encoder_dir = None
        if KINDS[request.kind].needs_embeddings:
            log("exporting the int8 encoder and embedding the prompts")
            encoder_dir = export_encoder(stage, registry.home / "cache", request.base, request.max_length, layers)
        feats = embed_outcomes(outcomes, encoder_dir)
        gain = outcomes.gain
        log(f"{request.folds}-fold cross-validation grouped by {request.split}")
        cv = cross_validate([request.kind], feats, gain, keys, request.folds, request.seed, log=log)
        held = cv.scores[request.kind]
        report = score_report(held, outcomes.strong, outcomes.weak)
        curve = sweep_curve(held, outcomes.strong, outcomes.weak)
        log("fitting the final router on every row")
        model, sel = fit_selected(request.kind, feats, gain, keys, request.seed)
        spec = {"name": request.name, "strong_model": request.strong, "weak_model": request.weak,
                "max_length": request.max_length if encoder_dir else None}
        save_router(stage, model, spec, held, outcomes.prompts)
        router = load_router(stage)
        thresholds = [{"share": s, "threshold": router.threshold_for_share(s), "pgr": curve.pgr_at(s)} for s in SHARES]
        plot_name = "pgr.svg"
        try:
            from rightmodel.router.plot import plot_pgr

            oracle = sweep_curve(oracle_scores(outcomes.strong, outcomes.weak), outcomes.strong, outcomes.weak)
            plot_pgr({request.kind: curve}, oracle, stage / plot_name,
                     f"{request.name}: held-out PGR ({request.folds}-fold by {request.split})")
        except ConfigError as exc:  # matplotlib missing: the card says so instead of failing training
            log(f"no plot: {exc}")
            plot_name = None
        rnd = random_curve(curve.weak_quality, curve.strong_quality)
        split_text = (f"{request.folds}-fold cross-validation, folds grouped by prompt text (repeated prompts share a fold)"
                      if request.split == "prompt" else
                      f"{request.folds}-fold cross-validation holding out whole groups ({desc['groups']} groups)")
        card = {
            "name": request.name, "router_kind": request.kind, "params": sel.params, "data_hash": outcomes.content_hash(),
            "encoder": (f"{describe_base(request.base)}{f', first {layers} layers' if layers else ''}, int8, "
                        f"max {request.max_length} tokens") if encoder_dir else None,
            "data": desc,
            "evaluation": {"split": split_text, "folds": request.folds, "seed": request.seed,
                           "inner": f"{INNER_FOLDS}-fold inner cross-validation on each training part (APGR, full sweep)",
                           "per_fold": cv.selections[request.kind], "selection_all_rows": sel.tried},
            "metrics": {"sweep": report["sweep"], "bins10": report["bins10"], "oracle": report["oracle"],
                        "random": rnd.summary()},
            "thresholds": thresholds,
            "latency": measure_latency(router, outcomes.prompts),
            "plot": plot_name,
        }
        write_card(card, stage)
        manifest = {
            "kind": "router", "router_kind": request.kind,
            "base_model": describe_base(request.base) if encoder_dir else None,
            "data_hash": card["data_hash"],
            "metrics": {"apgr": report["sweep"]["apgr"], "cpt50": report["sweep"]["cpt50"],
                        "cpt80": report["sweep"]["cpt80"], "apgr_bins10": report["bins10"]["apgr"]},
        }
        return registry.register(request.name, stage, manifest)
