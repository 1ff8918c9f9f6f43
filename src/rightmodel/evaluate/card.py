"""Evaluation cards: the JSON a version carries and its Markdown rendering for people."""

from __future__ import annotations

import json
from pathlib import Path

CARD_JSON = "card.json"
CARD_MD = "card.md"
NEVER_ACCEPT = 1.000001  # above every probability: the specialist never answers alone


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def write_card(card: dict, directory: Path) -> None:
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=False))
    (directory / CARD_MD).write_text(render_markdown(card))


def read_card(directory: Path) -> dict:
    return json.loads((directory / CARD_JSON).read_text())


def calibrated_threshold(card: dict) -> float:
    """The confidence at or above which the version answers alone; a card without a
    calibration never accepts (everything escalates)."""
    return float(card.get("calibration", {}).get("threshold", NEVER_ACCEPT))


def render_markdown(card: dict) -> str:
    """A one-page summary a reviewer can read before promoting a version."""
    m = card["metrics"]
    data = card["data"]
    cal = card["calibration"]
    on_eval = card.get("calibration_on_eval") or {}
    lat = card.get("latency", {})
    q = card.get("int8_vs_fp32", {})
    lines = [
        f"# {card['task']} — specialist evaluation card",
        "",
        f"- base model: {card['base_model']}",
        f"- kind: {'multi-label' if data['multi_label'] else 'single-label'} classification, {data['n_labels']} labels",
        f"- trained on {data['n_train']} examples from `{data['train_file']}` (sha256 {data['train_hash'][:12]}…), "
        f"{card['training']['epochs']} epochs in {card['training']['seconds']:.0f} s",
        f"- evaluated on {data['n_eval']} held-out examples: {data['eval_source']}",
        f"- calibrated on {data['n_calibration']} held-out examples, never trained on: "
        f"{data.get('calibration_source', 'carved from the training file')}",
        "",
        "## Scores (int8 ONNX, the served artifact)",
        "",
        "| accuracy | micro-F1 | macro-F1 |",
        "|---|---|---|",
        f"| {pct(m['accuracy'])} | {pct(m['micro_f1'])} | {pct(m['macro_f1'])} |",
        "",
        f"int8 vs fp32: accuracy {q.get('accuracy_delta_points', 0):+.2f} points, "
        f"micro-F1 {q.get('micro_f1_delta_points', 0):+.2f} points, predictions agree on {pct(q.get('agreement'))}.",
        "",
        "## Calibration",
        "",
        f"Answer locally when confidence >= **{cal['threshold']:.6f}** — target accepted-answer accuracy "
        f"{pct(cal['target_accuracy'])}, rule `{cal['method']}` (see rightmodel.routing.calibration).",
        f"On the calibration split: coverage {pct(cal['coverage'])}, accepted accuracy {pct(cal['accepted_accuracy'])}.",
    ]
    if on_eval.get("crossfit"):
        lines.append(
            f"The evaluation set is the calibration set; out of sample ({on_eval['crossfit']}): coverage "
            f"{pct(on_eval['coverage'])}, accepted accuracy {pct(on_eval['accepted_accuracy'])}."
        )
    elif on_eval:
        lines.append(
            f"On the evaluation set: coverage {pct(on_eval['coverage'])}, accepted accuracy {pct(on_eval['accepted_accuracy'])}."
        )
    for method, result in card.get("calibration_methods", {}).items():
        c, e = result["on_calibration"], result["on_eval"]
        lines.append(
            f"- rule `{method}`: threshold {c['threshold']:.6f}; calibration coverage {pct(c['coverage'])} "
            f"(accepted {pct(c['accepted_accuracy'])}); evaluation coverage {pct(e['coverage'])} (accepted {pct(e['accepted_accuracy'])})"
        )
    lines += [
        "",
        "## Speed and size",
        "",
        f"- single request p50 {lat.get('single_p50_ms', 'n/a')} ms, p99 {lat.get('single_p99_ms', 'n/a')} ms; "
        f"batched {lat.get('batched_throughput_per_s', 'n/a')} texts/s (batch {lat.get('batch_size', 'n/a')})",
        f"- model file {card['size']['model_bytes'] / 1e6:.1f} MB, {card['size']['parameters'] / 1e6:.1f} M parameters",
        "",
        "## Most confused",
        "",
        "| true | predicted | count |",
        "|---|---|---|",
    ]
    lines += [f"| {c['true']} | {c['predicted']} | {c['count']} |" for c in m.get("most_confused", [])]
    lines += ["", "## Per class", "", "| label | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    for label, row in m["per_class"].items():
        lines.append(f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
    lines += ["", "## Hyperparameters", "", "```json", json.dumps(card["hyperparameters"], indent=2), "```", ""]
    return "\n".join(lines)
