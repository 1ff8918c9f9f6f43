"""A held-out labelled set for the privacy bench: templates and name lists that were NOT used to
develop the detector, filled with seeded values; gold character spans recorded at fill time.

- Templates: bench/privacy/heldout_templates.yaml (slot syntax documented at its top), written
  independently of bench/privacy/templates.yaml and of the detector. This module loads and fills
  them (fill, build_heldout) and counts the result (heldout_info).
- PERSON names (heldout_names.py): the US Census 1990 name lists of the PyPI package `names` and
  Faker's name lists for locales the project has not used, each name written in one of several
  shapes (First Last, first last, First M Last, First M. Last, Last, First, a given name alone,
  Title Surname, a surname alone, ALL CAPS; hyphenated and particle surnames; inside JSON with
  \\u00e9-style escapes); `Gold.kind` is "<shape>[ +json-escaped] | <surname style> | <source>",
  `Gold.locale` the source.
- Other values (heldout_values.py): cards, IBANs, SSNs, phone numbers, e-mail and IP addresses
  generated with correct check digits, each with a `Gold.kind` saying how it was made
  ("card other len12 lead0 dots", "iban DE grouped lower", "phone IN mobile intl valid"); and the
  non-sensitive slots (order numbers, dates, amounts...), which are not gold and cannot be card numbers.

- A second held-out set: bench/privacy/heldout2_templates.yaml, written on 2026-12-06 by someone who
  had not seen the detector, its templates, its training data or the first set's texts (the first set
  stops being blind once its misses are studied). build_heldout2(n, seed=2027) fills it with the same
  machinery; build_heldout, load_heldout_templates and heldout_info take a `templates` path (default:
  the first set's file, whose output is unchanged).
- A third held-out set: bench/privacy/heldout3_templates.yaml, written on 2026-12-07 by someone who had not
  seen the detector, its templates, its training data or the texts of sets 1 and 2; build_heldout3(n, seed=2028).
  Blind for one round; its misses were read on 2026-12-07 (second session) to change the detector.
- A fourth held-out set: bench/privacy/heldout4_templates.yaml, written on 2026-12-07 by someone who had not
  seen the detector, its templates, its training data, its results or the texts of sets 1-3;
  build_heldout4(n, seed=2029).

Seeded and deterministic: build_heldout(n, seed) returns the same samples for the same inputs.
Run this file (`python bench/privacy_bench/heldout.py [--set 2] [-n N] [--seed S]`, or
`python -m privacy_bench.heldout` from bench/) to print counts per type and per kind and 10 example texts.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `privacy_bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy_bench.common import CONF  # noqa: E402
from privacy_bench.dataset import Gold, Sample  # noqa: E402
from privacy_bench.heldout_names import SHAPE_WEIGHTS, Identity, Names, person_kind  # noqa: E402
from privacy_bench.heldout_values import HeldoutFiller  # noqa: E402

TEMPLATES = CONF / "heldout_templates.yaml"
# The second held-out set (written 2026-12-06 by someone who had not seen the detector, its templates,
# its training data or the first set's texts), built with its own seed: build_heldout2.
TEMPLATES2 = CONF / "heldout2_templates.yaml"
SEED2 = 2027
# The third held-out set (written 2026-12-07 by someone who had not seen the detector, its templates, its
# training data or the texts of sets 1 and 2), built with its own seed: build_heldout3.
TEMPLATES3 = CONF / "heldout3_templates.yaml"
SEED3 = 2028
# The fourth (written 2026-12-07, once set 3's misses had been read, by someone who had seen none of the
# detector, its templates, its training data, its results or the texts of sets 1-3): build_heldout4.
TEMPLATES4 = CONF / "heldout4_templates.yaml"
SEED4 = 2029
SLOT = re.compile(r"\{([A-Z][A-Z]*)([0-9]*)(?::([A-Za-z0-9_]+))?\}")
SLOT_TYPE = {"PERSON": "PERSON", "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "CARD": "CREDIT_CARD",
             "IBAN": "IBAN_CODE", "SSN": "US_SSN", "IP": "IP_ADDRESS"}
NEGATIVE_SHARE = 0.2


# ---------------------------------------------------------------------------- templates and filling

@dataclass
class Template:
    text: str
    flags: frozenset[str]


def load_heldout_templates(templates: Path | str = TEMPLATES) -> tuple[list[Template], list[Template]]:
    """(positive, negative) templates of a held-out template file (default: the first set's)."""
    import yaml

    data = yaml.safe_load(Path(templates).read_text(encoding="utf-8"))

    def conv(items: list[Any]) -> list[Template]:
        out = []
        for it in items:
            if isinstance(it, str):
                out.append(Template(it, frozenset()))
            else:
                out.append(Template(it["text"], frozenset(it.get("flags") or ())))
        return out

    return conv(data["positive"]), conv(data["negative"])


def fill(t: Template, f: HeldoutFiller) -> tuple[str, list[Gold], str]:
    """The template with its slots filled; gold spans for sensitive slots; the text's main name source."""
    r = f.rng
    is_json, lower = "json" in t.flags, "lower" in t.flags
    escape = is_json and r.random() < 0.6  # json.dumps(..., ensure_ascii=True) style \u escapes
    idents: dict[str, Identity] = {}
    values: dict[str, tuple[str, str, str]] = {}  # slot -> (value, kind, locale) for non-PERSON slots
    out: list[str] = []
    gold: list[Gold] = []
    pos = last = 0

    def ident_for(slot: str) -> Identity:
        if slot not in idents:
            idents[slot] = f.names.identity(want_non_ascii=escape and r.random() < 0.7)
        return idents[slot]

    for m in SLOT.finditer(t.text):
        out.append(t.text[last:m.start()])
        pos += m.start() - last
        last = m.end()
        base, num, hint = m.group(1), m.group(2), m.group(3) or ""
        slot = base + num
        if base == "PERSON":
            ident = ident_for(slot)
            label = r.choices(list(SHAPE_WEIGHTS[hint]), weights=list(SHAPE_WEIGHTS[hint].values()))[0]
            if lower:
                label = label.lower()
            text, s, e = Names.render(ident, label)
            escaped = False
            if is_json:  # escaping is per character, so the escaped text is escaped(prefix) + escaped(name)
                pre = json.dumps(text[:s], ensure_ascii=escape)[1:-1]
                core = json.dumps(text[s:e], ensure_ascii=escape)[1:-1]
                text = json.dumps(text, ensure_ascii=escape)[1:-1]
                s, e = len(pre), len(pre) + len(core)
                escaped = "\\u" in core
            gold.append(Gold(pos + s, pos + e, "PERSON", person_kind(label, ident, escaped), ident.source, text[s:e], text))
            out.append(text)
            pos += len(text)
            continue
        if base in SLOT_TYPE:
            if slot not in values:
                if base == "EMAIL":
                    v, k = f.email(ident_for(hint) if hint.startswith("PERSON") else None, lower)
                    values[slot] = (v, k, "")
                elif base == "PHONE":
                    v, k, cc = f.phone()
                    values[slot] = (v, k, cc)
                elif base == "CARD":
                    v, k = f.card()
                    values[slot] = (v, k, "")
                elif base == "IBAN":
                    v, k, cc = f.iban(lower)
                    values[slot] = (v, k, cc)
                elif base == "SSN":
                    v, k = f.ssn()
                    values[slot] = (v, k, "US")
                else:
                    v, k = f.ip(hint or None)
                    values[slot] = (v, k, "")
            v, k, loc = values[slot]
            if is_json:
                v = json.dumps(v, ensure_ascii=escape)[1:-1]
            gold.append(Gold(pos, pos + len(v), SLOT_TYPE[base], k, loc, v, v))
        else:
            if slot not in values:
                card = values.get("CARD", ("", "", ""))[0]
                ending = re.sub(r"\D", "", card)[-4:] if base == "ENDING" and card else ""
                values[slot] = (ending or f.plain(base), "", "")
            v = values[slot][0]
            if is_json:
                v = json.dumps(v, ensure_ascii=escape)[1:-1]
        out.append(v)
        pos += len(v)
    out.append(t.text[last:])
    people = [g.locale for g in gold if g.type == "PERSON"]
    return "".join(out), gold, (people[0] if people else "-")


def build_heldout(n: int = 1500, seed: int = 2026, templates: Path | str = TEMPLATES) -> list[Sample]:
    """n labelled texts (NEGATIVE_SHARE of them with no sensitive data), seeded; every template used
    about equally often. Sample.locale is the source of the text's first name ("census",
    "faker:<locale>") or "-"; Sample.template indexes the positive or negative list of `templates`
    (default: the first held-out set's file)."""
    positive, negative = load_heldout_templates(templates)
    filler = HeldoutFiller(seed)
    order = random.Random(seed + 1)
    n_neg = round(n * NEGATIVE_SHARE)

    def deck(k: int, size: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            idx = list(range(size))
            order.shuffle(idx)
            out += idx
        return out[:k]

    plan = [(False, i) for i in deck(n - n_neg, len(positive))] + [(True, i) for i in deck(n_neg, len(negative))]
    order.shuffle(plan)
    samples = []
    for sid, (neg, ti) in enumerate(plan):
        text, gold, loc = fill((negative if neg else positive)[ti], filler)
        for g in gold:
            assert text[g.start:g.end] == g.value, (text, g)
        assert not (neg and gold)
        samples.append(Sample(sid, text, loc, ti, neg, gold))
    return samples


def build_heldout2(n: int = 1500, seed: int = SEED2) -> list[Sample]:
    """The second held-out set: bench/privacy/heldout2_templates.yaml filled like build_heldout, with
    its own seed (the name lists and value generators are the same)."""
    return build_heldout(n, seed, TEMPLATES2)


def build_heldout3(n: int = 1500, seed: int = SEED3) -> list[Sample]:
    """The third held-out set: bench/privacy/heldout3_templates.yaml filled like build_heldout, with
    its own seed (the name lists and value generators are the same)."""
    return build_heldout(n, seed, TEMPLATES3)


def build_heldout4(n: int = 1500, seed: int = SEED4) -> list[Sample]:
    """The fourth held-out set: bench/privacy/heldout4_templates.yaml filled like build_heldout, with
    its own seed (the name lists and value generators are the same)."""
    return build_heldout(n, seed, TEMPLATES4)


def heldout_info(samples: list[Sample], templates: Path | str = TEMPLATES) -> dict[str, Any]:
    """Counts for a report: texts, entities per type and kind, names per shape and source. `templates`
    is the file the samples were built from (for the template counts and the "how" line)."""
    positive, negative = load_heldout_templates(templates)
    golds = [g for s in samples for g in s.gold]
    persons = [g for g in golds if g.type == "PERSON"]
    shapes = Counter(g.kind.split(" | ")[0].replace(" +json-escaped", "") for g in persons)
    lower = sum(g.value == g.value.lower() and any(c.isalpha() for c in g.value) for g in persons)
    return {
        "synthetic": True,
        "how": f"bench/privacy/{Path(templates).name} filled by bench/privacy_bench/heldout.py: US Census names (package "
               "`names` 0.3.0) and Faker name lists of locales the project never used; pattern values generated with "
               "valid check digits; gold spans recorded at fill time",
        "texts": len(samples),
        "negative_texts": sum(s.negative for s in samples),
        "positive_templates": len(positive),
        "negative_templates": len(negative),
        "entities_per_type": dict(Counter(g.type for g in golds)),
        "entities_per_kind": dict(sorted(Counter(g.kind for g in golds if g.type != "PERSON").items())),
        "names_per_shape": dict(shapes.most_common()),
        "names_per_surname_style": dict(Counter(g.kind.split(" | ")[1] for g in persons).most_common()),
        "names_per_source": dict(Counter(g.locale for g in persons).most_common()),
        "names_json_escaped": sum("+json-escaped" in g.kind for g in persons),
        "names_lower_case_share": round(lower / len(persons), 4) if persons else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the counts and 10 examples of the first held-out set, or of another with --set 2 / 3 / 4."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("1", "2", "3", "4"), default="1", help="1: heldout_templates.yaml (seed 2026); "
                    "2: heldout2_templates.yaml (seed 2027); 3: heldout3_templates.yaml (seed 2028); 4: heldout4_templates.yaml "
                    "(seed 2029)")
    ap.add_argument("-n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    templates = {"2": TEMPLATES2, "3": TEMPLATES3, "4": TEMPLATES4}.get(args.set, TEMPLATES)
    seed = args.seed if args.seed is not None else {"2": SEED2, "3": SEED3, "4": SEED4}.get(args.set, 2026)
    samples = build_heldout(args.n, seed, templates)
    info = heldout_info(samples, templates)
    golds = [g for s in samples for g in s.gold]
    print(f"texts {info['texts']} (negative {info['negative_texts']}); templates {info['positive_templates']} positive, "
          f"{info['negative_templates']} negative; entities {len(golds)}")
    print("\nper type:")
    for t, c in sorted(info["entities_per_type"].items(), key=lambda x: -x[1]):
        print(f"  {t:15} {c}")
    print(f"\nPERSON: lower-case share {info['names_lower_case_share']}, JSON \\u-escaped {info['names_json_escaped']}")
    print("names per shape:")
    for k, c in info["names_per_shape"].items():
        print(f"  {k:28} {c}")
    print("names per surname style:")
    for k, c in info["names_per_surname_style"].items():
        print(f"  {k:28} {c}")
    print("names per source:")
    for k, c in info["names_per_source"].items():
        print(f"  {k:16} {c}")
    print("\nper kind (non-PERSON):")
    for k, c in info["entities_per_kind"].items():
        print(f"  {k:45} {c}")
    print("\nexamples:")
    for s in random.Random(1).sample(samples, 10):
        print(f"--- #{s.id} template {'neg' if s.negative else 'pos'}{s.template} source {s.locale}")
        print(s.text)
        for g in s.gold:
            print(f"    [{g.type}] {g.value!r}  ({g.kind})")


if __name__ == "__main__":
    main()
