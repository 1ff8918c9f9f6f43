"""The labelled set: support-ticket / chat-like texts from bench/privacy/templates.yaml filled with
Faker values (seeded), gold character spans recorded at fill time; and the ~1 KB texts built from it
for latency (labelled texts joined, or real review sentences with labelled texts inserted).

The generation is as first written (same templates, seed and counts): do not change it, or the
numbers stop being comparable with earlier runs.
"""

from __future__ import annotations

import importlib.metadata as md
import random
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from privacy_bench.common import CONF, KB_MAX, KB_MIN, LOCALES, ROOT, TYPES, BenchError

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


# ---------------------------------------------------------------------------- ~1 KB texts


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


def tagger_training_overlap(samples: list[Sample]) -> dict[str, Any]:
    """How much of this set's gold names the PERSON tagger could know by heart: the share of gold
    name tokens in its shipped gazetteer (names-dataset's given names and surnames ranked in the
    top 5,000 of some country). Its training names come from names-dataset too (every country,
    a third of them too rare for the gazetteer); its templates are its own."""
    from rightmodel.privacy.gazetteer import Gazetteer

    gazetteer = Gazetteer()
    names = [g.value for s in samples for g in s.gold if g.type == "PERSON"]
    toks = [[t for t in re.split(r"[\s,.-]+", v) if len(t) > 1] for v in names]
    known = [[sum(gazetteer.classes(t)[:2]) > 0 for t in ts] for ts in toks]
    return {
        "gold_names": len(names),
        "gold_name_tokens": sum(len(t) for t in toks),
        "gold_name_tokens_in_gazetteer": sum(sum(k) for k in known),
        "gold_names_all_tokens_in_gazetteer": sum(bool(k) and all(k) for k in known),
    }