"""The router kinds: each turns a prompt's features into a score — higher means the strong model
is more worth its price on this prompt.

- ``classifier``: logistic regression on the bundled encoder's embeddings predicting which model is
  better (strong better / tie / weak better, from the sign of strong − weak quality); the score is
  P(strong better) − P(weak better), the expected sign of the gain.
- ``knn``: the mean gain (strong − weak quality) of the k training prompts nearest in embedding
  space (cosine, on int8 copies of the embeddings: ``knn_index``). No training beyond storing the
  embeddings; a direct, inspectable estimate.
- ``tfidf``: the same logistic regression on TF-IDF word uni- and bigrams. Cheap, no encoder; also
  the baseline the bench compares against.
- ``hybrid``: the mean of two or three of the above (which ones: chosen by inner CV), each score
  first mapped to its quantile among the training prompts' scores — they see different things
  (meaning, neighbours, exact words), and averaging quantiles needs no weight to tune.

Serving needs numpy and ONNX Runtime (the encoder, the kNN index); fitted weights are plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rightmodel.errors import ConfigError, DataError


@dataclass
class Features:
    """What routers read: the prompt texts and (for embedding kinds) their embeddings."""

    texts: list[str]
    emb: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> "Features":
        return Features([self.texts[i] for i in idx], None if self.emb is None else self.emb[idx])

    def __len__(self) -> int:
        return len(self.texts)


def outcome_classes(gain: np.ndarray) -> np.ndarray:
    """−1 weak better, 0 tie, +1 strong better."""
    return np.sign(gain).astype(np.int64)


def _fit_logistic(x: Any, gain: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    y = outcome_classes(gain)
    classes = np.unique(y)
    if classes.size < 2:
        raise DataError("every training prompt has the same outcome (strong better / tie / weak better): nothing to learn")
    model = LogisticRegression(C=c, max_iter=2000, tol=1e-4).fit(x, y)
    return model.coef_.astype(np.float32), model.intercept_.astype(np.float32), model.classes_.astype(np.int64)


def _logistic_score(x: Any, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, product: bool = False) -> np.ndarray:
    """P(strong better) − P(weak better) from stored weights (sklearn's binary/multinomial forms);
    `product`: x is already x @ coef.T (the TF-IDF router computes it without scipy)."""
    z = np.asarray(x if product else x @ coef.T) + intercept
    if coef.shape[0] == 1:  # binary: one row of weights for classes[1]
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        probs = np.stack([1.0 - p1, p1], axis=1)
    else:
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        probs = e / e.sum(axis=1, keepdims=True)
    cl = list(classes)
    better = probs[:, cl.index(1)] if 1 in cl else 0.0
    worse = probs[:, cl.index(-1)] if -1 in cl else 0.0
    return np.asarray(better - worse, dtype=np.float64)


class RouterModel:
    """One kind of router: ``fit`` on features and gains, ``score`` new prompts, save as arrays."""

    kind: ClassVar[str]
    needs_embeddings: ClassVar[bool] = True
    grid: ClassVar[list[dict[str, Any]]] = [{}]

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, feats: Features, gain: np.ndarray) -> "RouterModel":
        raise NotImplementedError

    def score(self, feats: Features) -> np.ndarray:
        raise NotImplementedError

    def arrays(self, directory: Path) -> dict[str, np.ndarray]:
        """Arrays to store (npz); may write side files (e.g. a vocabulary) into ``directory``."""
        raise NotImplementedError

    def restore(self, directory: Path, arrays: dict[str, np.ndarray]) -> "RouterModel":
        raise NotImplementedError


class ClassifierRouter(RouterModel):
    kind = "classifier"
    grid = [{"C": 0.3}, {"C": 1.0}, {"C": 3.0}]

    def fit(self, feats: Features, gain: np.ndarray) -> "ClassifierRouter":
        self.coef, self.intercept, self.classes = _fit_logistic(feats.emb, gain, float(self.params.get("C", 1.0)))
        return self

    def score(self, feats: Features) -> np.ndarray:
        return _logistic_score(feats.emb, self.coef, self.intercept, self.classes)

    def arrays(self, directory: Path) -> dict[str, np.ndarray]:
        return {"coef": self.coef, "intercept": self.intercept, "classes": self.classes}

    def restore(self, directory: Path, arrays: dict[str, np.ndarray]) -> "ClassifierRouter":
        self.coef, self.intercept, self.classes = arrays["coef"], arrays["intercept"], arrays["classes"]
        return self


class KnnRouter(RouterModel):
    kind = "knn"
    grid = [{"k": 50}, {"k": 100}, {"k": 200}]

    def fit(self, feats: Features, gain: np.ndarray) -> "KnnRouter":
        from rightmodel.router.knn_index import quantize_rows

        self.rows8, self.scale = quantize_rows(feats.emb)
        self.train_gain = np.asarray(gain, dtype=np.float32)
        self._index = None
        return self

    def _built(self) -> Any:
        if self._index is None:
            from rightmodel.router.knn_index import KnnIndex

            self._index = KnnIndex(self.rows8, self.scale, self.train_gain, int(self.params.get("k", 100)))
        return self._index

    def score(self, feats: Features) -> np.ndarray:
        return self._built().score(feats.emb)

    def arrays(self, directory: Path) -> dict[str, np.ndarray]:
        return {"train_rows8": self.rows8, "train_scale": self.scale, "train_gain": self.train_gain}

    def restore(self, directory: Path, arrays: dict[str, np.ndarray]) -> "KnnRouter":
        from rightmodel.router.knn_index import quantize_rows

        if "train_rows8" in arrays:
            self.rows8, self.scale = arrays["train_rows8"], np.asarray(arrays["train_scale"], dtype=np.float32)
        else:  # saved before int8 neighbours (float16 embeddings): quantized the same way on load
            self.rows8, self.scale = quantize_rows(np.asarray(arrays["train_emb"], dtype=np.float32))
        self.train_gain = np.asarray(arrays["train_gain"], dtype=np.float32)
        self._index = None
        self._built()  # a loaded router serves: build the index now, not on its first request
        return self


class TfidfRouter(RouterModel):
    kind = "tfidf"
    needs_embeddings = False
    grid = [{"C": 1.0}, {"C": 3.0}, {"C": 10.0}]

    def fit(self, feats: Features, gain: np.ndarray) -> "TfidfRouter":
        from rightmodel.router.textfeatures import Tfidf

        self.tfidf = Tfidf().fit(feats.texts)
        x = self.tfidf.transform(feats.texts)
        self.coef, self.intercept, self.classes = _fit_logistic(x, gain, float(self.params.get("C", 1.0)))
        return self

    def score(self, feats: Features) -> np.ndarray:
        return _logistic_score(self.tfidf.matmul(feats.texts, self.coef.T), self.coef, self.intercept, self.classes, product=True)

    def arrays(self, directory: Path) -> dict[str, np.ndarray]:
        out = {"tfidf_coef": self.coef, "tfidf_intercept": self.intercept, "tfidf_classes": self.classes}
        self.tfidf.save(directory, out, "tfidf_")
        return out

    def restore(self, directory: Path, arrays: dict[str, np.ndarray]) -> "TfidfRouter":
        from rightmodel.router.textfeatures import Tfidf

        self.tfidf = Tfidf.load(directory, arrays, "tfidf_")
        self.coef, self.intercept = arrays["tfidf_coef"], arrays["tfidf_intercept"]
        self.classes = arrays["tfidf_classes"]
        return self


_QUANTILES = np.linspace(0.0, 1.0, 1001)
HYBRID_PARTS = ("classifier", "knn", "tfidf")
DEFAULT_HYBRID = ("classifier", "tfidf")  # routers saved before the parts were chosen by inner CV


class HybridRouter(RouterModel):
    """Mean of its parts' quantile-mapped scores; which parts (two or three of classifier, kNN
    and TF-IDF) is chosen by inner CV (``crossval._select_hybrid``), each with its own params."""

    kind = "hybrid"
    grid = [{}]  # no own hyperparameter: chosen by crossval._select_hybrid

    def _parts(self) -> list[RouterModel]:
        names = self.params.get("parts") or DEFAULT_HYBRID
        return [KINDS[name](**self.params.get(name, {})) for name in names]

    def fit(self, feats: Features, gain: np.ndarray) -> "HybridRouter":
        self.parts = [p.fit(feats, gain) for p in self._parts()]
        # Reference distribution of each part's scores (in-sample): score → quantile in [0, 1].
        self.refs = [np.quantile(p.score(feats), _QUANTILES) for p in self.parts]
        return self

    def score(self, feats: Features) -> np.ndarray:
        mapped = []
        for part, ref in zip(self.parts, self.refs):
            s = part.score(feats)
            lo = np.searchsorted(ref, s, side="left")
            hi = np.searchsorted(ref, s, side="right")
            mapped.append((lo + hi) / (2.0 * len(ref)))  # mid-rank among the reference quantiles
        return np.mean(mapped, axis=0)

    def arrays(self, directory: Path) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for part, ref in zip(self.parts, self.refs):
            out.update(part.arrays(directory))
            out[f"ref_{part.kind}"] = ref
        return out

    def restore(self, directory: Path, arrays: dict[str, np.ndarray]) -> "HybridRouter":
        self.parts = [p.restore(directory, arrays) for p in self._parts()]
        self.refs = [arrays[f"ref_{p.kind}"] for p in self.parts]
        return self


KINDS: dict[str, type[RouterModel]] = {c.kind: c for c in (ClassifierRouter, KnnRouter, TfidfRouter, HybridRouter)}


def make_router(kind: str, params: dict[str, Any] | None = None) -> RouterModel:
    if kind not in KINDS:
        raise ConfigError(f"unknown router kind '{kind}': choose one of {', '.join(KINDS)}")
    return KINDS[kind](**(params or {}))


def needs_embeddings(kinds: Sequence[str]) -> bool:
    return any(KINDS[k].needs_embeddings for k in kinds)
