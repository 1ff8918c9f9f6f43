"""Score registered versions: `rightmodel eval`, and the golden-set gate used by promotion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable


from rightmodel.errors import DataError, RegistryError
from rightmodel.evaluate.card import calibrated_threshold, read_card
from rightmodel.evaluate.metrics import classification_metrics, exact_match
from rightmodel.routing.calibration import summarize
from rightmodel.specialists.runtime import SpecialistRuntime, confidence_of

if TYPE_CHECKING:
    from rightmodel.registry import ModelVersion, Registry


def open_runtime(registry: "Registry", ref: str) -> tuple["ModelVersion", SpecialistRuntime, float]:
    """Verified version, its ONNX runtime and its calibrated threshold."""
    version = registry.open(ref)
    runtime = SpecialistRuntime(version.path)
    return version, runtime, calibrated_threshold(read_card(version.path))


def score(runtime: SpecialistRuntime, texts, truth, threshold: float, target: float = 0.99) -> dict:
    """Metrics plus coverage and accepted accuracy at the stored threshold."""
    probs = runtime.predict_proba(texts)
    preds = [p.labels for p in runtime.decode(probs)]
    metrics = classification_metrics(truth, preds, runtime.labels, runtime.multi_label)
    correct = exact_match(truth, preds)
    conf = confidence_of(probs, runtime.multi_label, runtime.decision_threshold)
    selective = summarize(conf, correct, threshold, target, 0.0).to_dict()
    selective = {k: selective[k] for k in ("threshold", "coverage", "accepted_accuracy", "accepted")}
    return {"metrics": metrics, "at_threshold": selective, "predictions": preds}


def evaluate_version(
    registry: "Registry",
    ref: str,
    data_path: Path,
    compare: Path | None = None,
    **read_options,
) -> dict:
    """Score `ref` on a labelled file; with `compare`, test it against another system's predictions."""
    from rightmodel.evaluate.compare import compare_systems, load_eval_data, read_predictions

    version, runtime, threshold = open_runtime(registry, ref)
    label_sep = read_options.get("label_sep", "|")
    data = load_eval_data(data_path, runtime.multi_label, **read_options)
    unknown = sorted(set(data.label_names) - set(runtime.labels))
    target = read_card(version.path).get("calibration", {}).get("target_accuracy", 0.99)
    result = score(runtime, data.texts, data.labels, threshold, target)
    preds = result.pop("predictions")
    result.update({"version": version.ref, "data": str(data_path), "unknown_labels": unknown})
    if compare is not None:
        theirs = read_predictions(compare, data, label_sep)
        result["comparison"] = compare_systems(data.labels, preds, theirs)
        result["compare_file"] = str(compare)
    return result


def golden_scorer(registry: "Registry", ref: str) -> Callable[["ModelVersion"], float] | None:
    """Accuracy (exact match) on the task's golden set, or None when the task has none yet."""
    from rightmodel.data import read_labelled

    task = ref.split("@", 1)[0]
    golden = registry.golden_path(task)
    if golden is None:
        return None

    def scorer(version: "ModelVersion") -> float:
        runtime = SpecialistRuntime(registry.open(version.ref).path)
        try:
            data = read_labelled(golden, multi_label=runtime.multi_label, min_per_class=1)
        except DataError as exc:
            raise RegistryError(f"golden set of {task} at {golden} cannot be read: {exc}") from exc
        preds = [p.labels for p in runtime.predict(data.texts)]
        return float(exact_match(data.labels, preds).mean())

    return scorer
