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
        calibration_line(data, card.get("cross_fit")),
        *([f"- system prompt of the chat fine-tuning file (a recognition template for the constellation): "
           f"`{data['system_prompts'][0]}`"] if data.get("system_prompts") else []),
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
        f"On the {'out-of-fold calibration answers' if card.get('cross_fit') else 'calibration split'}: "
        f"coverage {pct(cal['coverage'])}, accepted accuracy {pct(cal['accepted_accuracy'])}.",
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
    if card.get("calibration_guarantee"):
        lines.append(f"Guarantee: {card['calibration_guarantee']}.")
    certify = card.get("certify")
    if certify:
        lines += ["", "### What the calibration evidence can certify", "", "```", *certify["lines"], "```", ""]
    if card.get("shifted"):
        lines += ["", "### Where the data moves", "",
                  "The chosen threshold on the calibration split, the evaluation set and each labelled file from "
                  "another distribution given at training (`--shifted-eval`):", "", "```", *shift_lines(card), "```", ""]
    if card.get("novelty"):
        lines += ["", "### Requests unlike the training texts (opt-in: `tasks.<task>.novelty`)", "", *novelty_lines(card["novelty"]), ""]
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


def novelty_lines(section: dict) -> list[str]:
    """The novelty gate's effect on the evaluation set at the chosen threshold, per setting."""
    without = section["on_eval"]["without"]
    lines = [f"Index: {section['rows']:,} training texts embedded with {section['base_model']}; gates from "
             f"{section['calibration_texts']:,} calibration texts. On the evaluation set at the chosen threshold:", "",
             "| novelty | flagged as unlike | coverage | accepted accuracy |", "|---|---|---|---|",
             f"| off | - | {pct(without['coverage'])} | {pct(without['accepted_accuracy'])} |"]
    for share, r in section["on_eval"]["with"].items():
        lines.append(f"| {share} (gate {r['gate']:.3f}) | {pct(r['flagged'])} | {pct(r['coverage'])} | {pct(r['accepted_accuracy'])} |")
    return lines


def shift_lines(card: dict) -> list[str]:
    """Calibration split, evaluation set and each shifted file at the chosen threshold, side by side."""
    cal, on_eval = card["calibration"], card.get("calibration_on_eval") or {}

    def row(name: str, n: int, coverage: float, accepted: float | None) -> str:
        acc = "n/a" if accepted is None else f"{100 * accepted:.2f}%"
        return f"{name}: {n} rows, {100 * coverage:.1f}% answered locally at {acc} accepted accuracy"

    lines = [f"target {100 * cal['target_accuracy']:g}% ({cal['method']}), threshold {cal['threshold']:.6f}",
             row("calibration", cal["n_calibration"], cal["coverage"], cal["accepted_accuracy"])]
    if on_eval and not on_eval.get("crossfit"):
        lines.append(row("evaluation", card["data"]["n_eval"], on_eval["coverage"], on_eval["accepted_accuracy"]))
    for s in card.get("shifted") or []:
        t = s["at_threshold"]
        below = t["accepted_accuracy"] is not None and t["accepted_accuracy"] < cal["target_accuracy"] - 0.005
        lines.append(row(f"shifted `{s['file']}`", s["n"], t["coverage"], t["accepted_accuracy"])
                     + (" - more than half a point under the target" if below else ""))
    return lines


def calibration_line(data: dict, cross_fit: dict | None) -> str:
    """Where the calibration answers came from: a held-out split, a file, or out-of-fold scores."""
    if cross_fit:
        return (f"- calibrated on {data['n_calibration']} out-of-fold answers ({cross_fit['folds']}-fold cross-fit over the "
                f"training rows, {cross_fit['seconds']:.0f} s; out-of-fold accuracy {pct(cross_fit['out_of_fold_accuracy'])})")
    return (f"- calibrated on {data['n_calibration']} held-out examples, never trained on: "
            f"{data.get('calibration_source', 'carved from the training file')}")
