"""Compare a specialist with another system's predictions on the same items.

The other system (a frontier model, a baseline, last quarter's vendor) is a file of predictions,
aligned to the evaluation data by an `id`/`text` column when present, else by row order. The
difference is tested with an exact McNemar test, so "better" means more than noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rightmodel.data import LabelledSet, read_labelled
from rightmodel.errors import DataError, needs_train_extra
from rightmodel.evaluate.metrics import exact_match

PREDICTION_COLUMNS = ("prediction", "predicted", "pred", "label", "labels", "category", "answer")


def read_predictions(path: Path, data: LabelledSet, label_sep: str = "|") -> list[tuple[str, ...]]:
    """Predictions in the order of `data`. A file with texts is joined on text, else by row order."""
    from rightmodel.data.labelled import read_records

    header, rows = read_records(path)
    column = next((c for c in PREDICTION_COLUMNS if c in header), None)
    if column is None:
        raise DataError(
            f"{path}: no prediction column; expected one of {', '.join(PREDICTION_COLUMNS)} "
            f"(columns present: {', '.join(header)})"
        )
    preds = [parse_labels(row.get(column), label_sep, data.multi_label) for row in rows]
    text_column = next((c for c in ("text", "sentence", "input", "prompt") if c in header), None)
    if text_column is not None:
        by_text: dict[str, tuple[str, ...]] = {}
        for row, pred in zip(rows, preds):
            by_text.setdefault(str(row.get(text_column, "")).strip(), pred)
        missing = [t for t in data.texts if t.strip() not in by_text]
        if missing:
            raise DataError(
                f"{path}: {len(missing)} evaluation texts have no prediction, e.g. {missing[0][:80]!r}"
            )
        return [by_text[t.strip()] for t in data.texts]
    if len(preds) != len(data):
        raise DataError(
            f"{path} has {len(preds)} predictions but the evaluation data has {len(data)} rows; "
            "add a `text` column to join on, or give one prediction per row in the same order"
        )
    return preds


def parse_labels(value: object, label_sep: str, multi_label: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    text = str(value).strip()
    if not multi_label:
        return (text,) if text else ()
    return tuple(part.strip() for part in text.split(label_sep) if part.strip())


def compare_systems(
    truth: Sequence[Sequence[str]], ours: Sequence[Sequence[str]], theirs: Sequence[Sequence[str]]
) -> dict:
    """Accuracy of both, agreement, and the exact McNemar test on the items where they differ."""
    try:
        from scipy.stats import binomtest
    except ImportError:
        raise needs_train_extra("scipy", "comparing systems") from None

    ours_right = exact_match(truth, ours).tolist()
    theirs_right = exact_match(truth, theirs).tolist()
    only_ours = sum(a and not b for a, b in zip(ours_right, theirs_right))
    only_theirs = sum(b and not a for a, b in zip(ours_right, theirs_right))
    discordant = only_ours + only_theirs
    p_value = binomtest(only_ours, discordant, 0.5).pvalue if discordant else 1.0
    n = max(len(truth), 1)
    return {
        "n": len(truth),
        "ours_accuracy": round(sum(ours_right) / n, 4),
        "theirs_accuracy": round(sum(theirs_right) / n, 4),
        "agreement": round(sum(set(o) == set(t) for o, t in zip(ours, theirs)) / n, 4),
        "only_ours_correct": only_ours,
        "only_theirs_correct": only_theirs,
        "mcnemar_exact_p": round(float(p_value), 6),
    }


def load_eval_data(path: Path, multi_label: bool, **read_options) -> LabelledSet:
    """Evaluation files keep every row: rare classes are legitimate there."""
    return read_labelled(path, multi_label=multi_label, min_per_class=1, **read_options)
