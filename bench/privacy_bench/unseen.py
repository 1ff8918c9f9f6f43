"""What the synthetic set cannot show: names and formats from sources the detector was not developed
on, prompts with no personal data at all, and how detection time grows with text length.

- held-out sets: bench/privacy/heldout_templates.yaml, heldout2_templates.yaml, heldout3_templates.yaml and
  heldout4_templates.yaml filled by heldout.py with US Census names and Faker locales never used by the
  project, in every shape (lower case, "First M Last", "Last, First", a given name or surname alone,
  JSON-escaped), each written by someone who had not seen the detector; the first three have since been
  read in development (their misses), the fourth (BLIND_SET) not;
- PII-free prompts: the MMLU questions shipped in datasets/routellm_mmlu (unique prompts; a seeded
  sample for the slower detectors) and the instruction prompts of bench/privacy/instructions.txt,
  instructions2.txt, instructions3.txt and instructions4.txt (the second to fourth written like heldout2-4;
  only counts of the second and fourth were ever seen, the third's alterations were read once it had
  been measured blind) — the share of prompts a detector would alter at all;
"""

from __future__ import annotations

import csv
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from privacy_bench import cost
from privacy_bench.common import CONF, ROOT, Span, ratio


INSTRUCTIONS = CONF / "instructions.txt"
INSTRUCTIONS2 = CONF / "instructions2.txt"  # a second set, written 2026-12-06 without seeing the detector or the first
INSTRUCTIONS3 = CONF / "instructions3.txt"  # a third, written 2026-12-07 the same way; its alterations since read
INSTRUCTIONS4 = CONF / "instructions4.txt"  # a fourth, written 2026-12-07 once the third had been read: blind
BLIND_SET = "heldout4"  # the held-out set no one developing the detector has read: its report keeps counts only


def instruction_prompts(path: Path | str = INSTRUCTIONS) -> list[str]:
    """The PII-free prompts of an instructions file (prompts separated by a line holding only ---)."""
    text = Path(path).read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n---\n") if p.strip()]


