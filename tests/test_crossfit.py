"""Small data (issue 21): cross-fitted calibration, what the evidence can certify, the promote refusal."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli

TOPICS = {
    "weather": ["rain is forecast for {d}", "it will be sunny and warm on {d}", "expect snow and wind on {d}",
                "the temperature drops sharply {d}"],
    "football": ["the striker scored twice {d}", "our team won the league match {d}", "the goalkeeper saved a penalty {d}",
                 "the referee showed a red card {d}"],
    "cooking": ["bake the bread dough slowly {d}", "fry the onions in butter {d}", "simmer the tomato soup {d}",
                "season the roast chicken {d}"],
}
DAYS = ["on monday", "on tuesday", "this weekend", "tonight", "tomorrow morning", "next friday"]


def separable_rows() -> list[tuple[str, str]]:
    """72 rows, 3 topics no classifier can confuse: 24 each."""
    return [(t.format(d=d), label) for label, templates in TOPICS.items() for t in templates for d in DAYS]


# -- what the evidence can certify (no model) --------------------------------------------------


def test_min_answers_is_the_zero_error_bound():
    from rightmodel.routing.certify import min_answers

    assert min_answers(0.99) == 99 and min_answers(0.95) == 19 and min_answers(0.9) == 9
    assert min_answers(0.95, "high-probability") > min_answers(0.95)
    # a quarter of the error budget held back: 95% is certified as an error rate of 3.75%
    assert min_answers(0.95, margin=0.25) == 26 and min_answers(0.99, margin=0.25) == 133


def test_margin_holds_back_part_of_the_error_budget():
    from rightmodel.routing.calibration import calibrate_threshold
    from rightmodel.routing.certify import certifiable, certify_lines

    rng = np.random.default_rng(1)
    conf = rng.uniform(0.0, 1.0, 2000)
    correct = rng.uniform(size=2000) < conf  # confidence is calibrated: P(right) = confidence
    plain = calibrate_threshold(conf, correct, 0.8)
    held = calibrate_threshold(conf, correct, 0.8, margin=0.25)  # certifies 85%
    assert held.margin == 0.25 and plain.margin == 0.0
    assert held.threshold > plain.threshold and held.coverage < plain.coverage
    assert held.accepted_accuracy >= 0.85 - 0.02 and plain.accepted_accuracy < held.accepted_accuracy
    # the same as asking for the stricter target without a margin
    assert held.threshold == calibrate_threshold(conf, correct, 0.85).threshold
    # high-probability carries its own guarantee: the margin does not apply to it
    strict = calibrate_threshold(conf, correct, 0.95, method="high-probability", margin=0.25)
    assert strict.threshold == calibrate_threshold(conf, correct, 0.95, method="high-probability").threshold
    rows = certifiable(conf, correct, 0.95, margin=0.25)
    text = "\n".join(certify_lines(rows, 2000, 0.95, "cross-fitted, 5 folds", True, "expected", 0.25))
    assert "25% of the error budget held back" in text
    with pytest.raises(ValueError, match="margin"):
        calibrate_threshold(conf, correct, 0.95, margin=1.0)


def test_certify_lines_name_what_cannot_be_certified_and_the_options():
    from rightmodel.routing.certify import certifiable, certify_lines

    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 60)
    correct = conf > 0.6  # the confident answers are right
    rows = certifiable(conf, correct, 0.99)
    assert [r["target_accuracy"] for r in rows] == [0.99, 0.95, 0.9, 0.8]
    assert not rows[0]["certified"] and rows[1]["certified"] and rows[1]["coverage"] > 0
    text = "\n".join(certify_lines(rows, 60, 0.99, "10% carved", cross_fitted=False, method="expected"))
    assert "99% (requested): cannot be certified from 60 answers (needs at least 99" in text
    assert "95%: yes, answering" in text
    assert "--target-accuracy to 0.95" in text and "cross-fit" in text and "label more rows" in text


def test_best_certifiable_is_the_highest_target_the_answers_support():
    from rightmodel.routing.calibration import calibrate_threshold
    from rightmodel.routing.certify import best_certifiable, certifiable, certify_lines

    rng = np.random.default_rng(3)
    conf = rng.uniform(0.0, 1.0, 400)
    correct = rng.uniform(size=400) < conf
    best = best_certifiable(conf, correct)
    t = best["target_accuracy"]
    assert 0.8 < t < 0.99 and best["coverage"] > 0
    assert calibrate_threshold(conf, correct, t).accepted > 0
    assert calibrate_threshold(conf, correct, round(t + 0.001, 6)).accepted == 0  # the next step up fails
    held = best_certifiable(conf, correct, margin=0.25)
    assert held["target_accuracy"] < t  # a margin certifies less
    assert best_certifiable(conf, np.zeros(400, dtype=bool)) is None  # nothing right: not even 50%
    rows = certifiable(conf, correct, 0.99)
    text = "\n".join(certify_lines(rows, 400, 0.99, "10% carved", False, "expected", best=best))
    assert f"the highest target these answers certify is {t:.1%}" in text


def test_kfold_scores_every_row_once():
    from rightmodel.data import kfold_indices

    labels = [("a",)] * 10 + [("b",)] * 7
    parts = kfold_indices(17, 5, 3, labels)
    tested = sorted(i for _, test in parts for i in test)
    assert tested == list(range(17))
    for train, test in parts:
        assert not set(train) & set(test)


# -- cross-fitting with a real (tiny) fine-tune -------------------------------------------------


SYSTEM = "Which topic is this message about? Answer weather, football or cooking."


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """The rows as an OpenAI chat fine-tuning file, so the build also reads that format."""
    path = tmp_path_factory.mktemp("small") / "small.jsonl"
    path.write_text("\n".join(json.dumps({"messages": [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": text}, {"role": "assistant", "content": label},
    ]}) for text, label in separable_rows()) + "\n")
    return path


def build(small_file, home, mode):
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, package_and_register, train_from_request
    from rightmodel.specialists.train import TrainConfig

    request = BuildRequest(task="topics", train_path=small_file, target_accuracy=0.9, calibration_mode=mode, folds=3,
                           config=TrainConfig(epochs=4, batch_size=8, learning_rate=2e-4, threads=1))
    logged: list[str] = []
    data, splits, trained = train_from_request(request, log=logged.append)
    registry = Registry(home)
    version = package_and_register(request, registry, data, splits, trained, log=logged.append)
    card = json.loads((version.path / "card.json").read_text())
    return registry, version, splits, card, logged


@pytest.mark.slow
def test_cross_fit_certifies_where_a_split_cannot(small_file, tmp_path):
    from rightmodel.routing.calibration import DEFAULT_MARGIN, NEVER_ACCEPT, calibrate_threshold

    # split: 65 non-evaluation rows leave ~7 calibration answers, fewer than the 9 that 90% needs
    _, _, split_splits, split_card, split_log = build(small_file, tmp_path / "a", "split")
    assert split_card["data"]["calibration_mode"] == "split"
    assert split_card["calibration"]["threshold"] == NEVER_ACCEPT and split_card["calibration"]["coverage"] == 0
    assert any("90% (requested): cannot be certified" in line for line in split_log)
    assert any("--calibration-mode cross-fit" in line for line in split_log)

    registry, version, splits, card, log = build(small_file, tmp_path / "b", "cross-fit")
    oof = splits.out_of_fold
    n = len(splits.fit)
    assert splits.calibration is splits.fit and n == 65
    assert len(oof.confidence) == n and sorted(set(oof.fold_of)) == [0, 1, 2] and (oof.confidence > 0).all()
    # the shipped threshold is the one the pooled out-of-fold scores give
    expected = calibrate_threshold(oof.confidence, oof.correct, 0.9, margin=DEFAULT_MARGIN)
    assert card["calibration"]["threshold"] == expected.threshold < 1.0
    assert card["calibration"]["margin"] == DEFAULT_MARGIN == card["certify"]["margin"]
    assert card["certify"]["targets_without_margin"][0]["threshold"] <= card["certify"]["targets"][0]["threshold"]
    assert split_card["calibration"]["margin"] == DEFAULT_MARGIN == 0.25  # a split holds the same quarter back
    assert card["calibration"]["n_calibration"] == n and card["calibration"]["coverage"] > 0
    assert card["data"]["n_train"] == n  # the shipped model trained on every non-evaluation row
    assert "not an exact split-conformal guarantee" in card["calibration_guarantee"]
    assert card["cross_fit"]["folds"] == 3
    assert any(line.startswith("cross-fit fold 3/3") for line in log)
    assert card["data"]["system_prompts"] == [SYSTEM]  # chat file: kept for the constellation's recognition
    assert any("tasks.topics.recognise.system_prompts" in line for line in log)
    md = (version.path / "card.md").read_text()
    assert "out-of-fold answers (3-fold cross-fit" in md and "What the calibration evidence can certify" in md


# -- promote refuses a version that answers nothing ---------------------------------------------


SERVED_FILES = ("model.onnx", "tokenizer.json", "specialist.json", "card.json", "card.md")


def register_with_calibration(registry, source_dir, task, threshold, coverage):
    with registry.staging(task) as staged:
        for name in SERVED_FILES:
            shutil.copy(source_dir / name, staged / name)
            (staged / name).chmod(0o644)
        card = json.loads((staged / "card.json").read_text())
        card["calibration"].update(threshold=threshold, coverage=coverage)
        (staged / "card.json").write_text(json.dumps(card))
        return registry.register(task, staged, {"kind": "specialist"})


@pytest.mark.slow
def test_promote_refuses_zero_coverage_unless_forced(built, tmp_path):
    from rightmodel.registry import Registry

    home = tmp_path / "home"
    registry = Registry(home)
    useless = register_with_calibration(registry, built["version"].path, "z", 1.000001, 0.0)
    refused = run_cli("models", "promote", useless.ref, home=home)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    message = " ".join(refused.stderr.split())
    assert "answers 0% of requests locally" in message and "--force" in message, message
    assert registry.list("z")[0].stage == "candidate"
    forced = run_cli("models", "promote", useless.ref, "--force", "--reason", "testing the escalation path", home=home)
    assert forced.returncode == 0, forced.stderr
    assert registry.get("z@production").version == useless.version
    useful = register_with_calibration(registry, built["version"].path, "y", 0.9, 0.5)
    ok = run_cli("models", "promote", useful.ref, home=home)
    assert ok.returncode == 0, ok.stderr
