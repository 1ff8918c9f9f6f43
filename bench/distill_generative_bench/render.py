"""bench/results/distill_generative.md from the bench's JSON (bench/distill_generative.py).

Renders whatever phases the JSON holds, so a partial run (saved after each phase) still reads."""

from __future__ import annotations

from distill_bench.render import load


def pct(x, nd: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{nd}f}%"


def share(r: dict | None) -> str:
    """`rate [low–high] (k/n)` of a score.rate() dict."""
    if not r or not r.get("n"):
        return "n/a (0)"
    lo, hi = r["ci95"]
    return f"{pct(r['rate'])} [{100 * lo:.1f}–{100 * hi:.1f}] ({r['k']}/{r['n']})"


def usd(x, nd: int = 4) -> str:
    return "n/a" if x is None else f"${x:.{nd}f}"


def header(r: dict) -> list[str]:
    m, p, t = r["machine"], r["params"], r["teacher"]
    card = t.get("card") or {}
    data = card.get("data") or {}
    return ["# Generative distillation bench: captured frontier answers → a SmolLM2 LoRA that takes over", "",
            f"`{m['command']}` — {r.get('started')} → {r.get('finished')} (bench runtime {r.get('runtime_s', 'n/a')} s), "
            f"commit {m['git_commit']}, {m['nproc']} cores ({m['cpu_model']}), load average at start {' '.join(m['loadavg_at_start'])}"
            + (" — **dry run without the bench lock**" if p.get("no_lock") else "") + (f" — **partial: {r['partial']}**" if r.get("partial") else ""), "",
            "## Setup", "",
            f"- Task: support message → `{{intent, order_id, urgency}}` JSON (bench/generative_bench/extraction.py), system prompt "
            f"`{r['system_prompt']}`, response_format json_schema, greedy, max_tokens {r['max_tokens']}.",
            f"- Split by sentence frame ({r['split']['frames_per_intent']} frames per intent): captures are {r['split']['captured_from']} messages; "
            f"scoring is on the {r['split']['scored_on']} messages, whose frames neither the teacher nor the student ever saw "
            "(slot fillers — order-id formats, urgency cues, names — are shared across splits).",
            f"- **Frontier (B)**: gateway serving the teacher `{t['path']}` ({t['bytes'] / 1e6:.0f} MB, written {t['mtime_utc']}) as a "
            f"`kind: generate` model: a SmolLM2-135M LoRA that bench/generative.py fine-tuned on the *train* frames "
            f"({data.get('train_examples', '?')} examples): the captured messages are among the messages it was trained on. Gateway A prices "
            f"its answers at {r['frontier_price']['name']}'s list price (${r['frontier_price']['input_per_mtok']}/M in, "
            f"${r['frontier_price']['output_per_mtok']}/M out) on the tokens B reports.",
            f"- **Student**: `rightmodel distill --kind generate` from the bundled SmolLM2-135M-Instruct base (not the teacher), "
            f"target agreement {p['target_agreement']}, local compute priced at ${p['local_cost_per_hour']}/hour.",
            "- Gateway A's default privacy policy (`redact`) applies: names in sign-offs reach B (and the capture store) as "
            "placeholders; the student serves the raw text.", ""]


def capture_lines(r: dict) -> list[str]:
    c = r.get("capture")
    if not c:
        return []
    return ["## Capture", "",
            f"{c['sent']} train-split messages through gateway A in {c['seconds']} s (routes {c['routes']}); the teacher's answers "
            f"match the true labels on {pct(c['teacher_exact_on_captured'])} of them. Capture store: {c['stored']} pairs "
            f"({c['redacted']} redacted, {c['with_system_prompt']} with the system prompt kept). Privacy actions: {c['privacy_actions']}. "
            f"Machine: {load(c['machine'])}.", ""]


