"""bench/results/distill.md from the bench's JSON (bench/distill.py)."""

from __future__ import annotations


def pct(x, nd=1) -> str:
    return "n/a" if x is None else f"{100 * x:.{nd}f}%"


def ci(c) -> str:
    return "" if not c else f" [{100 * c[0]:.1f}–{100 * c[1]:.1f}]"


def usd(x, nd=4) -> str:
    return "n/a" if x is None else f"${x:.{nd}f}"


def load(m: dict | None) -> str:
    if not m:
        return "n/a"
    cores = " / ".join(f"{v:.0f}" for k, v in sorted(m.items()) if k.endswith("_busy_pct"))
    return f"cores busy {cores}%, others {m.get('other_cores', 0):.2f} cores" + (f" ({m['other_top']})" if m.get("other_top") else "")


def direct(base: dict) -> str:
    d = base.get("frontier_direct")
    if not d:
        return ""
    acts = ", ".join(f"{k or 'none'} {v:,}" for k, v in d["through_gateway_privacy_actions"].items())
    return (f"; the same model called in-process on the raw texts, one at a time: {pct(d['accuracy_raw_one_at_a_time'], 2)} "
            f"({d.get('gateway_answer_differs', '?')} answers differ from those through the gateway). Gateway A's privacy actions on "
            f"these requests (default `redact` policy: B, a non-local model, sees placeholders): {acts}")


