"""The threshold rule: its guarantee must hold empirically, and it must fail safe on little data."""

import numpy as np
import pytest

from rightmodel.routing.calibration import NEVER_ACCEPT, calibrate_threshold, crossfit_summary, summarize, threshold_grid


def synthetic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Confidences whose correctness probability equals the confidence (a calibrated model)."""
    conf = rng.beta(5, 1, size=n)
    correct = rng.random(n) < conf
    return conf, correct


def test_grid_is_fixed_sorted_and_covers_zero_to_near_one():
    grid = threshold_grid()
    assert grid[0] == 0.0 and grid[-1] > 0.99999
    assert np.all(np.diff(grid) > 0)
    np.testing.assert_array_equal(grid, threshold_grid())


def test_guarantee_holds_on_fresh_data_in_at_least_1_minus_delta_of_draws():
    """Over many calibration draws, accepted accuracy on a large fresh sample is >= target
    in at least 1 - delta of them (we allow a little slack for the finite number of trials)."""
    rng = np.random.default_rng(0)
    target, delta, trials = 0.95, 0.1, 200
    test_conf, test_correct = synthetic(200_000, rng)
    failures = naive_failures = 0
    for _ in range(trials):
        conf, correct = synthetic(1000, rng)
        cal = calibrate_threshold(conf, correct, target_accuracy=target, delta=delta, method="high-probability")
        accepted = test_conf >= cal.threshold
        if accepted.any() and test_correct[accepted].mean() < target:
            failures += 1
        naive = naive_threshold(conf, correct, target)
        if test_correct[test_conf >= naive].mean() < target:
            naive_failures += 1
    assert failures / trials <= delta
    # the check has teeth: the plug-in rule (lowest threshold whose calibration accuracy meets
    # the target) misses the target on fresh data far more often than delta
    assert naive_failures / trials > 0.3


def naive_threshold(conf, correct, target):
    order = np.argsort(-conf)
    running = np.cumsum(correct[order]) / np.arange(1, len(conf) + 1)
    ok = np.flatnonzero(running >= target)
    return conf[order][ok[-1]] if len(ok) else 1.1


def test_threshold_is_not_absurdly_conservative():
    rng = np.random.default_rng(1)
    conf, correct = synthetic(5000, rng)
    cal = calibrate_threshold(conf, correct, target_accuracy=0.95, method="high-probability")
    # Accuracy at confidence c is c here, so the ideal threshold sits a little above 0.95's
    # conditional-mean point; coverage should be substantial, not near zero.
    assert 0.2 < cal.coverage < 0.8
    assert cal.accepted_accuracy >= 0.95


def test_too_little_data_never_accepts():
    conf = np.array([0.99, 0.98, 0.97])
    correct = np.array([True, True, True])
    for method in ("expected", "high-probability"):
        cal = calibrate_threshold(conf, correct, target_accuracy=0.99, method=method)
        assert cal.threshold == NEVER_ACCEPT
    assert cal.coverage == 0.0 and cal.accepted_accuracy is None


def test_perfect_model_accepts_everything():
    conf = np.linspace(0.3, 1.0, 2000)
    for method in ("expected", "high-probability"):
        cal = calibrate_threshold(conf, np.ones(2000, dtype=bool), target_accuracy=0.99, method=method)
        assert cal.threshold == 0.0 and cal.coverage == 1.0


def test_summarize_reports_coverage_and_accuracy():
    s = summarize(np.array([0.9, 0.8, 0.1]), np.array([True, False, True]), 0.5, 0.99, 0.1)
    assert s.accepted == 2 and s.coverage == pytest.approx(2 / 3) and s.accepted_accuracy == 0.5


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        calibrate_threshold(np.array([0.5]), np.array([True, False]))
    with pytest.raises(ValueError):
        calibrate_threshold(np.array([0.5]), np.array([True]), target_accuracy=1.0)
    with pytest.raises(ValueError):
        calibrate_threshold(np.array([0.5]), np.array([True]), method="vibes")


def test_expected_rule_meets_target_on_average_and_covers_more():
    """Averaged over calibration draws, accepted accuracy on fresh data is >= target (up to
    Monte-Carlo noise), and the rule accepts more than the high-probability one."""
    rng = np.random.default_rng(3)
    target = 0.95
    test_conf, test_correct = synthetic(200_000, rng)
    accuracies, coverages, strict = [], [], []
    for _ in range(100):
        conf, correct = synthetic(1000, rng)
        cal = calibrate_threshold(conf, correct, target_accuracy=target)
        accepted = test_conf >= cal.threshold
        accuracies.append(test_correct[accepted].mean())
        coverages.append(accepted.mean())
        strict.append(calibrate_threshold(conf, correct, target_accuracy=target, method="high-probability").coverage)
    assert np.mean(accuracies) >= target - 0.002
    assert np.mean(coverages) > np.mean(strict)


def test_crossfit_scores_each_halfs_threshold_on_the_other_half():
    """When the calibration set is the only held-out set, the reported numbers come from
    thresholds chosen on one half and counted on the other: never on the data that chose them."""
    rng = np.random.default_rng(5)
    n = 2000
    conf = rng.random(n)
    correct = rng.random(n) < conf ** 0.3  # more confident, more often right
    chosen = calibrate_threshold(conf, correct, 0.95)
    out = crossfit_summary(conf, correct, chosen, seed=3)
    order = np.random.default_rng(3).permutation(n)
    a, b = order[: n // 2], order[n // 2 :]
    accepted = right = 0
    for fit, score in ((a, b), (b, a)):
        t = calibrate_threshold(conf[fit], correct[fit], 0.95).threshold
        m = conf[score] >= t
        accepted, right = accepted + m.sum(), right + correct[score][m].sum()
    assert out["accepted"] == accepted and out["coverage"] == accepted / n
    assert out["accepted_accuracy"] == right / accepted
    assert out["threshold"] == chosen.threshold and out["crossfit"]
    assert 0.2 < out["coverage"] < 0.9 and out["accepted_accuracy"] > 0.9