def distill_lines(r: dict) -> list[str]:
    d = r.get("distill")
    if not d:
        return []
    dist, tr, cal, cross = d.get("distilled") or {}, d.get("training") or {}, d.get("calibration") or {}, d.get("crossfit") or {}
    return ["## Distillation", "",
            f"`{d['command']}`", "",
            f"- {d['registered']} ({d['stage']}) in **{d['wall_s']:.0f} s wall** (LoRA training {tr.get('seconds', 0):.0f} s, "
            f"{tr.get('steps')} steps, epochs: {tr.get('epochs', (d.get('lora') or {}).get('epochs'))}, lr {(d.get('lora') or {}).get('learning_rate')}); machine: {load(d['machine'])}.",
            f"- Pairs: {dist.get('captured')} captures → {dist.get('examples')} distinct prompts ({dist.get('train')} train, "
            f"{dist.get('heldout')} held out), {dist.get('duplicates')} duplicates, {dist.get('unusable')} unusable.",
            f"- Held-out agreement with the teacher (card `distilled.agreement`, quality bar {d.get('quality_bar')}): "
            f"**{pct(dist.get('agreement'))}** of {cal.get('n_calibration')}; threshold {d['threshold']:.4f} (target {pct(d['target'], 0)}); "
            f"cross-fitted coverage {pct(cross.get('coverage'))} at {pct(cross.get('accepted_pass_rate'))} agreement"
            + (" — the command warned that the threshold does not hold up out of sample." if d.get("warned") else "."), ""]


def row(name: str, s: dict | None, ratio: str) -> str:
    if not s:
        return f"| {name} | not run |  |  |  |  |  |"
    t, led = s["test"], s["ledger"]
    return (f"| {name} | {t['requests']} | {share(t['coverage'])} | {share(t['agreement_local'])} | {share(t['exact_local'])} | "
            f"{share(t['exact_served'])} | {usd(led['cost_per_1k'])} {ratio} | {led.get('latency_p50_ms') or 0:.0f} ms |")


def results_lines(r: dict) -> list[str]:
    base, st = r.get("baseline"), r.get("student")
    if not base:
        return []
    ratio = f"({st['cost_ratio']:.2f}×)" if st and st.get("cost_ratio") is not None else ""
    L = ["## Served on the test split (unseen frames)", "",
         "| gateway | n | answered locally | agreement with the teacher, local answers | exact vs truth, local answers | "
         "exact vs truth, all served | cost / 1k requests | p50 latency |",
         "|---|---|---|---|---|---|---|---|",
         row("all-frontier (A0: every request to the teacher)", base, "(1.00×)"),
         row("distilled student, escalating to the teacher (A')", st, ratio), "",
         "95% Wilson intervals (scipy), with k/n. *Agreement* compares JSON as parsed (the card's `exact` bar); *exact vs truth* is "
         "the whole JSON equal to the generator's label.", ""]
    if st:
        t = st["test"]
        L += [f"- The teacher itself is right on {share(t['teacher_exact_on_local'])} of the messages the student answered; "
              f"escalated answers right: {share(t['exact_escalated'])}; escalated answers equal to A0's: {share(t['escalated_equals_teacher'])}.",
              f"- Routes: baseline {base['test']['routes']}, student {t['routes']}; schema-valid answers served: {share(t['schema_valid_served'])}.",
              f"- Privacy actions (baseline / student gateway): {base['privacy_actions']} / {st['privacy_actions']}.",
              f"- Serving took {base['seconds']} s (baseline) and {st['seconds']} s (student); machine: {load(base['machine'])} / {load(st['machine'])}."]
        if t["disagreements_local"]:
            L += ["", "Local answers that disagree with the teacher (first ones):", ""]
            L += [f"- student `{x['student']}` / teacher `{x['teacher']}` / truth `{x['truth']}`" for x in t["disagreements_local"][:5]]
    sd = r.get("student_direct")
    if sd:
        L += ["", f"**The student alone on all {sd['exact_all']['n']} test messages** (in process, the same greedy schema-constrained "
              f"generation, {sd['seconds']} s; measured, including the requests A' escalated): agreement with the teacher "
              f"{share(sd['agreement_all'])}, exact vs truth {share(sd['exact_all'])}; at the card's threshold it accepts "
              f"{share(sd['accepted'])} (A' answered {share(st['test']['coverage']) if st else 'n/a'} locally); agreement on the ones it "
              f"rejects {share(sd['agreement_rejected'])}. Machine: {load(sd['machine'])}."]
    return L + [""]


def render(r: dict) -> str:
    return "\n".join(header(r) + capture_lines(r) + distill_lines(r) + results_lines(r))
