"""PERSON recall on a development set kept apart from bench/privacy.py's templates.

    .venv/bin/python bench/privacy_dev.py

20 templates of its own (support-ticket sentences, lists, JSON, sign-offs), Faker names in the
same 7 locales as bench/privacy.py, 700 texts (844 names), seed 11. Strict: every letter and
digit of the name as Faker wrote it, titles and degrees included (stricter than the bench, whose
gold spans leave them out), inside PERSON spans. Used while building the PERSON tagger, so the
bench's own set was not the only thing it was tuned against; prints spaCy-only vs the default.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TEMPLATES = [
    "Hello, this is {P} and I have a question about my last statement.",
    "{P} says the transfer never arrived.",
    "Can you check why {P}'s card was blocked?",
    "I spoke with {P} from your team yesterday and she promised a refund.",
    "Account holder: {P}\nReason: dispute",
    "The package was signed for by {P}, but I never got it.",
    "Regards,\n{P}",
    "Please add {P} as a second cardholder.",
    "My husband {P} can't log in.",
    "cc: {P}, {P2}",
    "According to {P}, the fee should have been waived.",
    "{P} and {P2} both need access to the joint account.",
    "Beneficiary name: {P}; amount 250 EUR.",
    "Why did you send my PIN to {P}?",
    "Thanks {P}, that solved it!",
    '{{"name": "{P}", "status": "active"}}',
    "- {P} (manager)\n- {P2} (assistant)",
    "I am writing on behalf of my mother, {P}, who is in hospital.",
    "Transfer from {P} to {P2} is still pending.",
    "Is {P} allowed to withdraw cash from my account?",
]
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]


def build(n: int = 700, seed: int = 11, shape: str = "as written") -> list[tuple[str, list[tuple[int, int, str]]]]:
    """`shape`: names as Faker writes them ("as written", 60% first + last, else name() with its
    titles), or the same people as "lower case" (first + last), "given name" or "surname" alone."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for loc, f in fakers.items():
        f.seed_instance(seed + sum(map(ord, loc)))
    out = []
    for _ in range(n):
        loc = rng.choice(LOCALES)
        f = fakers[loc]

        def name() -> str:
            full = f"{f.first_name()} {f.last_name()}" if rng.random() < 0.6 else f.name()
            if shape == "as written":
                return full
            first, last = f.first_name(), f.last_name()
            return {"lower case": f"{first} {last}".lower(), "given name": first, "surname": last}[shape]

        names = {"P": name(), "P2": name()}
        parts = rng.choice(TEMPLATES).replace("{{", "\x01").replace("}}", "\x02").split("{")
        text, golds = parts[0], []
        for part in parts[1:]:
            key, rest = part.split("}", 1)
            golds.append((len(text), len(text) + len(names[key]), loc))
            text += names[key] + rest
        out.append((text.replace("\x01", "{").replace("\x02", "}"), golds))
    return out


def recall(detect, data) -> tuple[float, dict[str, float]]:
    hits, by = 0, {}
    for text, golds in data:
        people = [e for e in detect(text) if e.type == "PERSON"]
        for start, end, loc in golds:
            ok = all(any(e.start <= i < e.end for e in people) for i in range(start, end) if text[i].isalnum())
            hits += ok
            by.setdefault(loc, []).append(ok)
    total = sum(len(v) for v in by.values())
    return hits / total, {k: round(sum(v) / len(v), 3) for k, v in sorted(by.items())}


def main() -> None:
    from rightmodel.privacy.config import PrivacyConfig
    from rightmodel.privacy.detector import Detector

    default = Detector(PrivacyConfig())
    data = build()
    for label, detector in (("spaCy names only", Detector(PrivacyConfig(name_tagger=False))), ("default (spaCy + tagger)", default)):
        r, by = recall(detector.detect, data)
        print(f"{label:<26} PERSON strict recall {r:.3f}  {by}")
    for shape in ("lower case", "given name", "surname"):  # the same templates and seed, other shapes (default detector)
        r, by = recall(default.detect, build(shape=shape))
        print(f"default, names {shape:<11} PERSON strict recall {r:.3f}  {by}")


if __name__ == "__main__":
    main()
