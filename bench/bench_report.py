"""Render bench results JSON as the Markdown tables the README quotes."""

from __future__ import annotations


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}"


def render_specialists(out: dict) -> str:
    m = out["machine"]
    d = out["datasets"]
    lines = [
        "# Specialists benchmark",
        "",
        f"Machine: {m['cpus']} CPUs, torch threads {m['torch_threads']}, Python {m['python']}, {m['platform']}.",
        "Produced by `python bench/specialists.py`; scores are on held-out data never trained or calibrated on.",
        "",
    ]
    if "banking77" in d:
        b = d["banking77"]
        s = b["speed"]
        lines += [
            "## Banking77 (77 intents; official train → official test)",
            "",
            f"Measured {b['measured_at']}. Fit on {b['n_train']}, calibration {b['n_calibration']} (carved from train), test {b['n_eval']}.",
            "",
            "| system | test accuracy (%) |",
            "|---|---|",
            f"| **rightmodel: all-MiniLM-L6-v2 (22M) fine-tuned, int8 ONNX** | **{pct(b['accuracy'])}** |",
            f"| rightmodel, same model fp32 ONNX | {pct(b['fp32_accuracy'])} |",
        ]
        lines += [f"| {name} | {score} |" for name, score in b["published"]]
        cal, ct = b["calibration"], b["calibration_on_test"]
        lines += [
            "",
            f"- training: {b['training_seconds']:.0f} s for {b['epochs']} epochs ({b['examples_per_second']:.0f} examples/s) on this machine; whole build incl. export, evaluation and calibration {b['build_seconds']:.0f} s",
            f"- macro-F1 {pct(b['macro_f1'])}; int8 vs fp32: {b['int8_vs_fp32']['accuracy_delta_points']:+.2f} accuracy points, predictions agree on {pct(b['int8_vs_fp32']['agreement'])}%",
            f"- calibrated threshold {cal['threshold']:.5f} (rule `{cal['method']}`) for {pct(cal['target_accuracy'])}% accepted accuracy: "
            f"on **test** coverage {pct(ct['coverage'])}% with accepted accuracy {pct(ct['accepted_accuracy'])}% "
            f"(calibration split: coverage {pct(cal['coverage'])}%, accepted {pct(cal['accepted_accuracy'])}%)",
            calibration_rules(b),
            f"- served latency (int8, one text): p50 {b['latency']['single_p50_ms']} ms, p99 {b['latency']['single_p99_ms']} ms; model file {b['model_mb']} MB (fp32 {b['fp32_model_mb']} MB)",
            "",
            speed_table(s),
            "",
        ]
        if "batch_consistency" in b:
            c = b["batch_consistency"]
            lines += [
                f"Batch composition (int8 dynamic quantization scales activations per batch): over {c['texts']} test texts, "
                f"one-per-call vs batched predictions differ by at most {c['max_abs_prob_diff']} in probability "
                f"(mean {c['mean_abs_prob_diff']}), flipping {c['label_flips']} labels and {c['routing_flips']} answer/escalate decisions.",
                "",
            ]
    if "reviews" in d:
        r = d["reviews"]
        lines += [
            "## Reviews sentiment (UCI, 3,000 sentences, 2 classes)",
            "",
            f"Measured {r['measured_at']}. Split: {r['split']}.",
            "",
            f"- test accuracy {pct(r['accuracy'])}% (fp32 {pct(r['fp32_accuracy'])}%), macro-F1 {pct(r['macro_f1'])}; training {r['training_seconds']:.0f} s, {r['epochs']} epochs",
            f"- at the calibrated threshold: test coverage {pct(r['calibration_on_test']['coverage'])}%, accepted accuracy {pct(r['calibration_on_test']['accepted_accuracy'])}%",
            calibration_rules(r),
            "",
            speed_table(r["speed"]),
            "",
        ]
    if "claudette" in d:
        c = d["claudette"]
        lines += [
            "## CLAUDETTE unfair clauses (multi-label, 8 unfair categories, 5 document-level folds)",
            "",
            f"Measured {c['measured_at']}. Each fold trains on 40 documents (10% of their sentences carved for calibration) and tests on the other 10. "
            + recipe(c["folds"][0].get("hyperparameters", {})),
            "",
            "| fold | micro-F1 | macro-F1 | exact-match accuracy | training s |",
            "|---|---|---|---|---|",
        ]
        for k, f in enumerate(c["folds"]):
            lines.append(f"| {k} | {pct(f['micro_f1'])} | {pct(f['macro_f1'])} | {pct(f['accuracy'])} | {f['training_seconds']:.0f} |")
        lines += [
            f"| mean of folds | {pct(c['mean_fold_micro_f1'])} | {pct(c['mean_fold_macro_f1'])} | | {c['training_seconds_total']:.0f} total |",
            f"| pooled over all test sentences | {pct(c['pooled_micro_f1'])} | {pct(c['pooled_macro_f1'])} | | |",
            "",
        ]
        if "pooled_with_none_class" in c:
            n = c["pooled_with_none_class"]
            lines += [
                f"Scored LexGLUE-style, with a 9th 'none' label for sentences without an unfair category: micro-F1 {pct(n['micro_f1'])}, macro-F1 {pct(n['macro_f1'])}.",
                "",
            ]
        lines += [
            "Published for comparison (LexGLUE UNFAIR-ToS uses the same 8 categories but its own split and counts the 'none' label, so not directly comparable):",
            "",
        ]
        lines += [f"- {name}: {score}" for name, score in c["published"]]
        lines += [
            "",
            "Caveat: 6–11% of each fold's test sentences also occur verbatim in that fold's training documents (boilerplate shared across companies).",
            "",
        ]
        lines += [f"Note: {n}" for n in c.get("notes", [])]
    return "\n".join(lines)


def recipe(h: dict) -> str:
    if not h:
        return ""
    return (
        f"Recipe: {h['epochs']} epochs, batch {h['batch_size']}, max {h['max_length']} tokens, "
        f"label-less sentences sampled at {h.get('negative_rate', 1.0):.0%} per epoch (prior-corrected), decision threshold 0.5 per label."
    )


def calibration_rules(result: dict) -> str:
    """Both threshold rules side by side, as measured on the test split."""
    rows = []
    for method, r in result.get("calibration_methods", {}).items():
        c, t = r["on_calibration"], r["on_eval"]
        rows.append(
            f"  - `{method}`: threshold {c['threshold']:.5f}; test coverage {pct(t['coverage'])}%, "
            f"accepted accuracy {pct(t['accepted_accuracy'])}%"
        )
    return "\n".join(rows)


def speed_table(s: dict) -> str:
    return "\n".join(
        [
            f"Batched inference: the same {s['texts']} test texts in one call per runtime (each sorts by length and runs batches of {s['batch_size']}), median of 3 rounds, same process:",
            "",
            "| runtime | texts/s | ratio to PyTorch |",
            "|---|---|---|",
            f"| PyTorch fp32 | {s['pytorch_fp32_per_s']} | 1.00 |",
            f"| ONNX Runtime fp32 | {s['onnx_fp32_per_s']} | {s['onnx_fp32_per_s'] / s['pytorch_fp32_per_s']:.2f} |",
            f"| **ONNX Runtime int8 (served)** | **{s['onnx_int8_per_s']}** | **{s['int8_over_pytorch']:.2f}** |",
        ]
    )
