"""TF-IDF word n-grams, fitted with scikit-learn and served from plain arrays.

A router version must load without unpickling code, so the fitted vocabulary and idf weights are
stored as JSON + npz, and serving rebuilds the same vectors with a CountVectorizer on that fixed
vocabulary (sublinear tf, idf, L2 norm: what ``TfidfVectorizer(sublinear_tf=True)`` computes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

VOCAB_FILE = "tfidf_vocabulary.json"
NGRAMS = (1, 2)
MAX_FEATURES = 100_000
MIN_DF = 2


class Tfidf:
    """Fit on training prompts; ``transform`` gives L2-normalised sparse rows."""

    def __init__(self, vocabulary: dict[str, int] | None = None, idf: np.ndarray | None = None) -> None:
        self.vocabulary = vocabulary
        self.idf = idf
        self._counter: Any = None

    def fit(self, texts: Sequence[str]) -> "Tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(sublinear_tf=True, min_df=MIN_DF if len(texts) >= 20 else 1, ngram_range=NGRAMS,
                              max_features=MAX_FEATURES, dtype=np.float32)
        vec.fit(list(texts))
        self.vocabulary = {k: int(v) for k, v in vec.vocabulary_.items()}
        self.idf = vec.idf_.astype(np.float32)
        self._counter = None
        return self

    def transform(self, texts: Sequence[str]) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        if self.vocabulary is None or self.idf is None:
            raise RuntimeError("Tfidf.transform before fit")
        if self._counter is None:
            self._counter = CountVectorizer(vocabulary=self.vocabulary, ngram_range=NGRAMS, dtype=np.float32)
        counts = self._counter.transform(list(texts)).tocsr()
        counts.data = 1.0 + np.log(counts.data)
        counts = counts.multiply(self.idf).tocsr()
        return normalize(counts, norm="l2", copy=False)

    def save(self, directory: Path, arrays: dict[str, np.ndarray], prefix: str) -> None:
        (directory / VOCAB_FILE).write_text(json.dumps(self.vocabulary, ensure_ascii=False, sort_keys=True))
        arrays[f"{prefix}idf"] = self.idf

    @classmethod
    def load(cls, directory: Path, arrays: dict[str, np.ndarray], prefix: str) -> "Tfidf":
        vocab = json.loads((directory / VOCAB_FILE).read_text())
        return cls(vocab, np.asarray(arrays[f"{prefix}idf"], dtype=np.float32))
