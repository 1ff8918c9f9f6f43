"""What a set of calibration answers can certify, said at train time and in the card.

Why: a threshold above 1 (nothing answered locally) used to be the only sign that the
calibration evidence was too thin for the target. A team with 60 calibration answers needs to
hear, while training, that 99% cannot be certified from 60 answers whatever the model does,
that 95% can at some coverage, and what to do: label more rows, lower `--target-accuracy`, or
cross-fit so every row counts as calibration evidence.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from rightmodel.routing.calibration import calibrate_threshold, chain_starts, effective_alpha, threshold_grid

DEFAULT_TARGETS = (0.99, 0.95, 0.9, 0.8)


def min_answers(target_accuracy: float, method: str = "expected", delta: float = 0.1, margin: float = 0.0) -> int:
    """Fewest accepted calibration answers that could certify `target_accuracy`, even with no error.

    `expected`: (0 + 1) / (n + 1) <= (1 - target) * (1 - margin). `high-probability`:
    (target)^n <= delta / starts, the exact binomial test at the per-chain level with zero errors.
    """
    alpha = 1.0 - target_accuracy
    if method == "expected":
        return max(1, math.ceil(1.0 / effective_alpha(target_accuracy, margin) - 1.0 - 1e-9))
    level = delta / len(chain_starts(len(threshold_grid()), 8))
    return max(1, math.ceil(math.log(level) / math.log(1.0 - alpha) - 1e-9))


def certifiable(
    confidence: np.ndarray,
    correct: np.ndarray,
    target_accuracy: float,
    delta: float = 0.1,
    method: str = "expected",
    targets: Sequence[float] = DEFAULT_TARGETS,
    margin: float = 0.0,
) -> list[dict]:
    """For each target (the requested one included): threshold, coverage and whether it certifies."""
    wanted = sorted({round(float(t), 6) for t in (*targets, target_accuracy)}, reverse=True)
    rows = []
    for target in wanted:
        cal = calibrate_threshold(confidence, correct, target, delta, method, margin=margin)
        rows.append({
            "target_accuracy": target,
            "certified": cal.accepted > 0,
            "threshold": cal.threshold,
            "coverage": cal.coverage,
            "accepted_accuracy": cal.accepted_accuracy,
            "min_answers": min_answers(target, method, delta, margin if method == "expected" else 0.0),
        })
    return rows


def best_certifiable(
    confidence: np.ndarray,
    correct: np.ndarray,
    delta: float = 0.1,
    method: str = "expected",
    margin: float = 0.0,
    step: float = 0.001,
) -> dict | None:
    """The highest target (on a `step` grid, 50% to 99.9%) these answers certify at any coverage,
    with its threshold and coverage; None when not even 50% can be. Certifiability only shrinks
    as the target rises, so a bisection over the grid finds it."""
    grid = np.round(np.arange(0.5, 0.9995, step), 6)
    at = lambda i: calibrate_threshold(confidence, correct, float(grid[i]), delta, method, margin=margin)  # noqa: E731
    lo, hi, best = 0, len(grid) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        cal = at(mid)
        if cal.accepted > 0:
            best, lo = cal, mid + 1
        else:
            hi = mid - 1
    if best is None:
        return None
    return {"target_accuracy": best.target_accuracy, "threshold": best.threshold, "coverage": best.coverage}


def certify_lines(rows: list[dict], n: int, target_accuracy: float, source: str, cross_fitted: bool, method: str,
                  margin: float = 0.0, best: dict | None = None) -> list[str]:
    """Plain sentences for the train output and the card: what is certified, what is not, options."""
    rule = f"rule `{method}`" + (f", {margin:.0%} of the error budget held back" if margin and method == "expected" else "")
    lines = [f"calibration evidence: {n} answers ({source}); what it can certify ({rule}):"]
    for r in rows:
        mark = " (requested)" if abs(r["target_accuracy"] - target_accuracy) < 1e-9 else ""
        if r["certified"]:
            lines.append(f"  {r['target_accuracy']:.0%}{mark}: yes, answering {r['coverage']:.1%} locally (threshold {r['threshold']:.5f})")
        elif n < r["min_answers"]:
            lines.append(f"  {r['target_accuracy']:.0%}{mark}: cannot be certified from {n} answers "
                         f"(needs at least {r['min_answers']} accepted answers, even with no error)")
        else:
            lines.append(f"  {r['target_accuracy']:.0%}{mark}: not certified (too many errors among the most confident answers)")
    chosen = next(r for r in rows if abs(r["target_accuracy"] - target_accuracy) < 1e-9)
    if not chosen["certified"]:
        options = [f"label more rows (at least {chosen['min_answers']} calibration answers are needed for "
                   f"{target_accuracy:.0%}, more if some are wrong)"]
        lower = next((r for r in rows if r["certified"] and r["target_accuracy"] < target_accuracy), None)
        if best is not None:
            options.append(f"lower --target-accuracy: the highest target these answers certify is "
                           f"{best['target_accuracy']:.1%} (coverage {best['coverage']:.1%})")
        elif lower is not None:
            options.append(f"lower --target-accuracy to {lower['target_accuracy']:g} (coverage {lower['coverage']:.1%})")
        if not cross_fitted:
            options.append("--calibration-mode cross-fit (every labelled row becomes calibration evidence)")
        lines.append(f"nothing will be answered locally at {target_accuracy:.0%}; options: " + "; ".join(options))
    return lines
