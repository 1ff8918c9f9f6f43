"""Acceptance scores a conformal threshold can be set on, and how to compare them.

The router answers locally when a score clears a threshold chosen on calibration data
(rightmodel.routing.calibration). Any score works there, as long as it is computed without the
calibration labels (or, for learned combinations, cross-fitted on them) and lives in [0, 1], the
range of the fixed threshold grid. Which score certifies the most answers at a given accuracy is
an empirical question; bench/confidence.py measures it. The candidates here:

- max softmax probability (what the runtime serves today), optionally temperature-scaled;
- margin between the two largest probabilities;
- the energy score (Liu et al. 2020), temperature times the log-sum-exp of logits / temperature:
  it keeps the logits' overall size, which the softmax divides out, and is proposed as a better
  sign of an unfamiliar input than the max probability;
- kNN cosine similarity of the request's embedding to the training embeddings of the predicted
  class, and a class-conditional Mahalanobis distance with a shared covariance: both see how far
  a request sits from the training data, which a softmax cannot (it is confident far from data);
- a logistic regression over those, predicting correctness, cross-fitted inside the calibration
  split so its scores on calibration rows are out-of-fold.

Everything is numpy; scipy and scikit-learn are imported only by the functions that need them
(both come with rightmodel[train]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, numerically stable."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of `labels` (Guo et al. 2017).

    One parameter fitted on the calibration split: it does not change the predicted class, only
    how confidence spreads, so a threshold grid dense near 1 is not wasted on a model whose
    answers all sit at 0.999+.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float((log_norm - z[np.arange(len(z)), labels]).mean())

    found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def max_probability(probs: np.ndarray) -> np.ndarray:
    """Top class probability: the runtime's confidence_of for single-label specialists."""
    return np.asarray(probs).max(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability, in [0, 1]: small when two intents compete."""
    top2 = np.sort(np.asarray(probs), axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy, T * logsumexp(logits / T): higher for inputs like the training data.
    Unbounded; squash_to_unit maps it into (0, 1) for the threshold grid."""
    from scipy.special import logsumexp

    return temperature * logsumexp(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def squash_to_unit(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """A monotone map of an unbounded score into (0, 1), centred on the median of `reference`
    (calibration rows) with its interquartile range as scale. Ranks, hence AURC and which rows a
    threshold separates, are unchanged. An arctangent rather than a logistic: its tails approach
    0 and 1 slowly, so far-out scores do not collapse into ties at 1.0."""
    q1, mid, q3 = np.quantile(reference, [0.25, 0.5, 0.75])
    z = (np.asarray(x, dtype=np.float64) - mid) / max(q3 - q1, 1e-9)
    return 0.5 + np.arctan(z) / np.pi


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity becomes a dot product)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_similarity(
    query: np.ndarray, predicted: np.ndarray, reference: np.ndarray, reference_labels: np.ndarray,
    k: int = 10, chunk: int = 1024,
) -> np.ndarray:
    """Mean cosine similarity of each query to its k nearest reference rows of its predicted class,
    clipped to [0, 1]. Low when a request looks like none of the examples the class was trained
    on, even if the head is sure (Sun et al. 2022 use the same deep-kNN distance for OOD)."""
    q = normalize(query)
    ref = normalize(reference)
    predicted = np.asarray(predicted)
    reference_labels = np.asarray(reference_labels)
    out = np.zeros(len(q), dtype=np.float64)
    for c in np.unique(predicted):
        rows = np.flatnonzero(predicted == c)
        members = ref[reference_labels == c]
        if not len(members):
            continue  # no training example of that class: similarity 0, never accepted on it
        kk = min(k, len(members))
        for start in range(0, len(rows), chunk):
            idx = rows[start : start + chunk]
            sims = q[idx] @ members.T
            top = np.partition(sims, len(members) - kk, axis=1)[:, -kk:]
            out[idx] = top.mean(axis=1)
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class Mahalanobis:
    """Class means and a shared (Ledoit-Wolf shrunk) precision matrix over training embeddings
    (Lee et al. 2018): the distance of a request to the mean of the class it was assigned."""

    means: np.ndarray  # (classes, dim)
    precision: np.ndarray  # (dim, dim)

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: np.ndarray, classes: int) -> "Mahalanobis":
        from sklearn.covariance import LedoitWolf

        x = np.asarray(embeddings, dtype=np.float64)
        labels = np.asarray(labels)
        means = np.stack([x[labels == c].mean(axis=0) if np.any(labels == c) else np.full(x.shape[1], np.inf)
                          for c in range(classes)])
        centred = x - means[labels]
        return cls(means=means, precision=LedoitWolf().fit(centred).precision_)

    def distance2(self, embeddings: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Squared distance to the predicted class's mean."""
        d = np.asarray(embeddings, dtype=np.float64) - self.means[np.asarray(predicted)]
        return np.einsum("ij,jk,ik->i", d, self.precision, d)

    def score(self, embeddings: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """1 / (1 + d² / dim), in (0, 1]: a fixed monotone map so the standard grid applies."""
        return 1.0 / (1.0 + self.distance2(embeddings, predicted) / self.means.shape[1])


def logit(p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """log(p / (1 - p)) with p clipped away from 0 and 1: the scale a logistic model is linear in."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


def crossfit_correctness(
    features_cal: np.ndarray, correct_cal: np.ndarray, features_new: np.ndarray, folds: int = 5, seed: int = 0,
    C: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """P(answer is right) from a logistic regression on calibration features, cross-fitted.

    Returns (calibration scores, new scores). Each calibration row is scored by a model fitted on
    the other folds, so the threshold is set on out-of-fold scores; new rows get the mean of the
    fold models, which approximates (but is not exactly) the distribution the threshold saw —
    the same approximation as rightmodel.specialists.crossfit, and why the bench scores a test
    set the combination never saw.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features_cal, dtype=np.float64)
    y = np.asarray(correct_cal, dtype=bool).astype(int)
    new = np.asarray(features_new, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(x))
    parts = np.array_split(order, folds)
    out_cal = np.zeros(len(x))
    out_new = np.zeros(len(new))
    for k in range(folds):
        held = parts[k]
        train = np.concatenate([parts[j] for j in range(folds) if j != k])
        scaler = StandardScaler().fit(x[train])
        if len(np.unique(y[train])) < 2:  # every answer right (or wrong): nothing to separate
            out_cal[held] = y[train].mean()
            out_new += y[train].mean() / folds
            continue
        model = LogisticRegression(C=C, max_iter=1000).fit(scaler.transform(x[train]), y[train])
        out_cal[held] = model.predict_proba(scaler.transform(x[held]))[:, 1]
        out_new += model.predict_proba(scaler.transform(new))[:, 1] / folds
    return out_cal, out_new


def risk_coverage(score: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, risk) when accepting the k highest-scoring answers, k = 1..n (ties broken by
    order, which is what makes AURC threshold-free)."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    errors = np.cumsum(~np.asarray(correct, dtype=bool)[order])
    k = np.arange(1, len(order) + 1)
    return k / len(order), errors / k


def aurc(score: np.ndarray, correct: np.ndarray) -> float:
    """Area under the risk-coverage curve (Geifman & El-Yaniv 2018): mean error rate of the
    accepted answers over all coverages; lower is better, and an oracle gets
    `optimal_aurc(correct)`."""
    _, risk = risk_coverage(score, correct)
    return float(risk.mean()) if len(risk) else float("nan")


def optimal_aurc(correct: np.ndarray) -> float:
    """AURC of a score that ranks every right answer above every wrong one."""
    correct = np.asarray(correct, dtype=bool)
    return aurc(correct.astype(float), correct)


def coverage_at_risk(score: np.ndarray, correct: np.ndarray, target_accuracy: float) -> float:
    """Largest share of answers, taken best-score first, whose accuracy is still >= target: the
    ceiling any threshold rule can reach on this set (an oracle threshold, for reference only)."""
    coverage, risk = risk_coverage(score, correct)
    ok = np.flatnonzero(risk <= 1.0 - target_accuracy + 1e-12)
    return float(coverage[ok[-1]]) if len(ok) else 0.0
