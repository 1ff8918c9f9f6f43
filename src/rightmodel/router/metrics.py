"""How good is a router: PGR curve, APGR and CPT as defined in the RouteLLM paper.

A router gives each prompt a score; prompts whose score is >= a threshold go to the strong model.
Sweeping the threshold trades the share of strong calls (x, 0 → 1) against mean quality:

- PGR(x) = (quality(x) − weak) / (strong − weak), where weak/strong are the mean quality of sending
  every prompt of the evaluated set to the weak/strong model (Ong et al. 2024, "RouteLLM").
- APGR = area under PGR over x, normalised by the x range covered (RouteLLM ``apgr_metric``:
  trapezoid rule over the points, minus the weak model's area, over the strong-minus-weak area).
- CPT(p) = the smallest strong-call share at which the PGR curve reaches p.

Thresholds and ties, documented because they change the numbers:

- **Full sweep** (``sweep_curve``): one point per distinct score plus the all-weak point. Prompts
  with equal scores are routed together (a threshold cannot split them), and the curve is linear
  between points — exactly the expected quality if a tie group were split at random.
- **RouteLLM's bins** (``binned_curve``, default 10): thresholds are the 0%, 10%, …, 100% quantiles
  of the scores (linear interpolation, as ``pandas.qcut``); strong iff score >= threshold, except
  the last (the maximum), where strong iff score > threshold, so the curve ends at 0% strong.
  Duplicate thresholds give duplicate points (zero width, no effect on the area).
- **CPT**: the first crossing of p on the piecewise-linear curve ordered by strong share. RouteLLM
  uses ``np.interp(target, quality, share)``, which agrees when quality rises monotonically with
  the share and is ill-defined otherwise; the first crossing is what a user would have to pay.

Random routing has APGR 0.5 in expectation (its expected curve is the straight line from weak to
strong); the oracle routes prompts by their true gain ``q_strong − q_weak``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rightmodel.errors import DataError

DEFAULT_BINS = 10


@dataclass(frozen=True)
class RoutingCurve:
    """Points (strong-call share, mean quality) in increasing share; thresholds per point."""

    strong_share: np.ndarray
    quality: np.ndarray
    thresholds: np.ndarray
    weak_quality: float
    strong_quality: float

    @property
    def pgr(self) -> np.ndarray:
        return (self.quality - self.weak_quality) / (self.strong_quality - self.weak_quality)

    def apgr(self) -> float:
        """Area under PGR over the share range covered, divided by that range (RouteLLM)."""
        x = self.strong_share
        width = float(x[-1] - x[0])
        if width <= 0:
            raise DataError("the routing curve covers a single strong-call share; APGR is undefined")
        return float(np.trapezoid(self.pgr, x) / width)

    def cpt(self, target: float) -> float | None:
        """Smallest strong-call share at which PGR reaches ``target`` (first crossing), or None."""
        pgr = self.pgr
        x = self.strong_share
        hit = np.nonzero(pgr >= target - 1e-12)[0]
        if hit.size == 0:
            return None
        i = int(hit[0])
        if i == 0:
            return float(x[0])
        x0, x1, y0, y1 = x[i - 1], x[i], pgr[i - 1], pgr[i]
        return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)

    def pgr_at(self, share: float) -> float:
        """PGR at a strong-call share, interpolated linearly between points."""
        return float(np.interp(share, self.strong_share, self.pgr))

    def summary(self) -> dict[str, float | None]:
        return {"apgr": self.apgr(), "cpt50": self.cpt(0.5), "cpt80": self.cpt(0.8)}


def _check(scores: Sequence[float], q_strong: Sequence[float], q_weak: Sequence[float]) -> tuple[np.ndarray, ...]:
    s = np.asarray(scores, dtype=np.float64)
    qs = np.asarray(q_strong, dtype=np.float64)
    qw = np.asarray(q_weak, dtype=np.float64)
    if not (s.shape == qs.shape == qw.shape) or s.ndim != 1:
        raise DataError(f"scores, strong and weak quality must be 1-D of one length, got {s.shape}, {qs.shape}, {qw.shape}")
    if s.size < 2:
        raise DataError(f"need at least 2 prompts to draw a routing curve, got {s.size}")
    if not (np.isfinite(s).all() and np.isfinite(qs).all() and np.isfinite(qw).all()):
        raise DataError("scores and qualities must be finite numbers")
    if qs.mean() == qw.mean():
        raise DataError(
            "the strong and weak model have the same mean quality on this data: PGR (quality gained over the "
            "weak model as a share of the strong model's gain) is undefined"
        )
    return s, qs, qw


def sweep_curve(scores: Sequence[float], q_strong: Sequence[float], q_weak: Sequence[float]) -> RoutingCurve:
    """Every distinct threshold: strong iff score >= t; equal scores are routed together."""
    s, qs, qw = _check(scores, q_strong, q_weak)
    n = s.size
    order = np.argsort(-s, kind="stable")
    ss = s[order]
    gain = np.cumsum((qs - qw)[order])
    # last index of each tie group (scores descending)
    ends = np.nonzero(np.append(ss[1:] != ss[:-1], True))[0]
    counts = np.concatenate([[0], ends + 1])
    quality = np.concatenate([[qw.sum()], qw.sum() + gain[ends]]) / n
    thresholds = np.concatenate([[np.inf], ss[ends]])
    return RoutingCurve(counts / n, quality, thresholds, float(qw.mean()), float(qs.mean()))


def binned_curve(
    scores: Sequence[float], q_strong: Sequence[float], q_weak: Sequence[float], bins: int = DEFAULT_BINS
) -> RoutingCurve:
    """RouteLLM's evaluation: ``bins`` + 1 quantile thresholds (see the module docstring)."""
    if bins < 1:
        raise DataError(f"bins must be >= 1, got {bins}")
    s, qs, qw = _check(scores, q_strong, q_weak)
    edges = np.quantile(s, np.linspace(0.0, 1.0, bins + 1))
    shares, quality = [], []
    for i, t in enumerate(edges):
        strong = s > t if i == len(edges) - 1 else s >= t
        shares.append(strong.mean())
        quality.append(np.where(strong, qs, qw).mean())
    order = np.argsort(shares, kind="stable")
    return RoutingCurve(
        np.asarray(shares)[order], np.asarray(quality)[order], edges[order], float(qw.mean()), float(qs.mean())
    )


