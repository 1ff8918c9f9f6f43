"""Classification metrics for eval cards, from scikit-learn, in one JSON-ready shape."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from rightmodel.errors import needs_train_extra

LabelRows = Sequence[Sequence[str]]


def exact_match(truth: LabelRows, predicted: LabelRows) -> np.ndarray:
    """Per-row correctness: the predicted label set equals the true one."""
    return np.array([set(t) == set(p) for t, p in zip(truth, predicted)], dtype=bool)


def binarize(rows: LabelRows, labels: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros((len(rows), len(labels)), dtype=np.int8)
    for r, row in enumerate(rows):
        for name in row:
            if name in index:
                out[r, index[name]] = 1
    return out


def classification_metrics(
    truth: LabelRows, predicted: LabelRows, labels: Sequence[str], multi_label: bool, top_confusions: int = 10
) -> dict:
    """Accuracy (exact match for multi-label), micro/macro F1, per-class P/R/F1, commonest errors.

    Labels seen in the truth but unknown to the model count as errors, never silently dropped.
    """
    try:
        from sklearn.metrics import precision_recall_fscore_support
    except ImportError:
        raise needs_train_extra("scikit-learn", "evaluation") from None

    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    all_labels = list(labels) + sorted({n for row in truth for n in row} - set(labels))
    y_true = binarize(truth, all_labels)
    y_pred = binarize(predicted, all_labels)
    exact = float(exact_match(truth, predicted).mean()) if truth else 0.0
    present = [i for i in range(len(all_labels)) if y_true[:, i].any() or y_pred[:, i].any()]
    micro = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    macro = precision_recall_fscore_support(
        y_true[:, present], y_pred[:, present], average="macro", zero_division=0
    )
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    per_class = {
        all_labels[i]: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i in range(len(all_labels))
    }
    result = {
        "n": len(truth),
        "accuracy": round(exact, 4),
        "micro_f1": round(float(micro[2]), 4),
        "macro_f1": round(float(macro[2]), 4),
        "micro_precision": round(float(micro[0]), 4),
        "micro_recall": round(float(micro[1]), 4),
        "per_class": per_class,
    }
    if multi_label:
        result["most_confused"] = multilabel_errors(truth, predicted, top_confusions)
    else:
        pairs = Counter((t[0], p[0]) for t, p in zip(truth, predicted) if t[0] != p[0])
        result["most_confused"] = [
            {"true": t, "predicted": q, "count": c} for (t, q), c in pairs.most_common(top_confusions)
        ]
    return result


def multilabel_errors(truth: LabelRows, predicted: LabelRows, top: int) -> list[dict]:
    """Commonest missed and spurious labels: the multi-label analogue of confused pairs."""
    errors: Counter = Counter()
    for t, p in zip(truth, predicted):
        for name in set(t) - set(p):
            errors[(name, "(missed)")] += 1
        for name in set(p) - set(t):
            errors[("(none)", name)] += 1
    return [{"true": t, "predicted": q, "count": c} for (t, q), c in errors.most_common(top)]
