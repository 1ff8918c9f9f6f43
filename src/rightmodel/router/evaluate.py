"""Score a trained router on an outcome file: curves, APGR/CPT, and an optional plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rightmodel.router.artifact import LearnedRouter
from rightmodel.router.metrics import binned_curve, oracle_scores, random_curve, sweep_curve
from rightmodel.router.outcomes import read_outcomes


def evaluate_router(
    router: LearnedRouter, data: Path, *, strong: str | None = None, weak: str | None = None,
    prompt_col: str | None = None, exclude: Sequence[Path] = (), plot: Path | None = None, bins: int = 10,
    encoding: str = "utf-8", title: str = "",
) -> dict[str, Any]:
    outcomes = read_outcomes(data, strong=strong or router.strong_model, weak=weak or router.weak_model,
                             prompt_col=prompt_col, exclude=exclude, encoding=encoding)
    scores = router.score(outcomes.prompts)
    seen = int(router.seen_in_training(outcomes.prompts).sum())
    sweep = sweep_curve(scores, outcomes.strong, outcomes.weak)
    binned = binned_curve(scores, outcomes.strong, outcomes.weak, bins)
    oracle = sweep_curve(oracle_scores(outcomes.strong, outcomes.weak), outcomes.strong, outcomes.weak)
    result: dict[str, Any] = {
        "n": len(outcomes), "data": str(data), "seen_in_training": seen, "strong_quality": sweep.strong_quality, "weak_quality": sweep.weak_quality,
        "sweep": sweep.summary(), f"bins{bins}": binned.summary(), "oracle": oracle.summary(),
        "random": random_curve(sweep.weak_quality, sweep.strong_quality).summary(),
        "curve": {"strong_share": binned.strong_share.tolist(), "pgr": binned.pgr.tolist()},
    }
    if plot is not None:
        from rightmodel.router.plot import plot_pgr

        result["plot"] = str(plot_pgr({router.kind: sweep}, oracle, plot, f"{title} on {Path(data).name}"))
    return result
