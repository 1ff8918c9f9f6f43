"""A held-out labelled set for the privacy bench: templates and name lists that were NOT used to
develop the detector, filled with seeded values; gold character spans recorded at fill time.

- Templates: bench/privacy/heldout_templates.yaml (slot syntax documented at its top), written
  independently of bench/privacy/templates.yaml and of the detector.
- PERSON names: the US Census 1990 name lists shipped in the PyPI package `names` (0.3.0, MIT:
  dist.male.first, dist.female.first, dist.all.last), and Faker's name lists for locales the project
  has not used (read straight from Faker's providers, so Faker's own RNG plays no part). Each name
  is written in one of several shapes (First Last, first last, First M Last, First M. Last,
  Last, First, a given name alone, Title Surname, a surname alone, ALL CAPS; hyphenated and particle
  surnames; inside JSON with \\u00e9-style escapes); `Gold.kind` is
  "<shape>[ +json-escaped] | <surname style> | <source>", `Gold.locale` the source.
  Other types' `Gold.kind` says how the value was made ("card other len12 lead0 dots",
  "iban DE grouped lower", "phone IN mobile intl valid", "email f.last plus-tag subdomain", "ipv6 full").
- Phone numbers are kept to those libphonenumber (phonenumbers, a project dependency) calls valid for
  their country; the kind records it.
- Pattern types are generated here with correct check digits: Luhn-valid cards of 12-19 digits with
  any leading digit (compact, or grouped by spaces, dashes or dots); IBANs with valid mod-97 check
  digits for 24 countries (national check digits too for BE, ES, FR, IT, MC, NO), compact or grouped,
  some in lower case; US SSNs with valid area/group/serial numbers; phone numbers of 18 countries
  in national and international formats; e-mail addresses (plus-tags, subdomains, upper case);
  IPv4 and IPv6 addresses.
- Non-sensitive slots (order numbers, dates, amounts, versions, tracking ids...) are not gold; their
  long digit runs are kept Luhn-invalid so they cannot be card numbers.

Seeded and deterministic: build_heldout(n, seed) returns the same samples for the same inputs.
Run this file to print counts per type and per kind and 10 example texts.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `privacy_bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy_bench.common import CONF  # noqa: E402
from privacy_bench.dataset import Gold, Sample  # noqa: E402

TEMPLATES = CONF / "heldout_templates.yaml"
SLOT = re.compile(r"\{([A-Z][A-Z]*)([0-9]*)(?::([A-Za-z0-9_]+))?\}")
SLOT_TYPE = {"PERSON": "PERSON", "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "CARD": "CREDIT_CARD",
             "IBAN": "IBAN_CODE", "SSN": "US_SSN", "IP": "IP_ADDRESS"}
NEGATIVE_SHARE = 0.2

# Faker locales never used by the project so far, whose person lists are their own (not en_US
# fallbacks) and Latin-script. Weights: locales with only 20 names per list count half.
FAKER_LOCALES = ("en_IN", "en_NZ", "en_IE", "en_KE", "en_NG", "en_PK", "en_TH", "vi_VN", "et_EE", "lv_LV",
                 "zu_ZA", "de_CH", "de_AT", "fr_CH", "fr_BE", "fr_CA", "nl_BE", "es_MX", "es_AR", "es_CO",
                 "es_CL", "is_IS", "az_AZ", "uz_UZ", "yo_NG", "ig_NG", "ha_NG", "sw", "fr_DZ")
SMALL_LOCALES = {"en_NG", "ig_NG", "ha_NG"}
CENSUS_SHARE = 0.45

# Surname particles by source; a particle surname is drawn from these sources only.
PARTICLES = {
    "nl_BE": ("van", "van der", "van den", "van de", "de", "ter"),
    "es_MX": ("de la", "del", "de los", "de"), "es_AR": ("de la", "del", "de"), "es_CO": ("de la", "del", "de los"),
    "es_CL": ("de la", "del", "de"), "fr_CH": ("de", "du", "de la"), "fr_BE": ("de", "du", "des"),
    "fr_CA": ("de", "du", "de la"), "de_AT": ("von", "von der", "zu"), "de_CH": ("von", "von der"),
    "en_PK": ("bin", "binti"), "ha_NG": ("bin", "binti"), "fr_DZ": ("ben", "bin"),
    "census": ("van", "van der", "de la", "del", "von", "bin", "de"),
}
TITLES = {"m": ("Mr", "Mr.", "Mr", "Dr", "Dr.", "Prof."), "f": ("Ms", "Ms.", "Mrs", "Mrs.", "Miss", "Dr", "Dr.")}
INITIALS = "AAABBCCDDEEFGGHHJJKLLMMMNPRRSSTTW"

# name shapes: (label, form, case). The label, cased like the form, goes into Gold.kind.
SHAPES = {
    "First Last": ("full", "title"), "first last": ("full", "lower"), "FIRST LAST": ("full", "upper"),
    "First M Last": ("mi", "title"), "first m last": ("mi", "lower"), "First M. Last": ("mi_dot", "title"),
    "first m. last": ("mi_dot", "lower"), "Last, First": ("last_first", "title"), "LAST, FIRST": ("last_first", "upper"),
    "last, first": ("last_first", "lower"),
    "First": ("given", "title"), "first": ("given", "lower"), "FIRST": ("given", "upper"),
    "Title Last": ("title_last", "title"), "title last": ("title_last", "lower"),
    "Last": ("last", "title"), "last": ("last", "lower"), "LAST": ("last", "upper"),
}
SHAPE_WEIGHTS = {  # per slot hint
    "": {"First Last": 18, "first last": 20, "FIRST LAST": 5, "First M Last": 8, "first m last": 2,
         "First M. Last": 7, "Last, First": 6, "LAST, FIRST": 1, "First": 8, "first": 4, "Title Last": 8,
         "title last": 1, "Last": 5, "last": 2},
    "full": {"First Last": 28, "first last": 26, "FIRST LAST": 8, "First M Last": 11, "first m last": 2,
             "First M. Last": 10, "Last, First": 8, "LAST, FIRST": 2},
    "greet": {"First": 36, "first": 8, "Title Last": 30, "title last": 2, "First Last": 14, "first last": 10},
    "given": {"First": 78, "first": 17, "FIRST": 5},
    "sur": {"Title Last": 50, "title last": 5, "Last": 35, "last": 7, "LAST": 3},
    "last": {"Last": 82, "last": 10, "LAST": 8},
}
SURNAME_STYLE = (("plain", 0.82), ("hyphenated", 0.09), ("particle", 0.09))  # per identity

FREE_MAIL = ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de", "web.de",
             "hotmail.fr", "yahoo.co.in", "rediffmail.com", "xtra.co.nz", "eircom.net", "bluewin.ch", "orange.fr",
             "yahoo.com.mx", "gmx.at", "telenet.be", "zoho.com", "fastmail.com")
ORG_A = ("north", "blue", "bright", "green", "clear", "nova", "peak", "river", "stone", "silver", "true", "urban",
         "swift", "alpine", "harbor", "prime", "vector", "cedar", "delta", "lumen")
ORG_B = ("logistics", "labs", "media", "health", "works", "capital", "foods", "systems", "analytics", "design",
         "energy", "retail", "legal", "bank", "insure", "travel", "cloud", "learning", "robotics", "motors")
TLDS = ("com", "com", "com", "io", "co", "net", "org", "de", "ch", "at", "be", "ie", "co.nz", "com.au", "co.in", "co.za",
        "com.mx", "fr", "nl", "ee", "lv", "vn", "co.uk", "ca", "ng")
SUBDOMAINS = ("mail", "eu", "corp", "us", "staff", "students", "hq", "global", "uk", "apac")
TAGS = ("billing", "news", "shop", "work", "2024", "spam", "orders", "travel", "test", "dev")
ROLE_LOCALS = ("accounts.payable", "hr-team", "finance", "claims", "recruiting", "procurement", "dispatch")


# ---------------------------------------------------------------------------- helpers

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    """body + the check digit that makes it Luhn-valid."""
    for c in "0123456789":
        if luhn_ok(body + c):
            return body + c
    raise AssertionError(body)


def ascii_fold(s: str) -> str:
    special = {"ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ı": "i", "ə": "e", "Ə": "E",
               "æ": "ae", "Æ": "AE", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "œ": "oe"}
    s = "".join(special.get(c, c) for c in s)
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def _cap(word: str) -> str:
    """Census names are upper case: JOHNSON -> Johnson, MCDONALD -> McDonald, OCONNOR stays Oconnor."""
    w = word.capitalize()
    if w.startswith("Mc") and len(w) > 3:
        w = "Mc" + w[2:].capitalize()
    return w


def _latin(name: str) -> bool:
    return bool(name) and all(c in " -'" or (c.isalpha() and "LATIN" in unicodedata.name(c, "")) for c in name)


# ---------------------------------------------------------------------------- name sources

@dataclass
class NameList:
    male: list[str]
    female: list[str]
    last_m: list[str]
    last_f: list[str]
    male_w: list[float] | None = None  # census frequencies (None: uniform)
    female_w: list[float] | None = None
    last_w: list[float] | None = None


@lru_cache(maxsize=1)
def census_lists() -> NameList:
    spec = importlib.util.find_spec("names")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the `names` package (names==0.3.0, requirements-dev.txt) is not installed")
    base = Path(list(spec.submodule_search_locations)[0])

    def read(fname: str) -> tuple[list[str], list[float]]:
        out, w = [], []
        for line in (base / fname).read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isalpha():
                out.append(_cap(parts[0]))
                w.append(max(float(parts[1]), 0.0005))  # the tail's 0.000 rounded frequencies still count
        return out, w

    m, mw = read("dist.male.first")
    f, fw = read("dist.female.first")
    last, lw = read("dist.all.last")
    return NameList(m, f, last, last, mw, fw, lw)


@lru_cache(maxsize=None)
def faker_lists(loc: str) -> NameList:
    from faker import Faker

    p = Faker(loc).provider("faker.providers.person")

    def get(*attrs: str) -> list[str]:
        for a in attrs:
            v = getattr(p, a, None)
            if v:
                vals = [str(x).strip() for x in (v.keys() if isinstance(v, dict) else v)]
                vals = [x for x in dict.fromkeys(vals) if _latin(x) and len(x) > 1]
                if vals:
                    return vals
        raise RuntimeError(f"Faker {loc}: none of {attrs}")

    male = get("first_names_male", "first_names")
    female = get("first_names_female", "first_names")
    if loc == "is_IS":  # patronymics: father's name (genitive) + son / dóttir
        stems = get("last_names_without_suffix")
        return NameList(male, female, [s + "son" for s in stems], [s + "dóttir" for s in stems])
    if loc == "en_TH" or loc == "en_PK":
        last = get("last_names")
        return NameList(male, female, last, last)
    return NameList(male, female, get("last_names_male", "last_names"), get("last_names_female", "last_names"))


@dataclass
class Identity:
    given: str
    last: str  # with its particle / hyphenated second part
    gender: str  # "m" / "f"
    initial: str
    source: str  # "census" or "faker:<locale>"
    style: str  # plain / hyphenated / particle
    title: str


class Names:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.census = census_lists()
        self.locales = list(FAKER_LOCALES)
        self.loc_w = [0.5 if loc in SMALL_LOCALES else 1.0 for loc in self.locales]

    def _pick(self, pool: list[str], weights: list[float] | None) -> str:
        r = self.rng
        if weights is not None and r.random() < 0.5:  # half by census frequency, half uniform (the long tail)
            return r.choices(pool, weights=weights)[0]
        return r.choice(pool)

    def _source(self, style: str) -> str:
        r = self.rng
        if style == "particle":
            return r.choice(sorted(PARTICLES))
        if r.random() < CENSUS_SHARE:
            return "census"
        return r.choices(self.locales, weights=self.loc_w)[0]

    def identity(self, want_non_ascii: bool = False) -> Identity:
        r = self.rng
        style = r.choices([s for s, _ in SURNAME_STYLE], weights=[w for _, w in SURNAME_STYLE])[0]
        for _ in range(12):
            src = self._source(style)
            nl = self.census if src == "census" else faker_lists(src)
            gender = r.choice("mf")
            given = self._pick(nl.male if gender == "m" else nl.female, nl.male_w if gender == "m" else nl.female_w)
            lasts = nl.last_m if gender == "m" else nl.last_f
            last = self._pick(lasts, nl.last_w)
            if style == "hyphenated":
                last = f"{last}-{self._pick(lasts, nl.last_w)}"
            elif style == "particle":
                particle = r.choice(PARTICLES[src])
                if particle in ("bin", "binti", "ben"):
                    particle = particle if particle == "ben" else ("binti" if gender == "f" else "bin")
                    last = f"{particle} {self._pick(nl.male, nl.male_w)}"  # the father's given name
                else:
                    for p in ("Van ", "De ", "Von "):  # Flemish lists already carry capitalised particles
                        if last.startswith(p):
                            last = last[len(p):]
                    last = f"{particle} {last}"
            ident = Identity(given, last, gender, r.choice(INITIALS), "census" if src == "census" else f"faker:{src}",
                             style, r.choice(TITLES[gender]))
            if not want_non_ascii or not (given + last).isascii():
                return ident
        return ident

    @staticmethod
    def render(ident: Identity, label: str) -> tuple[str, int, int]:
        """(inserted text, gold start, gold end) for an identity written in a shape."""
        form, case = SHAPES[label]
        g, la = ident.given, ident.last
        title = ""
        if form == "full":
            v = f"{g} {la}"
        elif form == "mi":
            v = f"{g} {ident.initial} {la}"
        elif form == "mi_dot":
            v = f"{g} {ident.initial}. {la}"
        elif form == "last_first":
            v = f"{la}, {g}"
        elif form == "given":
            v = g
        elif form == "title_last":
            title, v = ident.title, la
        else:
            v = la
        if case == "lower":
            v, title = v.lower(), title.lower()
        elif case == "upper":
            v, title = v.upper(), title.upper()
        if title:
            return f"{title} {v}", len(title) + 1, len(title) + 1 + len(v)
        return v, 0, len(v)


def person_kind(label: str, ident: Identity, escaped: bool) -> str:
    """Gold.kind of a name: "<shape>[ +json-escaped] | <surname style> surname | <source>", e.g.
    "First M Last | particle surname | faker:nl_BE". A given name alone has no surname ("-")."""
    style = "-" if SHAPES[label][0] == "given" else f"{ident.style} surname"
    return f"{label}{' +json-escaped' if escaped else ''} | {style} | {ident.source}"


# ---------------------------------------------------------------------------- pattern values

PHONE_FORMATS: dict[str, list[tuple[str, str]]] = {
    # country: [(format, label)]; in formats: N = random digit, Z = digit 2-9, other characters literal
    "US": [("(ZNN) ZNN-NNNN", "national parens"), ("ZNN-ZNN-NNNN", "national dashes"), ("ZNN.ZNN.NNNN", "national dots"),
           ("+1 ZNN ZNN NNNN", "intl spaces"), ("+1-ZNN-ZNN-NNNN", "intl dashes"), ("1 (ZNN) ZNN-NNNN", "trunk parens"),
           ("ZNNZNNNNNN", "national compact")],
    "CA": [("(ZNN) ZNN-NNNN", "national parens"), ("+1 ZNN-ZNN-NNNN", "intl")],
    "GB": [("07ZNN NNNNNN", "mobile national"), ("+44 7ZNN NNNNNN", "mobile intl"),
           ("+44 (0)7ZNN NNNNNN", "mobile intl (0)"),
           ("020 7NNN NNNN", "london national"), ("+44 20 3NNN NNNN", "london intl"), ("0161 ZNN NNNN", "geo national")],
    "DE": [("0151 NNNNNNNN", "mobile national"), ("+49 171 NNNNNNN", "mobile intl"),
           ("+49 (0)30 ZNNNNNNN", "berlin intl (0)"),
           ("030/ZNNNNNNN", "slash national"), ("0049 89 ZNNNNNN", "00 prefix")],
    "FR": [("06 NN NN NN NN", "mobile national"), ("+33 6 NN NN NN NN", "mobile intl"),
           ("+33 (0)1 ZN NN NN NN", "paris intl (0)"),
           ("07.NN.NN.NN.NN", "mobile dots"), ("06NNNNNNNN", "mobile compact")],
    "IN": [("+91 9NNNN NNNNN", "mobile intl"), ("09NNNN NNNNN", "mobile national"), ("98NNN-NNNNN", "mobile dash"),
           ("+91-8NNNNNNNNN", "mobile intl compact")],
    "AU": [("04NN NNN NNN", "mobile national"), ("+61 4NN NNN NNN", "mobile intl"), ("(02) 9NNN NNNN", "sydney national")],
    "NZ": [("021 NNN NNNN", "mobile national"), ("+64 21 NNN NNNN", "mobile intl"), ("(09) 3NN NNNN", "geo national")],
    "IE": [("087 NNN NNNN", "mobile national"), ("+353 87 NNN NNNN", "mobile intl"), ("+353 1 ZNN NNNN", "dublin intl")],
    "ZA": [("082 NNN NNNN", "mobile national"), ("+27 82 NNN NNNN", "mobile intl"), ("+27 (0)21 NNN NNNN", "geo intl (0)")],
    "NG": [("0803 NNN NNNN", "mobile national"), ("+234 803 NNN NNNN", "mobile intl"), ("+23480NNNNNNNN", "e164")],
    "MX": [("+52 55 NNNN NNNN", "intl"), ("55 NNNN NNNN", "national"), ("+52 (33) NNNN-NNNN", "intl parens")],
    "BR": [("+55 11 9NNNN-NNNN", "mobile intl"), ("(11) 9NNNN-NNNN", "mobile national")],
    "NL": [("06-NNNNNNNN", "mobile national"), ("+31 6 NNNNNNNN", "mobile intl"), ("020 ZNN NNNN", "geo national")],
    "CH": [("+41 79 NNN NN NN", "mobile intl"), ("079 NNN NN NN", "mobile national"), ("+41 44 ZNN NN NN", "geo intl")],
    "PH": [("+63 917 NNN NNNN", "mobile intl"), ("0917 NNN NNNN", "mobile national")],
    "JP": [("090-NNNN-NNNN", "mobile national"), ("+81 90-NNNN-NNNN", "mobile intl"), ("03-ZNNN-NNNN", "tokyo national")],
    "SG": [("+65 8NNN NNNN", "mobile intl"), ("9NNN NNNN", "mobile national")],
}
PHONE_COUNTRY_W = {"US": 14, "GB": 9, "DE": 7, "FR": 6, "IN": 8, "AU": 6, "NZ": 4, "IE": 4, "ZA": 4, "NG": 4, "MX": 4,
                   "BR": 3, "NL": 4, "CH": 4, "PH": 4, "JP": 3, "SG": 3, "CA": 3}

# IBAN BBAN layouts (ISO 13616 registry): n digits, a upper letters, c alphanumerics (drawn mostly digits)
IBAN_SPECS = {"DE": "8n10n", "GB": "4a6n8n", "FR": "5n5n11c2n", "ES": "4n4n1n1n10n", "IT": "1a5n5n12c", "NL": "4a10n",
              "BE": "3n7n2n", "CH": "5n12c", "AT": "5n11n", "IE": "4a6n8n", "LU": "3n13c", "PL": "8n16n",
              "PT": "4n4n11n2n", "SE": "3n16n1n", "NO": "4n6n1n", "DK": "4n9n1n", "FI": "3n11n", "EE": "2n2n11n1n",
              "LV": "4a13c", "LT": "5n11n", "MC": "5n5n11c2n", "SA": "2n18c", "AE": "3n16n", "TR": "5n1n16c"}
BANK_CODES = {"GB": ("NWBK", "BARC", "LOYD", "HBUK", "MIDL", "MONZ"), "IE": ("AIBK", "BOFI", "IPBS"),
              "NL": ("ABNA", "INGB", "RABO", "TRIO", "SNSB", "BUNQ"), "LV": ("HABA", "UNLA", "PARX")}


def _iban_check(cc: str, bban: str) -> str:
    num = "".join(str(int(c, 36)) for c in (bban + cc + "00").upper())
    return f"{98 - int(num) % 97:02d}"


def _es_dc(bank_branch: str, account: str) -> str:
    def dc(digits: str, weights: tuple[int, ...]) -> str:
        v = 11 - sum(int(d) * w for d, w in zip(digits, weights)) % 11
        return str({11: 0, 10: 1}.get(v, v))
    return dc(bank_branch, (4, 8, 5, 10, 9, 7, 3, 6)) + dc(account, (1, 2, 4, 8, 5, 10, 9, 7, 3, 6))


def _it_cin(rest: str) -> str:
    odd = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21)
    total = sum((odd[int(c)] if i % 2 == 0 else int(c)) for i, c in enumerate(rest))  # digits only
    return chr(65 + total % 26)


def make_iban(cc: str, r: random.Random) -> str:
    def field(n: int, cls: str) -> str:
        if cls == "a":
            return "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))
        if cls == "c" and r.random() < 0.15:
            return "".join(r.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(n))
        return "".join(r.choice("0123456789") for _ in range(n))

    parts = [field(int(n), cls) for n, cls in re.findall(r"(\d+)([nac])", IBAN_SPECS[cc])]
    if cc in BANK_CODES:
        parts[0] = r.choice(BANK_CODES[cc])
    if cc == "BE":  # bank codes from issued ranges; national check = first 10 digits mod 97
        parts[0] = f"{r.choice([r.randint(0, 99), r.randint(300, 399), r.randint(730, 759)]):03d}"
        parts[2] = f"{int(parts[0] + parts[1]) % 97 or 97:02d}"
    elif cc == "NO":  # mod-11 check digit of the 11-digit account number (accounts giving 10 are not issued)
        while True:
            body = parts[0] + parts[1]
            c = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))) % 11
            if c != 10:
                parts[2] = str(c % 11)
                break
            parts[1] = "".join(r.choice("0123456789") for _ in range(6))
    elif cc in ("FR", "MC"):  # RIB key over bank, branch and an all-digit account number
        parts[2] = "".join(r.choice("0123456789") for _ in range(11))
        key = 97 - (89 * int(parts[0]) + 15 * int(parts[1]) + 3 * int(parts[2])) % 97
        parts[3] = f"{key:02d}"
    elif cc == "ES":
        dcs = _es_dc(parts[0] + parts[1], parts[4])
        parts[2], parts[3] = dcs[0], dcs[1]
    elif cc == "IT":
        parts[3] = "".join(r.choice("0123456789") for _ in range(12))
        parts[0] = _it_cin(parts[1] + parts[2] + parts[3])
    bban = "".join(parts)
    iban = cc + _iban_check(cc, bban) + bban
    assert _iban_check(iban[:2], iban[4:]) == iban[2:4]
    return iban


# card prefixes: (brand, prefixes, lengths)
CARD_BRANDS = (
    ("visa", ("4",), (13, 16, 16, 16, 19)),
    ("mastercard", ("51", "52", "53", "54", "55", "2221", "2720", "23", "26"), (16,)),
    ("amex", ("34", "37"), (15,)), ("discover", ("6011", "644", "65"), (16, 19)),
    ("jcb", ("3528", "3555", "3589"), (16, 17, 18, 19)),
    ("diners", ("300", "305", "36", "38"), (14,)), ("unionpay", ("62",), (16, 17, 18, 19)),
    ("maestro", ("50", "56", "58", "6304", "67"), (12, 13, 15, 16, 18, 19)), ("mir", ("2200", "2204"), (16,)),
)


def _groups(n: int, brand: str) -> list[int]:
    if brand == "amex" or (n == 15 and brand == "other15"):
        return [4, 6, 5]
    if brand == "diners" and n == 14:
        return [4, 6, 4]
    out = [4] * (n // 4)
    if n % 4:
        out.append(n % 4)
    return out


# ---------------------------------------------------------------------------- the filler

class HeldoutFiller:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names = Names(random.Random(seed + 7))

    # e-mail --------------------------------------------------------------
    def email(self, ident: Identity | None, lower: bool) -> tuple[str, str]:
        r = self.rng
        kind = []
        if ident is None:
            if r.random() < 0.1:
                local, kind = r.choice(ROLE_LOCALS), ["role"]
            else:
                ident = self.names.identity()
        if ident is not None:
            g = re.sub(r"[^a-z]", "", ascii_fold(ident.given).lower().split()[0]) or "x"
            parts = ascii_fold(ident.last).lower().replace("'", "").split()
            la = re.sub(r"[^a-z-]", "", "".join(parts)) or "x"
            style = r.choices(["first.last", "firstlast", "f.last", "flast", "first_last", "first", "last.first",
                               "first-last", "firstNN", "flastNN"], weights=[26, 10, 10, 12, 6, 6, 5, 5, 10, 10])[0]
            nn = str(r.randint(1, 99)) if r.random() < 0.6 else str(r.randint(1960, 2005))
            local = {"first.last": f"{g}.{la}", "firstlast": g + la.replace("-", ""), "f.last": f"{g[0]}.{la}",
                     "flast": g[0] + la.replace("-", ""), "first_last": f"{g}_{la}", "first": g,
                     "last.first": f"{la}.{g}", "first-last": f"{g}-{la}", "firstNN": g + nn,
                     "flastNN": g[0] + la.replace("-", "") + nn}[style]
            kind = [style.replace("NN", "+digits")]
        if r.random() < 0.12:
            local += "+" + r.choice(TAGS)
            kind.append("plus-tag")
        if r.random() < 0.45:
            domain = r.choice(FREE_MAIL)
            kind.append("freemail")
        else:
            domain = f"{r.choice(ORG_A)}{r.choice(['', '-'])}{r.choice(ORG_B)}.{r.choice(TLDS)}"
            if r.random() < 0.25:
                domain = f"{r.choice(SUBDOMAINS)}.{domain}"
                kind.append("subdomain")
            else:
                kind.append("org")
        v = f"{local}@{domain}"
        x = r.random()
        if not lower and x < 0.07:
            v = v.upper()
            kind.append("UPPER")
        elif not lower and x < 0.13 and ident is not None:
            v = re.sub(r"(^|[._-])([a-z])", lambda m: m.group(1) + m.group(2).upper(), local) + "@" + domain
            kind.append("Capitalised")
        return v, "email " + " ".join(kind)

    # phone ---------------------------------------------------------------
    def phone(self) -> tuple[str, str, str]:
        r = self.rng
        cc = r.choices(list(PHONE_COUNTRY_W), weights=list(PHONE_COUNTRY_W.values()))[0]
        fmt, label = r.choice(PHONE_FORMATS[cc])
        for _ in range(60):  # numbers valid in the country's numbering plan (libphonenumber's metadata)
            v = "".join(r.choice("0123456789") if c == "N" else r.choice("23456789") if c == "Z" else c for c in fmt)
            valid = _phone_valid(v, cc)
            if valid == "valid":
                break
        return v, f"phone {cc} {label} {valid}", cc

    # card ----------------------------------------------------------------
    def card(self) -> tuple[str, str]:
        r = self.rng
        if r.random() < 0.4:  # any length 12-19, any leading digit (those no major brand uses count double)
            n = r.choices(range(12, 20), weights=(2, 1, 1, 1, 1, 1, 1, 1))[0]
            lead = r.choices("0123456789", weights=(2, 2, 1, 1, 1, 1, 1, 2, 2, 2))[0]
            brand, prefix = "other", lead
        else:
            brand, prefixes, lengths = r.choice(CARD_BRANDS)
            prefix, n = r.choice(prefixes), r.choice(lengths)
        body = prefix + "".join(r.choice("0123456789") for _ in range(n - len(prefix) - 1))
        digits = luhn_complete(body)
        assert luhn_ok(digits) and len(digits) == n
        fmt = r.choices(["compact", "spaces", "dashes", "dots"], weights=[38, 32, 18, 12])[0]
        if fmt == "compact":
            v = digits
        else:
            sep = {"spaces": " ", "dashes": "-", "dots": "."}[fmt]
            out, i = [], 0
            for g in _groups(n, brand):
                out.append(digits[i:i + g])
                i += g
            v = sep.join(out)
        return v, f"card {brand} len{n} lead{digits[0]} {fmt}"

    # iban ----------------------------------------------------------------
    def iban(self, lower_template: bool) -> tuple[str, str, str]:
        r = self.rng
        cc = r.choice(sorted(IBAN_SPECS))
        v = make_iban(cc, r)
        grouped = r.random() < 0.5
        if grouped:
            v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        low = r.random() < (0.5 if lower_template else 0.15)
        if low:
            v = v.lower()
        return v, f"iban {cc} {'grouped' if grouped else 'compact'}{' lower' if low else ''}", cc

    # ssn -----------------------------------------------------------------
    def ssn(self) -> tuple[str, str]:
        r = self.rng
        area = r.choice([a for a in range(1, 900) if a != 666])
        grp, serial = r.randint(1, 99), r.randint(1, 9999)
        sep = r.choices(["-", " "], weights=[70, 30])[0]
        return f"{area:03d}{sep}{grp:02d}{sep}{serial:04d}", f"ssn {'dashes' if sep == '-' else 'spaces'}"

    # ip ------------------------------------------------------------------
    def ip(self, hint: str | None) -> tuple[str, str]:
        r = self.rng
        v6 = hint == "v6" or (hint != "v4" and r.random() < 0.3)
        if not v6:
            x = r.random()
            if x < 0.25:
                v = r.choice([f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                              f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
                              f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}"])
                return v, "ipv4 private"
            while True:
                a = r.randint(1, 223)
                if a not in (10, 127, 172, 192):
                    break
            return f"{a}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}", "ipv4 public"
        x = r.random()
        if x < 0.2:
            addr = ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + [r.getrandbits(8) for _ in range(8)]))
            v, k = addr.compressed, "ipv6 link-local"
        else:
            prefix = r.choice([0x2001, 0x2a02, 0x2a00, 0x2600, 0x2406, 0x2c0f, 0x2804])
            groups = [prefix] + [r.getrandbits(16) for _ in range(3)]
            if r.random() < 0.5:
                groups += [0, 0, 0, r.getrandbits(16)]  # an interface id with zero runs, compressible
            else:
                groups += [r.getrandbits(16) for _ in range(4)]
            addr = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
            if r.random() < 0.3:
                v, k = addr.exploded, "ipv6 full"
            else:
                v, k = addr.compressed, "ipv6 compressed"
        if r.random() < 0.2:
            v, k = v.upper(), k + " upper"
        return v, k

    # non-sensitive -------------------------------------------------------
    def plain(self, base: str) -> str:
        for _ in range(50):
            v = self._plain(base)
            if _plain_ok(v):
                return v
        raise AssertionError(base)

    def _plain(self, base: str) -> str:
        r = self.rng
        d = lambda n: "".join(r.choice("0123456789") for _ in range(n))  # noqa: E731
        up = lambda n: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(n))  # noqa: E731
        hexs = lambda n: "".join(r.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
        mon = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
        months = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                  "November", "December")
        y, m, day = r.randint(2020, 2026), r.randint(1, 12), r.randint(1, 28)
        hh, mm, ss = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
        if base == "ORDER":
            return r.choice([f"#{d(7)}", f"A{d(8)}", f"ORD-{y}-{d(5)}", f"{d(3)}-{d(7)}-{d(7)}", f"{up(2)}{d(8)}",
                             f"SO{d(6)}", f"{d(11)}"])
        if base == "INVOICE":
            return r.choice([f"INV-{y}-{d(5)}", f"RE-{d(5)}", f"{y}/{d(4)}", f"F{y}{d(6)}"])
        if base == "TICKET":
            return r.choice([f"TCK-{d(5)}", f"INC{d(7)}", f"#{d(5)}", f"SUP-{d(4)}", f"{up(3)}-{d(4)}"])
        if base == "TRACKING":
            return r.choice([f"1Z{up(3)}{d(3)}{d(10)}", f"JJD{d(16)}", " ".join(d(4) for _ in range(5)) + f" {d(2)}",
                             f"{up(2)}{d(9)}{up(2)}", f"{d(22)}"])
        if base == "SKU":
            return r.choice([f"SKU-{d(4)}-{up(2)}", f"B0{d(1)}{up(1)}{d(1)}{up(5)}", f"{up(3)}-{d(2)}",
                             f"{up(2)}{d(5)}-{up(1)}"])
        if base == "DATE":
            return r.choice([f"{y}-{m:02d}-{day:02d}", f"{day:02d}/{m:02d}/{y}", f"{m}/{day}/{y}", f"{day:02d}.{m:02d}.{y}",
                             f"{months[m - 1]} {day}, {y}", f"{day} {mon[m - 1]} {y}", f"{months[m - 1]} {day}"])
        if base == "TIME":
            return r.choice([f"{hh:02d}:{mm:02d}", f"{r.randint(1, 12)}:{mm:02d} {r.choice(['AM', 'PM', 'am', 'pm'])}",
                             f"{r.randint(1, 12)}{r.choice(['am', 'pm'])}", f"{hh:02d}:{mm:02d}:{ss:02d}"])
        if base == "TIMESTAMP":
            return r.choice([f"{y}-{m:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
                             f"{y}-{m:02d}-{day:02d} {hh:02d}:{mm:02d}:{ss:02d},{d(3)}",
                             f"{day:02d}/{mon[m - 1]}/{y}:{hh:02d}:{mm:02d}:{ss:02d} +0000",
                             f"{y}-{m:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{d(6)}+00:00"])
        if base == "AMOUNT":
            return r.choice([f"${r.randint(1, 4999):,}.{d(2)}", f"€{r.randint(1, 999)},{d(2)}",
                             f"£{r.randint(1, 999)}.{d(2)}", f"{r.randint(1, 9)}.{d(3)},{d(2)} EUR",
                             f"USD {r.randint(10, 9999)}", f"CHF {r.randint(1, 9)}'{d(3)}.00",
                             f"₹{r.randint(1, 99)},{d(3)}", f"R {r.randint(1, 9)} {d(3)},{d(2)}",
                             f"{r.randint(5, 900)}.{d(2)} NZD"])
        if base == "QTY":
            return str(r.randint(2, 480))
        if base == "VERSION":
            return r.choice([f"{r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 20)}",
                             f"v{r.randint(1, 12)}.{r.randint(0, 9)}.{r.randint(0, 9)}", f"{y}.{m}.{r.randint(0, 9)}",
                             f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}-beta.{r.randint(1, 5)}"])
        if base == "BUILD":
            return r.choice([f"{y}{m:02d}{day:02d}.{r.randint(1, 9)}", f"#{d(4)}", f"b{d(5)}"])
        if base == "UUID":
            return f"{hexs(8)}-{hexs(4)}-4{hexs(3)}-{r.choice('89ab')}{hexs(3)}-{hexs(12)}"
        if base == "HASH":
            return hexs(40)
        if base == "REQID":
            return r.choice([f"req_{hexs(16)}", f"{hexs(8)}-{hexs(4)}", f"R-{up(3)}{d(5)}"])
        if base == "PORT":
            return str(r.choice([443, 8080, 8443, 5432, 6379, 9200, 3000, r.randint(1024, 65535)]))
        if base == "ERRCODE":
            return r.choice([f"ERR_{up(4)}_{d(3)}", f"0x{r.getrandbits(32):08X}", f"E{d(4)}", f"AUTH-{d(3)}"])
        if base == "DURATION":
            return r.choice([f"{r.randint(1, 9)}.{d(2)}s", f"{r.randint(3, 990)}ms",
                             f"{r.randint(1, 59)}m {r.randint(1, 59)}s"])
        if base == "PERCENT":
            return r.choice([f"{r.randint(0, 9)}.{r.randint(0, 9)}%", f"{r.randint(10, 99)}%"])
        if base == "ENDING":
            return d(4)
        raise KeyError(base)


def _plain_ok(v: str) -> bool:
    """A non-sensitive value must not be a Luhn-valid 12-19-digit run or look like an SSN."""
    if re.search(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b", v):
        return False
    runs = re.findall(r"\d+", v) + ["".join(re.findall(r"\d", v))]
    return not any(12 <= len(x) <= 19 and luhn_ok(x) for x in runs)


def _phone_valid(v: str, cc: str) -> str:
    import phonenumbers

    try:
        return "valid" if phonenumbers.is_valid_number(phonenumbers.parse(v, cc)) else "invalid"
    except phonenumbers.NumberParseException:
        return "invalid"


# ---------------------------------------------------------------------------- templates and filling

@dataclass
class Template:
    text: str
    flags: frozenset[str]


def load_heldout_templates() -> tuple[list[Template], list[Template]]:
    import yaml

    data = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))

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


def build_heldout(n: int = 1500, seed: int = 2026) -> list[Sample]:
    """n labelled texts (NEGATIVE_SHARE of them with no sensitive data), seeded; every template used
    about equally often. Sample.locale is the source of the text's first name ("census",
    "faker:<locale>") or "-"; Sample.template indexes the positive or negative list."""
    positive, negative = load_heldout_templates()
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


def heldout_info(samples: list[Sample]) -> dict[str, Any]:
    """Counts for a report: texts, entities per type and kind, names per shape and source."""
    positive, negative = load_heldout_templates()
    golds = [g for s in samples for g in s.gold]
    persons = [g for g in golds if g.type == "PERSON"]
    shapes = Counter(g.kind.split(" | ")[0].replace(" +json-escaped", "") for g in persons)
    lower = sum(g.value == g.value.lower() and any(c.isalpha() for c in g.value) for g in persons)
    return {
        "synthetic": True,
        "how": "bench/privacy/heldout_templates.yaml filled by bench/privacy_bench/heldout.py: US Census names (package "
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


def main() -> None:
    samples = build_heldout()
    info = heldout_info(samples)
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
