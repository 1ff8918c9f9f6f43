"""bench/results/code_summary.md from the run's JSON: numbers first, then how they were made."""

from __future__ import annotations

CODEXGLUE_ANCHORS = (("CodeBERT", 19.06), ("CodeT5-base", 20.01))


def _pct(v, nd: int = 1) -> str:
    return "—" if v is None else f"{100 * v:.{nd}f}%"


def _ci(r: dict) -> str:
    return f"{r['ci95'][0]:+.2f} … {r['ci95'][1]:+.2f}" if "ci95" in r else f"{r['bleu4_ci95'][0]:.2f} – {r['bleu4_ci95'][1]:.2f}"


def _load(m: dict | None) -> str:
    if not m:
        return "not recorded"
    busy = "/".join(f"{v:.0f}" for k, v in sorted(m.items()) if k.endswith("_busy_pct"))
    return f"cores busy {busy}%, other processes {m.get('other_cores', 0):.2f} cores ({m.get('other_top', '')}), steal {m.get('steal_pct', 0)}%"


def _argv(argv: list[str]) -> list[str]:
    """The command line with --note's text (printed after it) elided."""
    out = []
    for i, a in enumerate(argv):
        out.append("…" if i and argv[i - 1] == "--note" else a)
    return out


def markdown(res: dict) -> str:
    d, tr, acc = res["data"], res["training"], res["acceptance"]
    ft, zs, ns = res["fine_tuned"], res["zero_shot"], res["name_split"]
    gain = res["gain"]
    sp = d["splits"]
    met_zs = gain["test_vs_zero_shot"]["mean"] >= 5.0
    met_ns = ft["test"]["bleu4"] > ns["test"]["bleu4"]
    lines = [
        "# Generative specialist: code summarization with SmolLM2-135M (bench/code_summary.py)",
        "",
        f"Run {res['started']} → {res['finished']}, {res['cpus']} cores shared with other work (load below), Python {res['python']}. "
        "Command: `python bench/code_summary.py " + " ".join(_argv(res.get("argv", []))) + "`."
        + (f" {res['note']}" if res.get("note") else ""),
        "",
        f"Pairs (Python function with its docstring removed → the docstring's first sentence) mined with `ast` from "
        f"`{d['source']}` (this interpreter's standard library; test suites skipped; sources ≤ {d['max_tokens']} tokens; "
        f"deduplicated): **{d['mined']} pairs**. **Split by top-level module** (a package with all its submodules is one unit; "
        "sha256 of its name → 70/15/15%), so no test function's module was trained on or calibrated on:",
        "",
        "| split | pairs mined | modules | sampled for this run (round-robin over modules) | modules sampled |",
        "|---|---|---|---|---|",
    ]
    for k in ("train", "calibration", "test"):
        lines.append(f"| {k} | {sp[k]['pairs']} | {sp[k]['modules']} | {sp[k]['sampled']} | {sp[k]['sampled_modules']} |")
    o = d["other"]
    lines += [
        "",
        f"Another code base, never used for training or tuning: functions of the installed packages "
        f"{', '.join('`' + p + '`' for p in o['packages'])} mined by the same code ({o['mined']} pairs; {o['sampled']} sampled: "
        + ", ".join(f"{k} {v}" for k, v in o["per_package"].items()) + ").",
        "",
        "## Smoothed BLEU-4 (CodeXGLUE's code-to-text definition) and chrF",
        "",
        "| system | stdlib test modules: BLEU-4 | 95% CI | chrF | other code bases: BLEU-4 | 95% CI | chrF |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("function name split into words", ns), ("SmolLM2-135M-Instruct base, zero-shot (Q4_1)", zs),
                    ("fine-tuned LoRA, q4_k_m", ft)):
        lines.append(f"| {name} | **{r['test']['bleu4']:.2f}** | {_ci(r['test'])} | {r['test']['chrf']:.1f} | "
                     f"**{r['other']['bleu4']:.2f}** | {_ci(r['other'])} | {r['other']['chrf']:.1f} |")
    lines += [
        "",
        "Paired differences on the same functions (95% bootstrap interval over modules):",
        "",
        "| | stdlib test | other code bases |",
        "|---|---|---|",
        f"| fine-tuned − zero-shot base | {gain['test_vs_zero_shot']['mean']:+.2f} ({_ci(gain['test_vs_zero_shot'])}) | "
        f"{gain['other_vs_zero_shot']['mean']:+.2f} ({_ci(gain['other_vs_zero_shot'])}) |",
        f"| fine-tuned − name split | {gain['test_vs_name_split']['mean']:+.2f} ({_ci(gain['test_vs_name_split'])}) | "
        f"{gain['other_vs_name_split']['mean']:+.2f} ({_ci(gain['other_vs_name_split'])}) |",
        "",
        f"Acceptance (issue 19): fine-tuned ≥ zero-shot base + 5 BLEU on held-out standard-library modules — "
        f"**{'met' if met_zs else 'not met'}** ({gain['test_vs_zero_shot']['mean']:+.2f}); above the name-split baseline — "
        f"**{'met' if met_ns else 'not met'}** ({ft['test']['bleu4']:.2f} vs {ns['test']['bleu4']:.2f}).",
        "",
        f"chrF moves far less than BLEU (test: zero-shot {zs['test']['chrf']:.1f} → fine-tuned {ft['test']['chrf']:.1f}; "
        f"other code bases {zs['other']['chrf']:.1f} → {ft['other']['chrf']:.1f}): much of the BLEU gain is the docstring's form — "
        "one short imperative sentence ('Return the …') where the base writes 'This function returns …' — rather than more of "
        "the reference's content.",
        "",
        "CodeXGLUE's Python code-to-text anchors (smoothed BLEU-4, same metric): "
        + ", ".join(f"{n} {v}" for n, v in CODEXGLUE_ANCHORS) + ". **The data differ**: CodeXGLUE scores the first "
        "paragraph of docstrings of GitHub functions from CodeSearchNet (14,918 test functions, models trained on 251,820), "
        "this bench the first sentence of standard-library docstrings (a different code base, a different target length and "
        f"{sp['train']['sampled']} training pairs); the anchors place the numbers on a familiar scale, they are not a comparison.",
        "",
        "## Escalation: acceptance threshold (calibrated on the calibration modules, checked on the test modules)",
        "",
        f"Quality bar **`{acc['quality_bar']}`**: an answer is right when its sentence chrF against the reference is at least "
        f"{res['tau']}. Why {res['tau']}: the trivial answer (the name split into words) reaches it on "
        f"{_pct(res['at_threshold']['name_split_pass_rate'])} of test functions, so passing says more than restating the name; "
        "a paraphrase that keeps the reference's key words passes. Target: "
        f"{res['target']:.0%} of accepted answers right; rule `{acc['method']}` (routing/calibration.py, the classifiers' rule). "
        f"Score: {acc['score']}. Threshold **{acc['threshold']:.4f}**.",
        "",
        "| split | answers | right overall | coverage at threshold | right among accepted | BLEU-4 of accepted |",
        "|---|---|---|---|---|---|",
        f"| calibration (stdlib) | {acc['calibration']['n_calibration']} | {_pct(acc['calibration'].get('all_pass_rate'))} | "
        f"{_pct(acc['calibration']['coverage'])} | {_pct(acc['calibration']['accepted_accuracy'])} | — |",
    ]
    for name, key in (("test (stdlib)", "test"), ("other code bases", "other")):
        t = res["at_threshold"][key]
        accepted_bleu = "—" if t["bleu4_accepted"] is None else f"{t['bleu4_accepted']:.2f}"
        lines.append(f"| {name} | {t['n']} | {_pct(t['pass_rate_all'])} | {_pct(t['coverage'])} | {_pct(t['pass_rate_accepted'])} | "
                     f"{accepted_bleu} |")
    if res.get("bar_sweep"):
        lines += [
            "",
            "The same rule at other bars, from the same answers (the fine-tuned model re-answered the calibration functions in "
            "this bench; answers cut to their first sentence):",
            "",
            "| bar | threshold | calibration: right overall / coverage / right among accepted | test: right overall / coverage / "
            "right among accepted | other code bases: right overall / coverage / right among accepted |",
            "|---|---|---|---|---|",
        ]
        for row in res["bar_sweep"]:
            cells = [f"{_pct(row[k]['pass_rate_all'])} / {_pct(row[k]['coverage'])} / {_pct(row[k]['pass_rate_accepted'])}"
                     for k in ("calibration", "test", "other")]
            thr = "never accepts" if row["threshold"] > 1 else f"{row['threshold']:.4f}"
            lines.append(f"| chrF ≥ {row['tau']} | {thr} | " + " | ".join(cells) + " |")
    sv = res.get("score_vs_quality")
    if sv:
        lines += [
            "",
            f"**No bar certifies answers at the {res['target']:.0%} target**: the acceptance score (mean token log-probability) "
            "is only weakly related to a summary's quality — Spearman correlation with the answer's sentence chrF "
            f"{sv['calibration']:.2f} on calibration, {sv['test']:.2f} on test, {sv['other']:.2f} on the other code bases — so no "
            "score threshold reaches the target on the calibration modules, and the rule escalates everything. "
            "For free text at this model size the gateway would send every summary to the frontier model; a better "
            "acceptance estimator (issue 19 allows a small learned one) is the open work.",
        ]
    lora = tr["lora"]
    lines += [
        "",
        "## Training (the real `rightmodel train code-summary --kind generate` command, 1 torch thread, nice 10)",
        "",
        f"Wall time of the whole command (LoRA + merge + 3 GGUF exports + tokens/s per file + {acc['calibration']['n_calibration']} "
        f"calibration answers): **{tr['train_command_wall_s'] / 60:.1f} min**; LoRA training alone {tr['seconds'] / 60:.1f} min, "
        f"{tr['steps']} steps over {tr['data']['train_examples']} pairs (batch {lora['batch_size']}, rank {lora['rank']}, "
        f"lr {lora['learning_rate']}, {lora['epochs']} epoch), loss {tr['first_loss']:.3f} → {tr['last_loss']:.3f} (last step). "
        f"Target ≤ 60 min: **{'met' if tr['train_command_wall_s'] <= 3600 else 'not met'}**. Machine during training: "
        f"{_load(res.get('training_machine')) if res.get('training_machine') else res.get('training_load_note') or 'not recorded'}; "
        + ("that window also covers this bench's own zero-shot baseline (one more thread, nice 15), which ran beside training and "
           "is not counted as other processes; " if res.get("baselines_beside_training", True) else
           "the baselines were reused, so training ran alone among this bench's processes; ")
        + "short-lived processes of other people (test runs) escape the count, the busy cores do not."
        + (f" Wall-time note: {tr['note']}." if tr.get("note") else ""),
        "",
        f"Machine while the fine-tuned model answered the test and other functions: {_load(res.get('eval_machine'))}.",
        "",
        "## Examples (first test functions; the reference, then the fine-tuned answer)",
        "",
    ]
    for ex in ft["test"]["examples"][:6]:
        lines.append(f"- `{ex['function']}`: “{ex['reference']}” → “{ex['answer']}”")
    lines += [
        "",
        "## How the numbers were made",
        "",
        "- Metric: CodeXGLUE code-to-text's smoothed BLEU-4 (evaluator/bleu.py): per summary, lowercased, split into words "
        "and single punctuation marks, add-one smoothing on 2- to 4-gram precisions, brevity penalty with both lengths plus "
        "one; averaged over summaries ×100. Computed with sacrebleu (`tokenize='none'`, `smooth_method='add-k'`, k = 1, the "
        "lengths passed plus one) on those tokens; the only known difference is CodeXGLUE's unescaping of a few HTML entities "
        "(bench/generative_bench/summary_metrics.py). chrF: sacrebleu's corpus chrF, default settings.",
        "- Intervals: 2,000 bootstrap resamples of whole modules (top-level standard-library modules; modules of the other "
        "packages), because functions of one module resemble each other.",
        "- Every system's answer is cut to its first sentence by the same code that cut the references (the zero-shot base tends "
        "to write a paragraph); greedy decoding, at most 64 tokens.",
        "- Prompts: the fine-tuned model gets the short instruction it was trained with and the function; the zero-shot base gets "
        "the function followed by an instruction asking for the docstring's first line (chosen over a plainer prompt on 8 "
        "calibration functions, never on test functions).",
        "- Nothing was tuned on the other code bases; they were mined and scored once, in this run.",
        "- Per-function scores, answers and acceptance scores are in code_summary.json.",
    ]
    return "\n".join(lines) + "\n"
