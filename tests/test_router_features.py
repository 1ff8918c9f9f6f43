"""The router's featurisers are rebuilt by hand for speed, so each is held to what it replaces:
TF-IDF rows to scikit-learn's TfidfVectorizer, int8 nearest neighbours to float32 cosine top-k."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_int8_neighbours_match_float_neighbours_and_do_not_depend_on_the_batch() -> None:
    """The kNN router's int8 index against exact float32 cosine top-k on clustered embeddings."""
    from rightmodel.router.kinds import Features, KnnRouter

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, 48))
    train = centres[rng.integers(0, 8, 600)] + 0.4 * rng.normal(size=(600, 48))
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    gain = rng.choice([-1.0, 0.0, 1.0], size=600)
    queries = train[:50] + 0.1 * rng.normal(size=(50, 48))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    k = 25
    sims = queries @ train.T
    exact = gain[np.argsort(-sims, axis=1)[:, :k]].mean(axis=1)
    router = KnnRouter(k=k).fit(Features([""] * 600, train.astype(np.float32)), gain)
    batch = router.score(Features([""] * 50, queries.astype(np.float32)))
    assert np.abs(batch - exact).max() <= 2 / k + 1e-6  # at most one neighbour swapped at the boundary
    assert (np.abs(batch - exact) < 1e-6).mean() >= 0.7  # most queries: the very same neighbours
    alone = np.array([router.score(Features([""], queries[i : i + 1].astype(np.float32)))[0] for i in range(50)])
    assert np.array_equal(alone, batch)
    # k above the training size: every row is a neighbour
    assert KnnRouter(k=10_000).fit(Features([""] * 600, train.astype(np.float32)), gain).score(
        Features([""], queries[:1].astype(np.float32)))[0] == pytest.approx(gain.mean(), abs=1e-6)
    # a router saved before the int8 index (float16 embeddings) loads into the same index
    old = KnnRouter(k=k).restore(None, {"train_emb": train.astype(np.float16), "train_gain": gain.astype(np.float32)})
    assert np.abs(old.score(Features([""] * 50, queries.astype(np.float32))) - batch).max() <= 2 / k + 1e-6
