"""Choose the confidence threshold above which a specialist answers instead of escalating.

Two rules, both computed on a calibration split the model never trained on, over a fixed,
data-independent grid of thresholds:

- ``expected`` (default): the lowest threshold t whose accepted calibration answers satisfy
  (errors + 1) / (accepted + 1) <= alpha = 1 - target. This is the conformal risk control
  bound (n·R + B) / (n + 1) <= alpha with B = 1, applied to the answers that clear t. For a
  fixed t, exchangeability gives P(a new accepted answer is wrong) <= E[(errors + 1) /
  (accepted + 1)], so the expected accuracy of accepted answers is at least the target; choosing
  t from the same data makes that approximate, which is why the benchmark checks it on a
  held-out test set.
- ``high-probability``: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan & Lei, 2021). For
  each grid point an exact one-sided binomial test of "error rate among accepted answers >
  alpha", tested in fixed sequence towards lower thresholds from several starting points
  (multi-start, level delta / starts each). Guarantee: with probability >= 1 - delta over the
  calibration draw, accuracy among accepted answers is >= the target, for data exchangeable
  with the calibration split. It is strict: certifying 99% from ~1,000 examples needs the
  top-confidence answers to be almost error-free, so on noisy labels it may accept nothing.

``margin`` holds back a share of the error budget: the rule certifies an error rate of
alpha * (1 - margin) so that the promised 1 - alpha survives what the bound does not model. The
default is DEFAULT_MARGIN (a quarter) for `expected`, whatever the calibration answers are:

- cross-fitted: the threshold is chosen on fold models' scores, and the shipped model, trained on
  more rows, is more confident, so the same threshold accepts more of its answers than it accepted
  of the folds' (Banking77, 20 intents x 50 rows: 99.0% of calibration answers, 99.9% of test
  answers, 94.9% right against a 95% target; bench/results/small_data.md);
- a held-out split: the bound holds on average over calibration draws, for data like the
  calibration split. Banking77 re-split 100 times at the 99% target: without a margin 38% of the
  draws accepted test answers below 99.0% and 12% below 98.5% (70.9% answered on average); with
  a quarter held back 13% and 1% (60.9% answered; bench/results/confidence.md). And new sources
  are not like the calibration split: CLAUDETTE trained on 40 companies' terms and calibrated on
  a split of them answered the 10 unseen companies' clauses of one fold 93.7% right at the 95%
  target without a margin, 95.5% with it (bench/results/shift.md).

The price is coverage at 99%: about 10 points on Banking77 on average over those re-splits (16 on
its official split, 82.7% -> 66.2% answered; bench/results/specialists.md), 1-16 on the CLAUDETTE
folds: fewer local answers for a promise that holds. `margin=0` is the plain rule; the card records what the
margin costs on the same answers (certify.targets_without_margin).

Either way, when nothing can be certified the threshold is set above 1 and everything escalates.
Both results are stored in each version's card; the chosen one drives routing.

The calibration answers are either a split the shipped model never trained on (the guarantees
above hold as stated) or, for small files, cross-fitted out-of-fold answers
(rightmodel.specialists.crossfit): every row scored by a fold model that did not see it, while
the shipped model trains on all rows. Then the rules run on scores that approximate the shipped
model's; that is not an exact split-conformal guarantee, and the card says so.
rightmodel.routing.certify turns the same answers into what can and cannot be certified.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rightmodel.errors import needs_train_extra
from rightmodel.evaluate.card import NEVER_ACCEPT  # above every probability: the specialist never answers alone


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
    margin: float = 0.0  # share of the error budget held back (`expected` rule)

    def to_dict(self) -> dict:
        return asdict(self)


def binomial_p_value(errors: int, n: int, alpha: float) -> float:
    """P(X <= errors) for X ~ Binomial(n, alpha): small when the true error rate is below alpha."""
    try:
        from scipy.stats import binom
    except ImportError:
        raise needs_train_extra("scipy", "calibration") from None

    if n == 0:
        return 1.0
    return float(binom.cdf(errors, n, alpha))


METHODS = ("expected", "high-probability")
# Share of the error budget the `expected` rule holds back by default (see the module docstring for
# the measurements behind it).
DEFAULT_MARGIN = 0.25


def effective_alpha(target_accuracy: float, margin: float = 0.0) -> float:
    """The error rate the rule certifies: the promised one, less the margin held back."""
    if not 0.0 <= margin < 1.0:
        raise ValueError("margin must be in [0, 1)")
    return (1.0 - target_accuracy) * (1.0 - margin)


def calibrate_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target_accuracy: float = 0.99,
    delta: float = 0.1,
    method: str = "expected",
    grid: np.ndarray | None = None,
    chains: int = 8,
    margin: float = 0.0,
) -> Calibration:
    """Lowest grid threshold whose accepted answers reach target_accuracy under `method`
    (`expected` holds `margin` of the error budget back; `high-probability` already carries its
    own guarantee and ignores it)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.shape != correct.shape:
        raise ValueError("confidence and correct must have the same length")
    if not 0.0 < target_accuracy < 1.0:
        raise ValueError("target_accuracy must be strictly between 0 and 1")
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}")
    grid = np.sort(threshold_grid() if grid is None else np.asarray(grid, dtype=np.float64))
    alpha = 1.0 - target_accuracy
    margin = margin if method == "expected" else 0.0
    budget = effective_alpha(target_accuracy, margin)
    counts = [accepted_counts(confidence, correct, t) for t in grid]
    chosen = NEVER_ACCEPT
    if method == "expected":
        passing = [t for t, (n, e) in zip(grid, counts) if n and (e + 1) / (n + 1) <= budget]
        chosen = float(passing[0]) if passing else NEVER_ACCEPT
    else:
        starts = chain_starts(len(grid), chains)
        level = delta / len(starts)
        for start in starts:
            for i in range(start, -1, -1):  # towards lower thresholds, i.e. more coverage
                n, errors = counts[i]
                if not n or binomial_p_value(errors, n, alpha) > level:
                    break
                chosen = min(chosen, float(grid[i]))
    return summarize(confidence, correct, chosen, target_accuracy, delta, method, margin)


