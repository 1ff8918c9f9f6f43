"""Card metrics against hand-computed values."""

import pytest

from rightmodel.evaluate.compare import compare_systems
from rightmodel.evaluate.metrics import classification_metrics


def test_single_label_metrics_and_confusions():
    truth = [("a",), ("a",), ("b",), ("c",)]
    pred = [("a",), ("b",), ("b",), ("b",)]
    m = classification_metrics(truth, pred, ["a", "b", "c"], multi_label=False)
    assert m["accuracy"] == 0.5
    assert m["micro_f1"] == 0.5  # single-label micro-F1 equals accuracy
    # per class: a P=1 R=.5 F=.667; b P=1/3 R=1 F=.5; c P=0 R=0 F=0 → macro .3889
    assert m["macro_f1"] == pytest.approx(0.3889, abs=1e-4)
    assert m["per_class"]["b"]["precision"] == pytest.approx(0.3333, abs=1e-4)
    assert {(c["true"], c["predicted"]) for c in m["most_confused"]} == {("a", "b"), ("c", "b")}


def test_multi_label_exact_match_and_f1():
    truth = [("x", "y"), (), ("y",)]
    pred = [("x",), (), ("y",)]
    m = classification_metrics(truth, pred, ["x", "y"], multi_label=True)
    assert m["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    # tp=2 fp=0 fn=1 → micro P=1 R=2/3 F=0.8
    assert m["micro_f1"] == 0.8
    assert m["most_confused"][0] == {"true": "y", "predicted": "(missed)", "count": 1}


def test_unknown_truth_labels_count_as_errors():
    m = classification_metrics([("z",)], [("a",)], ["a"], multi_label=False)
    assert m["accuracy"] == 0.0 and "z" in m["per_class"]


def test_compare_systems_mcnemar():
    truth = [("a",)] * 20
    ours = [("a",)] * 20
    theirs = [("a",)] * 8 + [("b",)] * 12
    c = compare_systems(truth, ours, theirs)
    assert c["ours_accuracy"] == 1.0 and c["theirs_accuracy"] == 0.4
    assert c["only_ours_correct"] == 12 and c["only_theirs_correct"] == 0
    assert c["mcnemar_exact_p"] < 0.001
