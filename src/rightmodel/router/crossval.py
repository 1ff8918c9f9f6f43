"""Grouped folds, hyperparameters chosen by inner cross-validation, and held-out scores.

Held-out means a prompt is never scored by a router that saw it — nor its duplicates: folds are
made over *groups* (the prompt text by default, so repeated prompts stay together; or a group
such as the source file, to hold out whole topics). Hyperparameters are chosen inside each
training part only (inner grouped CV, by APGR over the full sweep), never on the fold scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rightmodel.errors import DataError, needs_train_extra
from rightmodel.router.kinds import DEFAULT_HYBRID, HYBRID_PARTS, KINDS, Features, RouterModel, make_router
from rightmodel.router.metrics import sweep_curve

INNER_FOLDS = 3


def grouped_folds(keys: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Fold id per row; rows sharing a key share a fold. Groups go largest first, each to the
    currently smallest fold (ties broken by a seeded shuffle), so fold sizes stay balanced."""
    uniq, inverse, counts = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True, return_counts=True)
    if k < 2:
        raise DataError(f"cross-validation needs at least 2 folds, got {k}")
    if uniq.size < k:
        raise DataError(f"cannot make {k} folds from {uniq.size} distinct group(s); use fewer folds")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(uniq.size), -counts))
    sizes = np.zeros(k, dtype=np.int64)
    fold_of = np.empty(uniq.size, dtype=np.int64)
    for g in order:
        f = int(np.argmin(sizes + rng.random(k) * 1e-3))  # random choice among equally small folds
        fold_of[g] = f
        sizes[f] += counts[g]
    return fold_of[inverse]


def apgr_of(scores: np.ndarray, gain: np.ndarray) -> float:
    """APGR (full sweep) from gains alone: PGR only depends on strong − weak quality."""
    return sweep_curve(scores, gain, np.zeros_like(gain)).apgr()


@dataclass
class Selection:
    """Hyperparameters chosen for one kind, with the inner-CV APGR of every candidate."""

    kind: str
    params: dict[str, Any]
    tried: list[dict[str, Any]] = field(default_factory=list)
    oof: np.ndarray | None = field(default=None, repr=False)  # inner out-of-fold scores at the chosen params


def select_params(
    kind: str, feats: Features, gain: np.ndarray, keys: Sequence[str], seed: int,
    cache: dict[str, Selection] | None = None,
) -> Selection:
    """Pick the kind's hyperparameters by inner grouped CV on these rows only."""
    if cache is not None and kind in cache:
        return cache[kind]
    if kind == "hybrid":
        sel = _select_hybrid(feats, gain, keys, seed, cache)
    else:
        grid = KINDS[kind].grid
        if len(grid) == 1 or len(set(keys)) < INNER_FOLDS * 2:
            sel = Selection(kind, dict(grid[len(grid) // 2]))
        else:
            folds = grouped_folds(keys, INNER_FOLDS, seed + 1)
            tried, oofs = [], []
            for params in grid:
                oof = np.zeros(len(gain))
                for f in range(INNER_FOLDS):
                    tr, te = np.nonzero(folds != f)[0], np.nonzero(folds == f)[0]
                    oof[te] = make_router(kind, params).fit(feats.take(tr), gain[tr]).score(feats.take(te))
                tried.append({"params": params, "inner_apgr": apgr_of(oof, gain)})
                oofs.append(oof)
            best = int(np.argmax([t["inner_apgr"] for t in tried]))
            sel = Selection(kind, dict(tried[best]["params"]), tried, oofs[best])
    if cache is not None:
        cache[kind] = sel
    return sel


def _select_hybrid(feats: Features, gain: np.ndarray, keys: Sequence[str], seed: int,
                   cache: dict[str, Selection] | None) -> Selection:
    """Each part keeps the hyperparameters its own inner CV picks; which parts to combine is chosen
    the same way: the subset whose mean inner out-of-fold rank has the best APGR."""
    from itertools import combinations

    parts = {p: select_params(p, feats, gain, keys, seed, cache) for p in HYBRID_PARTS}
    tried = [{"part": p, **t} for p, s in parts.items() for t in s.tried]
    usable = [p for p in HYBRID_PARTS if parts[p].oof is not None]
    chosen: tuple[str, ...] = DEFAULT_HYBRID
    if len(usable) >= 2:
        ranks = {p: _ranks01(parts[p].oof) for p in usable}
        subsets = [c for n in range(2, len(usable) + 1) for c in combinations(usable, n)]
        scored = [(apgr_of(np.mean([ranks[p] for p in c], axis=0), gain), c) for c in subsets]
        tried += [{"parts": list(c), "inner_apgr": a} for a, c in scored]
        chosen = max(scored, key=lambda ac: ac[0])[1]
    params: dict[str, Any] = {p: parts[p].params for p in chosen}
    params["parts"] = list(chosen)
    return Selection("hybrid", params, tried)


def _ranks01(scores: np.ndarray) -> np.ndarray:
    """Mid-ranks scaled to [0, 1]: what the hybrid's quantile mapping does, on held-out scores."""
    try:
        from scipy.stats import rankdata
    except ImportError:
        raise needs_train_extra("scipy", "router cross-validation") from None

    return (rankdata(scores) - 0.5) / len(scores)


def fit_selected(kind: str, feats: Features, gain: np.ndarray, keys: Sequence[str], seed: int,
                 cache: dict[str, Selection] | None = None) -> tuple[RouterModel, Selection]:
    sel = select_params(kind, feats, gain, keys, seed, cache)
    return make_router(kind, sel.params).fit(feats, gain), sel


@dataclass
class CrossValidated:
    """Out-of-fold scores per kind, the fold of each row and what each fold selected."""

    scores: dict[str, np.ndarray]
    folds: np.ndarray
    selections: dict[str, list[dict[str, Any]]]


def cross_validate(
    kinds: Sequence[str], feats: Features, gain: np.ndarray, fold_keys: Sequence[str], k: int, seed: int,
    inner_keys: Sequence[str] | None = None, log: Callable[[str], None] | None = None,
) -> CrossValidated:
    """Held-out scores for every row: each fold scored by routers fit (and tuned) on the others.

    ``fold_keys`` decides what is held out together (prompt text, or a group); ``inner_keys``
    (default: the same) groups the inner folds that choose hyperparameters.
    """
    folds = grouped_folds(fold_keys, k, seed)
    inner = list(inner_keys if inner_keys is not None else fold_keys)
    scores = {kind: np.zeros(len(gain)) for kind in kinds}
    selections: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for f in range(k):
        tr, te = np.nonzero(folds != f)[0], np.nonzero(folds == f)[0]
        cache: dict[str, Selection] = {}
        train, test = feats.take(tr), feats.take(te)
        for kind in kinds:
            model, sel = fit_selected(kind, train, gain[tr], [inner[i] for i in tr], seed, cache)
            scores[kind][te] = model.score(test)
            selections[kind].append({"fold": f, "params": sel.params, "tried": sel.tried})
            if log:
                log(f"fold {f + 1}/{k} {kind}: {sel.params}")
    return CrossValidated(scores, folds, selections)
