"""Labelled file in, registered candidate out: split → train → export → evaluate → calibrate → register.

Calibration evidence comes from a held-out split of the training file, or, for small files
(see `CROSSFIT_BELOW`), from cross-fitting: every non-evaluation row is scored once by a model
fine-tuned without it (rightmodel.specialists.crossfit), and the shipped model trains on all of
them.

Everything is built in a staging directory owned by the registry; a failure or an interrupt at
any step removes it, so a half-built version can never be registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable


from rightmodel.data import LabelledSet, read_labelled, split_holdout
from rightmodel.errors import ConfigError, DataError, RegistryError
from rightmodel.evaluate.card import write_card
from rightmodel.evaluate.latency import measure_latency
from rightmodel.evaluate.metrics import classification_metrics, exact_match
from rightmodel.registry.store import validate_task
from rightmodel.routing.calibration import DEFAULT_MARGIN, METHODS, calibrate_threshold, crossfit_summary, summarize
from rightmodel.routing.certify import best_certifiable, certifiable, certify_lines
from rightmodel.specialists.crossfit import GUARANTEE, OutOfFold, out_of_fold_scores
from rightmodel.specialists.encoder import describe_base, resolve_base
from rightmodel.specialists.export import MODEL_FILE, export_specialist
from rightmodel.specialists.novelty import novelty_line, write_novelty
from rightmodel.specialists.runtime import SpecialistRuntime, confidence_of
from rightmodel.specialists.train import ProgressCallback, TrainConfig, TrainedModel, train_classifier

if TYPE_CHECKING:
    from rightmodel.registry import ModelVersion, Registry

CALIBRATION_MODES = ("auto", "cross-fit", "split")
# `auto` cross-fits when the carved calibration split would hold fewer answers than this: below
# ~200 answers a 99% target is out of reach or certified at low coverage, and the k extra
# fine-tunings cost minutes, not hours, on files of up to ~2,000 rows.
CROSSFIT_BELOW = 200


@dataclass
class BuildRequest:
    """What `rightmodel train` was asked to do."""

    task: str
    train_path: Path
    eval_path: Path | None = None
    text_col: str | None = None
    label_col: str | None = None
    multi_label: bool = False
    label_sep: str = "|"
    encoding: str = "utf-8"
    drop_rare: bool = False
    base: str | None = None
    config: TrainConfig = field(default_factory=TrainConfig)
    calibration_fraction: float = 0.1
    calibration_path: Path | None = None  # calibrate on this file instead of carving from train
    eval_fraction: float = 0.1
    target_accuracy: float = 0.99
    delta: float = 0.1
    calibration_method: str = "expected"  # or "high-probability" (see routing.calibration)
    calibration_mode: str = "auto"  # "split", "cross-fit", or "auto" (cross-fit below CROSSFIT_BELOW answers)
    folds: int = 5  # cross-fit folds
    # Share of the error budget the `expected` rule holds back; None: DEFAULT_MARGIN, on cross-fitted
    # answers and on a split alike (routing.calibration says why); 0: the plain rule.
    calibration_margin: float | None = None
    # Labelled files of the same task from elsewhere (another source, period or wording): the card
    # shows the threshold's coverage and accepted accuracy there beside the calibration split's.
    shifted_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Splits:
    fit: LabelledSet
    calibration: LabelledSet
    evaluation: LabelledSet
    eval_source: str
    calibration_is_evaluation: bool = False  # then the at-threshold numbers on it are cross-fitted
    cross_fit: bool = False  # calibration == fit; evidence comes from out-of-fold scores
    out_of_fold: OutOfFold | None = None


def make_splits(request: BuildRequest, log: Callable[[str], None]) -> tuple[LabelledSet, Splits]:
    """Read the files and carve held-out splits; the calibration split is always carved from train."""
    read = dict(
        text_col=request.text_col,
        label_col=request.label_col,
        multi_label=request.multi_label,
        label_sep=request.label_sep,
        encoding=request.encoding,
        drop_rare=request.drop_rare,
    )
    data = read_labelled(request.train_path, **read)
    if data.report:
        log(f"read {request.train_path}: {data.report.summary()}")
    seed = request.config.seed
    if request.eval_path is not None:
        evaluation = read_labelled(request.eval_path, **{**read, "min_per_class": 1})  # rare classes are fine in evaluation
        if evaluation.report:
            log(f"read {request.eval_path}: {evaluation.report.summary()}")
        rest = data
        eval_source = f"file `{request.eval_path}`"
    else:
        rest, evaluation = split_holdout(data, request.eval_fraction, seed)
        eval_source = f"{request.eval_fraction:.0%} carved from the training file (stratified, seed {seed})"
    if request.calibration_path is not None:
        fit = rest
        calibration = read_labelled(request.calibration_path, **{**read, "min_per_class": 1})
        if calibration.report:
            log(f"read {request.calibration_path}: {calibration.report.summary()}")
    elif use_cross_fit(request, len(rest)):
        return data, Splits(fit=rest, calibration=rest, evaluation=evaluation, eval_source=eval_source, cross_fit=True)
    else:
        fit, calibration = split_holdout(rest, request.calibration_fraction, seed + 1)
    if len(fit) < 2 or len(calibration) < 1:
        raise DataError(f"{request.train_path} is too small to split into training and calibration sets")
    same = (request.calibration_path is not None and request.eval_path is not None
            and Path(request.calibration_path).resolve() == Path(request.eval_path).resolve())
    return data, Splits(fit=fit, calibration=calibration, evaluation=evaluation, eval_source=eval_source,
                        calibration_is_evaluation=same)


def use_cross_fit(request: BuildRequest, n_rows: int) -> bool:
    """Whether calibration evidence is cross-fitted: asked for, or `auto` and the split would be small."""
    if request.calibration_mode not in CALIBRATION_MODES:
        raise ConfigError(f"calibration mode must be one of {', '.join(CALIBRATION_MODES)}, got {request.calibration_mode!r}")
    if request.calibration_mode == "split":
        return False
    if request.calibration_mode == "cross-fit":
        if n_rows < 2 * request.folds:
            raise DataError(f"{request.train_path} has {n_rows} rows to cross-fit, fewer than 2 per fold ({request.folds} folds)")
        return True
    return round(n_rows * request.calibration_fraction) < CROSSFIT_BELOW and n_rows >= 2 * request.folds


def build_specialist(
    request: BuildRequest,
    registry: "Registry",
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] = print,
) -> "ModelVersion":
    """Train, evaluate, calibrate, export and register a candidate; returns the new version."""
    data, splits, trained = train_from_request(request, progress, log)
    return package_and_register(request, registry, data, splits, trained, log)


def train_from_request(
    request: BuildRequest, progress: ProgressCallback | None = None, log: Callable[[str], None] = print
) -> tuple[LabelledSet, Splits, "TrainedModel"]:
    """Read, split and fine-tune; nothing touches the registry yet."""
    try:  # fail on a bad task name or --base before any training
        validate_task(request.task)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    resolve_base(request.base)
    data, splits = make_splits(request, log)
    unknown = set(splits.evaluation.label_names) - set(splits.fit.label_names)
    if unknown:
        log(f"warning: {len(unknown)} evaluation labels never appear in training: {sorted(unknown)[:5]}")
    if splits.cross_fit:
        log(
            f"cross-fitting calibration over {len(splits.fit)} examples in {request.folds} folds "
            f"(every one serves once as calibration evidence; {request.folds} extra fine-tunings), "
            f"then training on all {len(splits.fit)}; evaluating on {len(splits.evaluation)} ({splits.eval_source})"
        )
        oof = out_of_fold_scores(splits.fit, folds=request.folds, base=request.base, config=request.config,
                                 labels=splits.fit.label_names, progress=progress, log=log)
        splits = replace(splits, out_of_fold=oof)
    else:
        log(
            f"training on {len(splits.fit)} examples, calibrating on {len(splits.calibration)}, "
            f"evaluating on {len(splits.evaluation)} ({splits.eval_source})"
        )
    trained = train_classifier(splits.fit, base=request.base, config=request.config, progress=progress)
    return data, splits, trained


def package_and_register(
    request: BuildRequest,
    registry: "Registry",
    data: LabelledSet,
    splits: Splits,
    trained: "TrainedModel",
    log: Callable[[str], None] = print,
) -> "ModelVersion":
    """Export to int8 ONNX in a staging dir, evaluate, calibrate, write the card, register."""
    with registry.staging(request.task) as staged:
        fp32_path = staged.parent / f"{staged.name}.fp32.onnx"
        try:
            export_specialist(trained, staged, keep_fp32=fp32_path)
            card = evaluate_build(request, trained, splits, staged, fp32_path, novelty_cache=registry.home / "cache")
        finally:
            fp32_path.unlink(missing_ok=True)
        for line in card["certify"]["lines"]:
            log(line)
        log(novelty_line(request.task, card["novelty"]))
        card["data"]["train_hash"] = data.content_hash()
        if data.system_prompts:
            card["data"]["system_prompts"] = list(data.system_prompts[:10])
            card["data"]["n_system_prompts"] = len(data.system_prompts)
            log(recognition_hint(request.task, data.system_prompts))
        write_card(card, staged)
        manifest = {
            "kind": "specialist",
            "data_hash": card["data"]["train_hash"],
            "base_model": card["base_model"],
            "metrics": {k: card["metrics"][k] for k in ("accuracy", "micro_f1", "macro_f1")},
            "calibration": card["calibration"],
            "hyperparameters": card["hyperparameters"],
        }
        version = registry.register(request.task, staged, manifest)
    if registry.golden_path(request.task) is None:
        golden = version.path.parent / f".golden-{request.task}.jsonl"
        splits.evaluation.to_jsonl(golden)
        registry.set_golden(request.task, golden)
        golden.unlink(missing_ok=True)
        log(f"golden set for {request.task}: the {len(splits.evaluation)} evaluation examples")
    return version


def evaluate_build(
    request: BuildRequest, trained, splits: Splits, staged: Path, fp32_path: Path, novelty_cache: Path | None = None
) -> dict:
    """Score the int8 artifact (and fp32 for the delta), calibrate, time it; return the card.
    With `novelty_cache` (where the gateway's embedder is built), also the novelty index."""
    runtime = SpecialistRuntime(staged)
    fp32 = SpecialistRuntime(staged, model_file=str(fp32_path))
    ev = splits.evaluation
    probs = runtime.predict_proba(ev.texts)
    preds = [p.labels for p in runtime.decode(probs)]
    fp32_preds = [p.labels for p in fp32.predict(ev.texts)]
    metrics = classification_metrics(ev.labels, preds, trained.labels, trained.multi_label)
    fp32_metrics = classification_metrics(ev.labels, fp32_preds, trained.labels, trained.multi_label)

    if splits.out_of_fold is not None:  # cross-fitted: each row scored by the fold model that did not see it
        cal_conf, cal_correct = splits.out_of_fold.confidence, splits.out_of_fold.correct
    else:
        cal_probs = runtime.predict_proba(splits.calibration.texts)
        cal_preds = [p.labels for p in runtime.decode(cal_probs)]
        cal_conf = confidence_of(cal_probs, trained.multi_label, runtime.decision_threshold)
        cal_correct = exact_match(splits.calibration.labels, cal_preds)
    eval_conf = confidence_of(probs, trained.multi_label, runtime.decision_threshold)
    eval_correct = exact_match(ev.labels, preds)
    cross_fitted = splits.out_of_fold is not None
    margin = DEFAULT_MARGIN if request.calibration_margin is None else request.calibration_margin
    calibrations = {}
    for method in METHODS:
        on_cal = calibrate_threshold(cal_conf, cal_correct, request.target_accuracy, request.delta, method, margin=margin)
        if splits.calibration_is_evaluation:  # in-sample at the threshold: report the cross-fit instead
            on_eval = crossfit_summary(cal_conf, cal_correct, on_cal, request.config.seed)
        else:
            on_eval = summarize(eval_conf, eval_correct, on_cal.threshold, on_cal.target_accuracy, on_cal.delta, method,
                                on_cal.margin).to_dict()
        calibrations[method] = {"on_calibration": on_cal.to_dict(), "on_eval": on_eval}
    chosen = calibrations[request.calibration_method]
    source = (f"cross-fitted, {splits.out_of_fold.folds} folds" if cross_fitted
              else f"file `{request.calibration_path}`" if request.calibration_path is not None
              else f"{request.calibration_fraction:.0%} carved from the training file")
    cert_rows = certifiable(cal_conf, cal_correct, request.target_accuracy, request.delta, request.calibration_method,
                            margin=margin)
    best = best_certifiable(cal_conf, cal_correct, request.delta, request.calibration_method, margin)
    certify = {
        "n_answers": int(len(cal_conf)),
        "margin": margin,
        "targets": cert_rows,
        "best": best,
        "lines": certify_lines(cert_rows, len(cal_conf), request.target_accuracy, source, cross_fitted,
                               request.calibration_method, margin, best),
    }
    if margin and request.calibration_method == "expected":  # what the margin costs, on the same answers
        certify["targets_without_margin"] = certifiable(cal_conf, cal_correct, request.target_accuracy, request.delta,
                                                        request.calibration_method)
    shifted = [evaluate_shifted(request, path, runtime, calibrations, trained.multi_label) for path in request.shifted_paths]
    novelty = None
    if novelty_cache is not None:
        cal_texts = splits.fit.texts if cross_fitted else splits.calibration.texts
        novelty = write_novelty(novelty_cache, staged, splits.fit.texts, cal_texts, ev.texts, eval_conf, eval_correct,
                                chosen["on_calibration"]["threshold"], request.config.seed)
    latency = measure_latency(lambda batch: runtime.predict_proba(batch, batch_size=64), list(ev.texts))
    fit_texts = set(splits.fit.texts)
    return {
        "task": request.task,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_model": describe_base(request.base),
        "data": {
            "train_file": str(request.train_path),
            "n_train": len(splits.fit),
            "n_calibration": len(splits.calibration),
            "calibration_source": source,
            "calibration_mode": "cross-fit" if cross_fitted else "split",
            "calibration_is_evaluation": splits.calibration_is_evaluation,
            "n_eval": len(ev),
            "eval_source": splits.eval_source,
            "eval_hash": ev.content_hash(),
            "eval_texts_also_in_training": sum(t in fit_texts for t in ev.texts),
            "n_labels": len(trained.labels),
            "multi_label": trained.multi_label,
        },
        "hyperparameters": {**trained.config.to_dict(), "epochs": trained.epochs},
        "training": {
            "seconds": round(trained.seconds, 1),
            "epochs": trained.epochs,
            "examples_per_second": round(len(splits.fit) * trained.epochs / max(trained.seconds, 1e-9), 1),
            "history": trained.history,
        },
        "metrics": metrics,
        "metrics_fp32": {k: fp32_metrics[k] for k in ("accuracy", "micro_f1", "macro_f1")},
        "int8_vs_fp32": {
            "accuracy_delta_points": round(100 * (metrics["accuracy"] - fp32_metrics["accuracy"]), 2),
            "micro_f1_delta_points": round(100 * (metrics["micro_f1"] - fp32_metrics["micro_f1"]), 2),
            "agreement": round(float(exact_match(preds, fp32_preds).mean()), 4),
        },
        "calibration": chosen["on_calibration"],
        "calibration_on_eval": chosen["on_eval"],
        "calibration_methods": calibrations,
        "calibration_guarantee": GUARANTEE if cross_fitted else (
            "split: the threshold is chosen on answers the shipped model never trained on"),
        "cross_fit": splits.out_of_fold.to_dict() if cross_fitted else None,
        "certify": certify,
        "shifted": shifted,
        "novelty": novelty,
        "latency": latency,
        "size": {
            "model_bytes": (staged / MODEL_FILE).stat().st_size,
            "fp32_model_bytes": fp32_path.stat().st_size,
            "parameters": sum(p.numel() for p in trained.model.parameters()),
        },
    }


def evaluate_shifted(request: BuildRequest, path: Path, runtime: SpecialistRuntime, calibrations: dict,
                     multi_label: bool) -> dict:
    """The thresholds scored on a labelled file from another distribution: does the promise made on
    the calibration split hold where the data moved? (Rows whose labels the model does not know
    count as wrong answers: escalating them is the only right move.)"""
    shifted = read_labelled(path, text_col=request.text_col, label_col=request.label_col, multi_label=request.multi_label,
                            label_sep=request.label_sep, encoding=request.encoding, min_per_class=1)
    probs = runtime.predict_proba(shifted.texts)
    preds = [p.labels for p in runtime.decode(probs)]
    conf = confidence_of(probs, multi_label, runtime.decision_threshold)
    correct = exact_match(shifted.labels, preds)
    known = set(runtime.labels)
    methods = {}
    for method, result in calibrations.items():
        on_cal = result["on_calibration"]
        methods[method] = summarize(conf, correct, on_cal["threshold"], on_cal["target_accuracy"], on_cal["delta"], method,
                                    on_cal.get("margin", 0.0)).to_dict()
    return {
        "file": str(path),
        "n": len(shifted),
        "hash": shifted.content_hash(),
        "accuracy": round(float(correct.mean()), 4) if len(shifted) else None,
        "rows_with_unknown_labels": sum(1 for labels in shifted.labels if not set(labels) <= known),
        "at_threshold": methods[request.calibration_method],
        "calibration_methods": methods,
    }


def recognition_hint(task: str, prompts: tuple[str, ...]) -> str:
    """Where a chat fine-tuning file's system prompt goes. The gateway recognises `auto` requests
    by templates in the constellation (tasks.<task>.recognise.system_prompts), which training does
    not write; the prompt is kept in the card and the line to add is printed."""
    import json

    more = f" (and {len(prompts) - 1} other system prompt(s), listed in the card)" if len(prompts) > 1 else ""
    return (f"the file's system prompt is recorded in the card{more}; to route `auto` requests that carry it to "
            f"{task}, add to the constellation: tasks.{task}.recognise.system_prompts: [{json.dumps(prompts[0])}]")
