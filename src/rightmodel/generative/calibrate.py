"""Calibrate a generative specialist's acceptance threshold on held-out pairs, check it on a test split.

The answers are generated the way the gateway generates them (the same llama.cpp engine, greedy,
the task's JSON schema if it has one), each scored (generative/acceptance.py) and judged against
its reference by the task's quality bar. The threshold comes from routing/calibration.py — the
same rule, grid and target as a classifier's, but without the margin a classifier's `expected`
rule holds back by default since 2026-12-08 (DEFAULT_MARGIN; not yet measured on generative
tasks, whose benches were run without it) — and the card reports what it gives on the test
split: coverage and the quality of the answers it accepts.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightmodel.generative.acceptance import QualityBar
from rightmodel.generative.pairs import Conversation


@dataclass(frozen=True)
class Judged:
    """One held-out example: the model's answer, its acceptance score and how it measured up."""

    answer: str
    reference: str
    score: float
    metric: float
    right: bool


def holdout(examples: list[Conversation], seed: int, share: float = 0.15) -> tuple[list[Conversation], list[Conversation], list[Conversation]]:
    """(train, calibration, test) at random, `share` each for calibration and test (at least one
    example each when there are 3 or more). Random rows, not groups: a file whose rows come in
    families (templates, documents) should pass its own calibration and test files instead."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n = max(1, round(len(examples) * share)) if len(examples) >= 3 else 0
    pick = lambda idx: [examples[i] for i in idx]  # noqa: E731
    return pick(order[2 * n:]), pick(order[:n]), pick(order[n:2 * n])


def answer_all(gguf: Path, examples: list[Conversation], bar: QualityBar, *, json_schema: dict[str, Any] | None = None,
               max_tokens: int = 256, threads: int = 1, n_ctx: int = 2048,
               progress: Callable[[int, int], None] | None = None) -> list[Judged]:
    """Greedy answers to each conversation's prompt (its last message held out as the reference)."""
    from rightmodel.generative.engine import LlamaEngine
    from rightmodel.generative.request import GenerationRequest

    engine = LlamaEngine(gguf, n_ctx=n_ctx, threads=threads)
    judged: list[Judged] = []
    try:
        for i, conversation in enumerate(examples):
            prompt, reference = conversation[:-1], conversation[-1]["content"]
            req = GenerationRequest(messages=prompt, max_tokens=max_tokens, temperature=0.0, json_schema=json_schema, seed=0)
            ids = engine.prompt_ids(prompt)
            pieces, counter = engine.generate(req, ids, threading.Event())
            answer = "".join(p.text for p in pieces)
            metric = bar.score(answer, reference)
            judged.append(Judged(answer, reference, counter.acceptance or 0.0, metric, metric >= bar.tau - 1e-12))
            if progress is not None:
                progress(i + 1, len(examples))
    finally:
        engine.close()
    return judged


def outcome(judged: list[Judged], threshold: float) -> dict[str, Any]:
    """Coverage, quality of the accepted answers (share passing the bar, mean metric) and of all answers."""
    accepted = [j for j in judged if j.score >= threshold]
    n = len(judged)
    return {
        "n": n,
        "coverage": len(accepted) / n if n else 0.0,
        "accepted": len(accepted),
        "accepted_pass_rate": sum(j.right for j in accepted) / len(accepted) if accepted else None,
        "accepted_mean_metric": sum(j.metric for j in accepted) / len(accepted) if accepted else None,
        "all_pass_rate": sum(j.right for j in judged) / n if n else None,
        "all_mean_metric": sum(j.metric for j in judged) / n if n else None,
    }


def crossfit_outcome(judged: list[Judged], chosen, seed: int = 0) -> dict[str, Any]:
    """`outcome`'s numbers at the threshold when the calibration answers are the only held-out
    ones (distillation: captures are scarce): each half's threshold scored on the other half
    (routing/calibration.py crossfit_summary), so coverage and accepted quality are out of sample."""
    import numpy as np

    from rightmodel.routing.calibration import crossfit_summary

    cross = crossfit_summary(np.array([j.score for j in judged]), np.array([j.right for j in judged]), chosen, seed)
    everything = outcome(judged, chosen.threshold)
    return {**{k: v for k, v in everything.items() if k.startswith("all_") or k == "n"},
            "coverage": cross["coverage"], "accepted": cross["accepted"], "accepted_pass_rate": cross["accepted_accuracy"],
            "accepted_mean_metric": None, "crossfit": cross["crossfit"]}, cross


def calibrate_generative(gguf: Path, calibration: list[Conversation], test: list[Conversation], bar: QualityBar, *,
                         target: float = 0.95, method: str = "expected", json_schema: dict[str, Any] | None = None,
                         threads: int = 1, split: str = "", log: Callable[[str], None] = lambda _m: None,
                         crossfit: bool = False, max_tokens: int = 256) -> dict[str, Any]:
    """The card's `acceptance` section: the threshold chosen on `calibration`, what it gives on
    `test` (or, with `crossfit` and no test split, on the calibration answers cross-fitted)."""
    import numpy as np

    from rightmodel.routing.calibration import calibrate_threshold

    started = time.perf_counter()
    every = lambda name: (lambda i, n: log(f"{name}: {i}/{n}") if i % 50 == 0 or i == n else None)  # noqa: E731
    cal = answer_all(gguf, calibration, bar, json_schema=json_schema, threads=threads, max_tokens=max_tokens, progress=every("calibration"))
    chosen = calibrate_threshold(np.array([j.score for j in cal]), np.array([j.right for j in cal]), target, method=method)
    tested = answer_all(gguf, test, bar, json_schema=json_schema, threads=threads, max_tokens=max_tokens, progress=every("test")) if test else []
    extra: dict[str, Any] = {}
    if crossfit and not tested and cal:
        test_section, extra["calibration_on_eval"] = crossfit_outcome(cal, chosen)
    else:
        test_section = outcome(tested, chosen.threshold) if tested else None
    return {
        "score": "exp(mean token log-probability) of the answer, end token included",
        "quality_bar": str(bar),
        "target": target,
        "method": method,
        "threshold": chosen.threshold,
        "json_schema": json_schema,
        "split": split,
        "calibration": {**chosen.to_dict(), **{k: v for k, v in outcome(cal, chosen.threshold).items() if k.startswith("all_")}},
        "test": test_section,
        **extra,
        "model_file": gguf.name,
        "seconds": round(time.perf_counter() - started, 1),
    }
