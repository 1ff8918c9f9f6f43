"""PERSON names for the held-out privacy set (heldout.py): where the names come from and how each is
written. Split out of heldout.py (which had grown past the 600-line module limit) because the
name sources and shapes are a unit of their own, used both by heldout.py's template filling and by
heldout_values.py (e-mail local parts are built from a person's name).

- Sources: the US Census 1990 name lists shipped in the PyPI package `names` (0.3.0, MIT:
  dist.male.first, dist.female.first, dist.all.last), and Faker's name lists for locales the project
  has not used (read straight from Faker's providers, so Faker's own RNG plays no part).
- An Identity (given name, surname, gender, initial, title, source, surname style: plain /
  hyphenated / particle) is drawn by Names; Names.render writes it in one of several shapes
  (First Last, first last, First M Last, First M. Last, Last, First, a given name alone,
  Title Surname, a surname alone, ALL CAPS); person_kind gives its `Gold.kind`,
  "<shape>[ +json-escaped] | <surname style> | <source>".
"""

from __future__ import annotations

import importlib.util
import random
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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


# ---------------------------------------------------------------------------- helpers

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
        raise RuntimeError("the `names` package (names==0.3.0, the [dev] extra) is not installed")
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