def render(r: dict) -> str:
    m, fr, cap, base = r["machine"], r["frontier"], r["capture"], r["baseline"]
    p = r["params"]
    n_test = base["test"]["requests"]
    L = ["# Distillation bench: captured frontier answers → a specialist that takes over", "",
         f"`{m['command']}` — {r.get('started')} → {r.get('finished')} (bench runtime {r.get('runtime_s')} s), "
         f"{m['cpu_model']}, {m['nproc']} cores, commit {m['git_commit']} (\"{m['git_head_subject'][:90]}\")"
         + (f", uncommitted changes in: {', '.join(x.split()[-1] for x in m['uncommitted_relevant'])}" if m["uncommitted_relevant"] else "")
         + (". **Dry run without /tmp/bench.lock**." if p.get("no_lock") else ". Holding /tmp/bench.lock throughout."), ""]
    if r.get("partial"):
        L += [f"**PARTIAL RESULTS** ({r['partial']}): the run was still going or was cut short.", ""]
    L += ["## Setup (real processes throughout)", "",
          f"- **Frontier (gateway B)**: `{fr['ref']}`, the standard recipe on "
          f"{fr['data_rows']} of Banking77 ({('reused from ' + fr['home'] + (', trained by an earlier run of this bench at ' + fr['trained_at'] + ': ' + fr['command'] if fr.get('command') else '')) if fr['reused'] else 'trained by this run: ' + fr.get('command', '')}"
          f"{', ' + str(fr.get('train_wall_s')) + ' s' if fr.get('train_wall_s') else ''}); served with `threshold: 0.0` so it answers every "
          f"request, one text per ONNX call (`batch_max_size: 1`, so its answers do not depend on concurrent traffic). Its accuracy on the official test split: **{pct(base['frontier_accuracy'], 2)}** (measured through gateway A; card: {pct(fr['card_test_accuracy'], 2)}){direct(base)}.",
          f"- **Price of the frontier**: gateway A prices B's answers at {r['frontier_price']['name']}'s list price "
          f"(${r['frontier_price']['input_per_mtok']}/M input, ${r['frontier_price']['output_per_mtok']}/M output, "
          f"{r['frontier_price']['source']}), on the usage B reports (the user text's tokens; B needs no instructions). "
          f"Local compute at ${p['local_cost_per_hour']}/h (`defaults.local_cost_per_hour`). All costs below are from the gateways' ledgers, "
          f"except the labelled projection.",
          f"- **Capture (gateway A)**: task `support-intent`, no specialist, `escalate_to` B, `capture: {{}}`. {cap['sent']:,} distinct texts of the "
          f"official **train** split (seeded sample) sent with the openai SDK, {p['concurrency']} at a time, in {cap['seconds']} s: routes {cap['routes']}; "
          f"{cap['stored']:,} pairs stored ({cap['redacted']} redacted by the default privacy policy; of the {cap['unredacted']:,} others, "
          f"{cap['unredacted_answer_equals_served']:,} hold exactly the answer the client got). B answers these (it trained on them) with accuracy {pct(cap['frontier_accuracy_on_captured'], 2)}.",
          f"- **Held-out traffic**: the official Banking77 **test** split ({n_test:,} texts), which neither B nor any candidate trained on. "
          f"All-frontier baseline (A without a specialist): {usd(base['ledger']['cost_per_1k'])} per 1k requests (ledger).",
          f"- **Per N**: `rightmodel distill support-intent --limit N --target-agreement {p['target_agreement']} --seed {p['seed']}"
          f"{' --epochs ' + str(p['epochs']) if p.get('epochs') else ''}` (the oldest N captures) into a fresh home, then gateway A'_N "
          f"(candidate as the task's specialist at its calibrated threshold, escalate_to B) serves the test split.", ""]
    L += ["## What `rightmodel distill` reported (held-out captures only)", "",
          "| captures N | distinct examples (train / held-out) | dup / conflict / unparseable | labels (source) | epochs | training s | distill wall s "
          "| held-out agreement (all) | threshold | held-out coverage† | held-out agreement at threshold† |",
          "|--:|--|--|--|--:|--:|--:|--:|--:|--:|--:|"]
    for s in r["sizes"]:
        d, c = s["dataset"], s["card"]
        L.append(f"| {s['n']:,} | {d['examples']} ({d['train']} / {d['heldout']}) | {d['duplicates']} / {d['conflicts']} / {d['unparseable']} "
                 f"| {d['labels']} ({d['label_source']}) | {c['epochs']} | {c['train_seconds'] and round(c['train_seconds'])} | {s['distill_wall_s']} "
                 f"| {pct(c['heldout_agreement'], 2)} | {c['threshold']:.4f} | {pct(c['heldout_coverage'])} | {pct(c['heldout_accepted_agreement'], 2)} |")
    L += ["", "† The held-out captures also calibrate the threshold, so these two columns are cross-fitted (each half's threshold "
          "scored on the other half, pooled): an out-of-sample estimate from the card.", ""]
    L += ["", f"## On held-out traffic: the official test split ({n_test:,} requests through gateway A'_N)", "",
          "| captures N | answered locally (coverage) | agreement with the frontier on those [95% CI] | their accuracy vs true labels [95% CI] "
          "| frontier's accuracy on the same texts | accuracy of all answers served | cost / 1k requests (ledger) | vs all-frontier | projected / 1k, real prompt* |",
          "|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    bl = base["ledger"]["cost_per_1k"]
    L.append(f"| 0 (all frontier) | 0.0% | — | — | — | {pct(base['frontier_accuracy'], 2)} | {usd(bl)} | 100% | {usd(base['projected_per_1k'])} |")
    for s in r["sizes"]:
        t, lg = s["test"], s["ledger"]
        rel = lg["cost_per_1k"] / bl if bl else None
        L.append(f"| {s['n']:,} | **{pct(t['coverage'])}** | **{pct(t['agreement_accepted'], 2)}**{ci(t['agreement_accepted_ci95'])} "
                 f"| {pct(t['accepted_accuracy'], 2)}{ci(t['accepted_accuracy_ci95'])} | {pct(t['frontier_accuracy_on_accepted'], 2)} "
                 f"| {pct(t['served_accuracy'], 2)} | {usd(lg['cost_per_1k'])} | {pct(rel)} | {usd(s['projected_per_1k'])} |")
    L += ["", "\\* The ledger prices escalations at what B reports (≈ the user text, "
          f"{base['ledger']['tokens_in_mean']:.0f} input tokens on average): a real frontier request would also carry instructions and the 77 intents. "
          "The projection re-prices each escalation with such a system prompt (chars/4 token estimate) at gpt-4o's list price, plus the measured local cost. "
          "It is an estimate, not a measurement.", ""]
    acc = r.get("acceptance")
    if acc:
        verdict = "**MET**" if acc["met"] else "**NOT MET**"
        L += ["## Acceptance (issue 8)", "",
              f"≥ 70% of held-out traffic answered locally at ≥ 98% agreement with the frontier, from 3,000 captures: {verdict} — "
              f"coverage {pct(acc['coverage'])} ({acc['coverage_gap_points']:+.1f} points vs 70%), agreement {pct(acc['agreement'], 2)} "
              f"({acc['agreement_gap_points']:+.2f} points vs 98%).", ""]
    L += ["## Machine load per phase", "", "| phase | seconds | load |", "|--|--:|--|"]
    if fr.get("train_machine"):
        L.append(f"| frontier training | {fr.get('train_wall_s')} | {load(fr['train_machine'])} |")
    L.append(f"| capture ({cap['sent']:,} requests) | {cap['seconds']} | {load(cap['machine'])} |")
    L.append(f"| all-frontier baseline ({n_test:,}) | {base['seconds']} | {load(base['machine'])} |")
    for s in r["sizes"]:
        L.append(f"| distill N={s['n']:,} | {s['distill_wall_s']} | {load(s['distill_machine'])} |")
        L.append(f"| serve test, N={s['n']:,} | {s['serve_s']} | {load(s['serve_machine'])} |")
    L += ["", f"Load average at start: {' '.join(m['loadavg_at_start'])}. Raw numbers, commands and ledger totals: `distill.json`.", ""]
    return "\n".join(L)