def accepted_counts(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> tuple[int, int]:
    """(answers accepted at threshold, errors among them)."""
    accepted = confidence >= threshold
    return int(accepted.sum()), int((~correct[accepted]).sum())


def chain_starts(grid_size: int, chains: int) -> list[int]:
    """Evenly spaced starting indices over the grid, the highest threshold included."""
    chains = max(1, min(chains, grid_size))
    return sorted({int(round(x)) for x in np.linspace(grid_size - 1, 0, chains + 1)[:-1]}, reverse=True)


def summarize(
    confidence: np.ndarray,
    correct: np.ndarray,
    threshold: float,
    target_accuracy: float,
    delta: float,
    method: str = "expected",
    margin: float = 0.0,
) -> Calibration:
    """Coverage and accepted accuracy of a threshold on a labelled set (used on test sets too)."""
    accepted = np.asarray(confidence) >= threshold
    n_acc = int(accepted.sum())
    return Calibration(
        threshold=float(threshold),
        target_accuracy=float(target_accuracy),
        delta=float(delta),
        method=method,
        n_calibration=int(len(confidence)),
        coverage=float(n_acc / len(confidence)) if len(confidence) else 0.0,
        accepted_accuracy=float(np.asarray(correct)[accepted].mean()) if n_acc else None,
        accepted=n_acc,
        margin=float(margin),
    )


def crossfit_summary(confidence: np.ndarray, correct: np.ndarray, chosen: Calibration, seed: int = 0) -> dict:
    """Out-of-sample coverage and accepted accuracy of the calibration *procedure* when the only
    held-out set is the calibration set itself: split it in two at random, calibrate on each half
    and score the threshold on the other, pool the two. Half the data per threshold makes this a
    slightly pessimistic estimate of the threshold ``chosen`` on all of it (whose own numbers on
    the set it was chosen on would be optimistic)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    order = np.random.default_rng(seed).permutation(len(confidence))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    accepted = right = 0
    for fit, score in (halves, halves[::-1]):
        if not len(fit) or not len(score):
            continue
        t = calibrate_threshold(confidence[fit], correct[fit], chosen.target_accuracy, chosen.delta, chosen.method,
                                margin=chosen.margin).threshold
        mask = confidence[score] >= t
        accepted += int(mask.sum())
        right += int(correct[score][mask].sum())
    n = len(confidence)
    return {
        "threshold": chosen.threshold, "target_accuracy": chosen.target_accuracy, "delta": chosen.delta,
        "method": chosen.method, "margin": chosen.margin, "n_calibration": n, "coverage": accepted / n if n else 0.0,
        "accepted_accuracy": right / accepted if accepted else None, "accepted": accepted,
        "crossfit": "2-fold: each half's threshold scored on the other half, pooled",
    }
