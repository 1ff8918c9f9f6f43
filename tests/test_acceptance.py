"""Acceptance scores (rightmodel.routing.acceptance): small synthetic checks, no model training."""

import numpy as np

from rightmodel.routing.acceptance import (
    Mahalanobis, aurc, coverage_at_risk, crossfit_correctness, fit_temperature, knn_similarity, margin,
    optimal_aurc, softmax,
)


def test_temperature_recovers_overconfidence():
    """Logits drawn from a calibrated model, then sharpened 3x: the fitted temperature undoes it."""
    rng = np.random.default_rng(0)
    true_logits = rng.normal(scale=2.0, size=(4000, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    t = fit_temperature(3.0 * true_logits, labels)
    assert 2.6 < t < 3.4


def test_margin_is_top1_minus_top2():
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    np.testing.assert_allclose(margin(probs), [0.5, 0.05])


def test_knn_and_mahalanobis_flag_a_request_far_from_its_class():
    rng = np.random.default_rng(1)
    centres = np.array([[5.0, 0, 0, 0], [0, 5.0, 0, 0]])
    labels = np.repeat([0, 1], 200)
    train = centres[labels] + rng.normal(size=(400, 4))
    near, far = centres[0] + 0.1, np.array([0.0, 0.0, 5.0, 5.0])
    queries, predicted = np.stack([near, far]), np.array([0, 0])
    sim = knn_similarity(queries, predicted, train, labels, k=10)
    assert sim[0] > 0.9 > 0.5 > sim[1]
    maha = Mahalanobis.fit(train, labels, classes=2)
    d2 = maha.distance2(queries, predicted)
    assert d2[0] < 10 < d2[1]
    s = maha.score(queries, predicted)
    assert 0 < s[1] < s[0] <= 1


def test_aurc_orders_scores_and_oracle_is_best():
    correct = np.array([True] * 90 + [False] * 10)
    perfect = correct.astype(float)
    random_score = np.random.default_rng(2).random(100)
    assert aurc(perfect, correct) == optimal_aurc(correct) < aurc(random_score, correct)
    assert coverage_at_risk(perfect, correct, 0.99) == 0.9


def test_crossfit_correctness_is_out_of_fold_and_informative():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 2))
    correct = rng.random(600) < 1 / (1 + np.exp(-3 * x[:, 0]))
    cal, new = crossfit_correctness(x[:400], correct[:400], x[400:])
    assert cal.shape == (400,) and new.shape == (200,)
    assert np.all((0 <= cal) & (cal <= 1)) and np.all((0 <= new) & (new <= 1))
    assert aurc(new, correct[400:]) < aurc(-new, correct[400:])


def test_energy_keeps_the_logits_size_that_the_softmax_divides_out() -> None:
    from rightmodel.routing.acceptance import energy, max_probability, softmax, squash_to_unit

    small = np.array([[2.0, 0.0, 0.0]])
    large = small + 10.0  # the same softmax, larger logits
    assert np.allclose(max_probability(softmax(small)), max_probability(softmax(large)))
    assert energy(large)[0] > energy(small)[0]
    scores = np.array([-50.0, 1.0, 2.0, 3.0, 400.0])
    squashed = squash_to_unit(scores, reference=np.array([1.0, 2.0, 3.0]))
    assert np.all((squashed > 0) & (squashed < 1)) and np.all(np.diff(squashed) > 0)  # order kept, inside the grid
    assert squashed[2] == 0.5  # the reference's median
