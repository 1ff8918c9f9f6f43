"""Choose the confidence threshold above which a specialist answers instead of escalating.

Method: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan & Lei, 2021) for selective
classification. For each threshold t on a fixed, data-independent grid, the null hypothesis
"the error rate among answers with confidence >= t exceeds alpha" is tested with an exact
one-sided binomial test on a held-out calibration split. The family-wise error is controlled
by fixed-sequence testing from several starting points (LTT's multi-start fixed sequence):
each of K chains starts at a grid point and walks towards lower thresholds, testing at level
delta / K, until its first non-rejection. The chosen threshold is the lowest rejected one.
Walking in sequence spends no multiplicity budget along a chain, which is what lets ~1,000
calibration examples certify a 99% target; several starts keep one unlucky, data-poor first
point from stopping everything.

Guarantee: if calibration and future inputs are exchangeable (drawn from the same
distribution), then with probability at least 1 - delta over the draw of the calibration set,
the accuracy of the answers the specialist accepts at the chosen threshold is at least
1 - alpha. The exact test (no normal approximation) keeps it valid for small calibration sets;
when the data cannot support the target, the threshold is set above 1 so everything escalates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

NEVER_ACCEPT = 1.000001  # above every probability: the specialist never answers alone


def threshold_grid(size: int = 120) -> np.ndarray:
    """Fixed grid, dense near 1 where thresholds for high accuracy targets live.

    Points are a logistic map of an even grid on the logit scale (confidence 0.27 .. 1 - 1e-6),
    plus 0 (accept everything). Being data-independent is what keeps the tests valid.
    """
    logits = np.linspace(-1.0, 14.0, size - 1)
    return np.concatenate([[0.0], 1.0 / (1.0 + np.exp(-logits))])


@dataclass(frozen=True)
class Calibration:
    """The stored decision rule and what it achieved on the calibration split."""

    threshold: float
    target_accuracy: float
    delta: float
    method: str
    n_calibration: int
    coverage: float  # share of calibration items at or above the threshold
    accepted_accuracy: float | None  # accuracy on those items (None when nothing is accepted)
    accepted: int

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "Calibration":
        return Calibration(**data)


def binomial_p_value(errors: int, n: int, alpha: float) -> float:
    """P(X <= errors) for X ~ Binomial(n, alpha): small when the true error rate is below alpha."""
    from scipy.stats import binom

    if n == 0:
        return 1.0
    return float(binom.cdf(errors, n, alpha))


def calibrate_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target_accuracy: float = 0.99,
    delta: float = 0.1,
    grid: np.ndarray | None = None,
    chains: int = 8,
) -> Calibration:
    """Lowest grid threshold whose accepted-answer accuracy is certified >= target_accuracy."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.shape != correct.shape:
        raise ValueError("confidence and correct must have the same length")
    if not 0.0 < target_accuracy < 1.0:
        raise ValueError("target_accuracy must be strictly between 0 and 1")
    grid = np.sort(threshold_grid() if grid is None else np.asarray(grid, dtype=np.float64))
    alpha = 1.0 - target_accuracy
    starts = chain_starts(len(grid), chains)
    level = delta / len(starts)
    chosen = NEVER_ACCEPT
    for start in starts:
        for i in range(start, -1, -1):  # towards lower thresholds, i.e. more coverage
            accepted = confidence >= grid[i]
            n = int(accepted.sum())
            errors = int((~correct[accepted]).sum())
            if not n or binomial_p_value(errors, n, alpha) > level:
                break
            chosen = min(chosen, float(grid[i]))
    return summarize(confidence, correct, chosen, target_accuracy, delta)


def chain_starts(grid_size: int, chains: int) -> list[int]:
    """Evenly spaced starting indices over the grid, the highest threshold included."""
    chains = max(1, min(chains, grid_size))
    return sorted({int(round(x)) for x in np.linspace(grid_size - 1, 0, chains + 1)[:-1]}, reverse=True)


def summarize(
    confidence: np.ndarray, correct: np.ndarray, threshold: float, target_accuracy: float, delta: float
) -> Calibration:
    """Coverage and accepted accuracy of a threshold on a labelled set (used on test sets too)."""
    accepted = np.asarray(confidence) >= threshold
    n_acc = int(accepted.sum())
    return Calibration(
        threshold=float(threshold),
        target_accuracy=float(target_accuracy),
        delta=float(delta),
        method="learn-then-test: exact binomial tests, multi-start fixed-sequence over a fixed 120-point grid",
        n_calibration=int(len(confidence)),
        coverage=float(n_acc / len(confidence)) if len(confidence) else 0.0,
        accepted_accuracy=float(np.asarray(correct)[accepted].mean()) if n_acc else None,
        accepted=n_acc,
    )