def mmlu_prompts() -> list[str]:
    prompts: list[str] = []
    for path in sorted((ROOT / "datasets" / "routellm_mmlu").glob("mmlu_*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            prompts += [row["prompt"] for row in csv.DictReader(fh)]
    return list(dict.fromkeys(prompts))


def altered(detect: Any, prompts: list[str], examples: int) -> dict[str, Any]:
    """How many prompts a detector would change (any finding at all), by type, with examples."""
    hit = 0
    types: Counter[str] = Counter()
    only_person = 0
    shown: list[dict[str, Any]] = []
    started = time.perf_counter()
    for prompt in prompts:
        spans: list[Span] = detect(prompt)
        if not spans:
            continue
        hit += 1
        kinds = {t for _, _, t in spans}
        types.update(kinds)
        only_person += kinds == {"PERSON"}
        if len(shown) < examples:
            shown.append({"prompt": prompt[:160], "spans": [f"{t}:{prompt[s:e]}" for s, e, t in spans][:6]})
    return {"prompts": len(prompts), "altered": hit, "share": ratio(hit, len(prompts)), "prompts_by_type": dict(types),
            "altered_by_person_only": only_person, "examples": shown, "seconds": round(time.perf_counter() - started, 1)}


def false_positives(dets: list[Any], sample: int, seed: int, examples: int) -> dict[str, Any]:
    mmlu = mmlu_prompts()
    rng = random.Random(seed)
    mmlu_sample = rng.sample(mmlu, min(sample, len(mmlu)))
    sets = {"instructions": (instruction_prompts(), examples),
            "instructions2": (instruction_prompts(INSTRUCTIONS2), 0),  # counts only: never read
            "instructions3": (instruction_prompts(INSTRUCTIONS3), examples),
            "instructions4": (instruction_prompts(INSTRUCTIONS4), 0)}  # blind: counts, no examples
    out: dict[str, Any] = {key: {} for key in sets} | {"mmlu_sample": {}, "mmlu_all": {}}
    for det in dets:
        for key, (prompts, shown) in sets.items():
            out[key][det.name] = altered(det.detect, prompts, shown)
        out["mmlu_sample"][det.name] = altered(det.detect, mmlu_sample, examples)
    default = next(d for d in dets if d.name == "rightmodel")
    out["mmlu_all"]["rightmodel"] = altered(default.detect, mmlu, examples)
    return out


def render(out: dict[str, Any], labels: dict[str, str], types: tuple[str, ...], targets: dict[str, float]) -> list[str]:
    """The held-out, PII-free-prompt and scaling sections of privacy.md."""
    lines: list[str] = []
    sets = (("heldout", "Held-out set 1: written outside the project, since read in development",
             "bench/privacy/heldout_templates.yaml filled by bench/privacy_bench/heldout.py (seed 2026)",
             "written by someone who had not seen the detector, its templates or its training data; its misses have since been "
             "read while changing the detector (2026-12-06), so it is no longer blind — set 2 below is"),
            ("heldout2", "Held-out set 2: written outside the project, since read in development",
             "bench/privacy/heldout2_templates.yaml filled by build_heldout2 (seed 2027)",
             "written 2026-12-06 by someone who had not seen the detector, its templates, its training data or set 1's texts; "
             "blind for one round, its misses were read on 2026-12-07 to change the detector (name spans, name fields), so "
             "it is no longer blind — set 3 below is"),
            ("heldout3", "Held-out set 3: written outside the project, since read in development",
             "bench/privacy/heldout3_templates.yaml filled by build_heldout3 (seed 2028)",
             "written 2026-12-07 by someone who had not seen the detector, its templates, its training data or the texts of sets "
             "1 and 2; blind for one round, its misses and false positives were read later that day to change the detector "
             "(label words, identifiers and chat shorthand that are never names), so it is no longer blind — set 4 below is"),
            ("heldout4", "Held-out set 4: blind",
             "bench/privacy/heldout4_templates.yaml filled by build_heldout4 (seed 2029)",
             "written 2026-12-07 by someone who had not seen the detector, its templates, its training data, its results or the "
             "texts of sets 1-3; no one developing the detector has read its texts or misses (this report shows none; "
             "privacy.json keeps counts only)"))
    for key, title, source, how in sets:
        if out.get(key):
            lines += _render_heldout(out[key], title, source, how, labels, types, targets, show_misses=key != BLIND_SET)
    fp = out.get("false_positives")
    if fp:
        names = [n for n in labels if n in fp["instructions"]]
        lines += ["", "## PII-free prompts: how many a detector would alter", "",
                  "Any finding alters the prompt the remote model sees (under `redact`) or keeps it local (under `local-only`). "
                  "The instruction prompts (bench/privacy/instructions.txt) contain no personal data at all; MMLU questions contain "
                  "no personal data about a user, but many name historical figures, authors and fictional people (\"Kant\", "
                  "\"Mr. Smith sued...\"), which a name detector cannot tell from a customer's name.", "",
                  "| prompts | n | " + " | ".join(labels[n] for n in names) + " |", "|---|---|" + "---|" * len(names)]
        for key, title in (("instructions", "instruction prompts (instructions.txt)"),
                           ("instructions2", "instruction prompts, second set, counts only ever seen (instructions2.txt)"),
                           ("instructions3", "instruction prompts, third set, read since (instructions3.txt)"),
                           ("instructions4", "instruction prompts, fourth set, blind (instructions4.txt)"),
                           ("mmlu_sample", "MMLU questions (seeded sample)")):
            if key not in fp:
                continue
            n = fp[key][names[0]]["prompts"]
            lines.append(f"| {title} | {n:,} | " + " | ".join(f"{100 * fp[key][x]['share']:.1f}%" for x in names) + " |")
        allm = fp["mmlu_all"].get("rightmodel")
        if allm:
            lines += ["", f"All {allm['prompts']:,} unique MMLU questions, default detector: {100 * allm['share']:.1f}% altered "
                      f"({allm['altered_by_person_only']:,} of the {allm['altered']:,} by PERSON findings only; by type "
                      + ", ".join(f"{t} {c:,}" for t, c in sorted(allm["prompts_by_type"].items(), key=lambda kv: -kv[1])) + ")."]
        lines += ["", "Instruction prompts the default alters (first ones):", ""]
        lines += [f"- `{e['prompt'][:90]}` → {', '.join(e['spans'])}" for e in fp["instructions"]["rightmodel"]["examples"][:8]]
    sc = out.get("scaling")
    if sc:
        lines += ["", "## Cost by text length (default detector, one core)", "",
                  "Best of 3 calls per cell, seconds (ms per KB); kinds and how they are built: bench/privacy_bench/cost.py.", ""]
        lines += cost.render(sc)
    return lines


def _render_heldout(held: dict[str, Any], title: str, source: str, how: str, labels: dict[str, str], types: tuple[str, ...],
                    targets: dict[str, float], show_misses: bool) -> list[str]:
    acc = held["accuracy"]
    names = [n for n in labels if n in acc]
    info, tr = held["info"], held["training_overlap"]
    lines = [f"## {title}", "",
             f"{source}: {info.get('texts', '?')} texts, {how}; names from the US Census lists (PyPI `names`) and Faker locales the "
             f"project never used, in every shape (about a third in lower case). {tr['gold_name_tokens_in_gazetteer']:,} of its "
             f"{tr['gold_name_tokens']:,} gold name tokens are in the tagger's gazetteer. Strict recall (precision) per type:", "",
             "| type | n | target | " + " | ".join(labels[n] for n in names) + " |", "|---|---|---|" + "---|" * len(names)]
    for t in types:
        n = acc[names[0]]["per_type"][t]["n"]
        if not n:
            continue
        target = targets.get(t)
        cells = " | ".join(f"{acc[x]['per_type'][t]['recall_strict']:.3f} ({_f(acc[x]['per_type'][t]['precision'])})" for x in names)
        lines.append(f"| {t} | {n:,} | {'—' if target is None else f'≥ {target:.3f}'} | {cells} |")
    lines += ["", "Texts without sensitive data that got any detection: " + ", ".join(
        f"*{labels[x]}* {acc[x]['all_types']['negative_texts_with_any_detection']} of {acc[x]['all_types']['negative_texts']}" for x in names)
        + "."]
    rm = acc.get("rightmodel")
    if rm:
        shapes: dict[str, list[int]] = {}
        for kind, v in rm["by_kind"]["PERSON"].items():
            shape = kind.split(" | ")[0].replace(" +json-escaped", "")
            cell = shapes.setdefault(shape, [0, 0])
            cell[0] += v["n"]
            cell[1] += round(v["recall_strict"] * v["n"])
        lines += ["", "PERSON strict recall of the default by how the name is written:", "",
                  "| shape | n | strict recall |", "|---|---|---|"]
        lines += [f"| `{s}` | {n} | {k / n:.3f} |" for s, (n, k) in sorted(shapes.items(), key=lambda kv: -kv[1][0])]
        if show_misses:
            lines += ["", "Example misses (default):", ""]
            lines += [f"- {m['kind']}: `{m['context']}`" for m in rm["misses"]["PERSON"][:8]]
    return lines + [""]


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
