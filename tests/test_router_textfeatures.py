"""The router's TF-IDF featuriser builds its rows by hand for speed; they must stay exactly what
scikit-learn's TfidfVectorizer(sublinear_tf=True) computes, or train and serve would disagree."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from rightmodel.router.textfeatures import MIN_DF, NGRAMS, Tfidf

TRAIN = [
    "Which of the following is a prime number? 4, 6, 7 or 9",
    "The capital of France is Paris; the capital of Italy is Rome.",
    "Solve the integral of x squared, then the integral of x cubed.",
    "Élise wrote the déjà vu essay; Élise read it twice, twice!",
    "A matrix is invertible when its determinant is not zero.",
] * 5


def test_rows_equal_sklearns_tfidf(tmp_path) -> None:
    ours = Tfidf().fit(TRAIN)
    ref = TfidfVectorizer(sublinear_tf=True, min_df=MIN_DF, ngram_range=NGRAMS, dtype=np.float32).fit(TRAIN)
    probe = ["the integral of the capital twice twice twice", "", "nothing known here", "Élise déjà vu", *TRAIN[:3]]
    a, b = ours.transform(probe), ref.transform(probe)
    assert a.shape == b.shape and a.nnz == b.nnz
    assert abs(a - b).max() < 1e-6
    assert a[1].nnz == 0 and a[2].nnz == 0  # empty and unknown prompts: zero rows, not NaN
    # a saved and reloaded vocabulary gives the same rows
    arrays: dict = {}
    ours.save(tmp_path, arrays, "t_")
    again = Tfidf.load(tmp_path, arrays, "t_").transform(probe)
    assert abs(again - a).max() == 0