def oracle_scores(q_strong: Sequence[float], q_weak: Sequence[float]) -> np.ndarray:
    """The perfect router's scores: the true gain of the strong model on each prompt."""
    return np.asarray(q_strong, dtype=np.float64) - np.asarray(q_weak, dtype=np.float64)


def random_scores(n: int, seed: int = 0) -> np.ndarray:
    """A random router's scores (uniform, seeded)."""
    return np.random.default_rng(seed).random(n)


def random_curve(weak_quality: float, strong_quality: float, points: int = 101) -> RoutingCurve:
    """The expected curve of random routing: a straight line from weak to strong (APGR 0.5)."""
    x = np.linspace(0.0, 1.0, points)
    return RoutingCurve(x, weak_quality + x * (strong_quality - weak_quality), 1.0 - x, weak_quality, strong_quality)


def score_report(
    scores: Sequence[float], q_strong: Sequence[float], q_weak: Sequence[float], bins: int = DEFAULT_BINS
) -> dict[str, object]:
    """APGR/CPT over the full sweep and over RouteLLM's bins, with the oracle's for scale."""
    sweep = sweep_curve(scores, q_strong, q_weak)
    binned = binned_curve(scores, q_strong, q_weak, bins)
    oracle = sweep_curve(oracle_scores(q_strong, q_weak), q_strong, q_weak)
    return {
        "n": int(np.asarray(scores).size),
        "weak_quality": sweep.weak_quality,
        "strong_quality": sweep.strong_quality,
        "sweep": sweep.summary(),
        f"bins{bins}": binned.summary(),
        "oracle": oracle.summary(),
    }
