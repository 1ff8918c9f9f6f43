"""Validated pattern recognizers: a loose regex finds candidates, a checksum or a registry decides.

Candidates are deliberately loose (any issuer prefix, any case, the separators people type) and
validation is what makes them precise: Luhn for cards and the IBAN registry's per-country format
plus mod-97 (both python-stdnum), the public-suffix list for e-mail domains (tldextract's bundled
snapshot), the SSA's never-issued SSN numbers, and the standard library's `ipaddress` for IPs.

Each recognizer costs one regex scan of the text plus one validation per candidate; none reads
more than a bounded window around a candidate, so the whole scan stays linear in text length.
The scans start with a character class (a digit, a letter), never with a lookbehind: Python's
regex engine then skips in C to where that class matches instead of starting a match attempt at
every character (on a megabyte of prose, ~0.2 s per pattern otherwise). So "not after a digit"
is written after the first character, as a lookbehind two characters wide.
These replace presidio-analyzer's recognizers: presidio imports spaCy (and spaCy's thinc imports
torch where it is installed), which cost the server ~200 MB and seconds at start.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol

from rightmodel.privacy.config import CustomEntity
from rightmodel.privacy.entities import Entity

VALIDATED = 1.0  # a candidate a checksum or registry confirmed


class Recognizer(Protocol):
    """One entity type: `hint` is a cheap test that must match somewhere for `find` to find anything."""

    entity_type: str
    hint: re.Pattern[str]

    def find(self, text: str) -> Iterator[Entity]: ...


# E-mail: no "/" in the local part (RFC 5322 allows it, but "Porter/troy91@example.net" in a
# path is a path); the domain needs a dot and ends at a word character.
_EMAIL = re.compile(r"(?<![\w.+'%-])[\w.+'%-]+@([\w-]+(?:\.[\w-]+)+)\b")


def patch_tldextract_offline() -> None:
    """tldextract fetches the public-suffix list over the network on first use; use the snapshot
    bundled with it instead (serving must never reach the network for this)."""
    import tldextract.tldextract as tld

    if tld.TLD_EXTRACTOR.suffix_list_urls:
        tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


@lru_cache(maxsize=8192)
def _has_public_suffix(domain: str) -> bool:
    """Whether `domain` is a registrable name under a public suffix ("example.co.uk": yes,
    "localhost" or "build.internal": no). Cached: the same few domains recur in traffic."""
    import tldextract.tldextract as tld

    parts = tld.TLD_EXTRACTOR(domain)
    return bool(parts.domain and parts.suffix)


class EmailRecognizer:
    entity_type = "EMAIL_ADDRESS"
    hint = re.compile("@")

    def __init__(self) -> None:
        patch_tldextract_offline()

    def find(self, text: str) -> Iterator[Entity]:
        for m in _EMAIL.finditer(text):
            if _has_public_suffix(m.group(1).lower()):
                yield Entity(m.start(), m.end(), self.entity_type, VALIDATED, "pattern")


# Cards: 12-19 digits with any leading digit, compact or grouped as cards are printed (fours;
# 4-6-4/5) by spaces, dashes or dots. Issuer prefixes come and go; a Luhn-valid number is what
# leaks. Other groupings are phone numbers ("0049 89 2900298"). Not a card: digits glued to a
# word's letters (a tracking number's "1ZVGS3386273085712"), or part of a longer grouped number,
# fours that run on for two more groups or follow another group ("5097 7741 7727 2096 0563 44",
# "1189 6820 7485 6660 9888 67"): one in ten digit runs passes Luhn by chance.
_CARD = re.compile(
    r"\d(?<![\d+-]\d)(?<!\d\.\d)(?<![A-Za-z]\d)(?<!\d[ .-]\d)"  # the first digit, not after a digit, "+", "-", "1.", a letter or a group
    r"(?:\d{11,18}"  # compact
    r"|\d{3}(?P<s>[ .-])\d{4}(?:(?P=s)\d{4}){1,2}"  # 4-4-4, 4-4-4-4...
    r"(?P<tail>(?P=s)(?:\d\d(?P<exp>(?P=s)\d\d(?:\d\d)?)?|\d{1,3}))?"  # ...-3 (19 digits), or -MM-YY(YY): an expiry
    r"(?!(?P=s)\d{4}(?P=s)\d)"
    r"|\d{3}(?P<t>[ .-])\d{6}(?P=t)\d{4,5})"  # 4-6-4 (Diners), 4-6-5 (Amex)
    r"(?![\d-])(?!\.\d)"
)
_CARD_SEPARATORS = re.compile(r"[ .-]")


class CardRecognizer:
    entity_type = "CREDIT_CARD"
    hint = re.compile(r"\d\d{3}")  # (a leading \d, not \d{4}: the engine skips to digits only for a plain class)

    def find(self, text: str) -> Iterator[Entity]:
        from stdnum import luhn

        for m in _CARD.finditer(text):
            start = m.start()
            for end in _card_ends(m, text):
                if luhn.is_valid(_CARD_SEPARATORS.sub("", text[start:end])):
                    yield Entity(start, end, self.entity_type, VALIDATED, "pattern")
                    break


def _card_ends(m: re.Match[str], text: str) -> list[int]:
    """Where the card a _CARD match holds may end, the likelier first. Fours and a two-digit group
    may be a 16-digit card and the month of the expiry date after it: "4539 1488 0343 6467 12/26",
    or with the card's own separator, "... 6467 12 26" (then never one 20-digit number)."""
    if m.group("tail") is None:
        return [m.end()]
    short = text[m.start("tail"):m.start("exp") if m.group("exp") else m.end("tail")]  # the separator and the group after the fours
    fours = m.start("tail") if len(short) == 3 and text.count(m.group("s"), m.start(), m.start("tail")) == 3 else -1
    if m.group("exp"):
        return [fours] if fours > 0 and 1 <= int(short[1:]) <= 12 else [m.start("exp")]
    return [m.end(), fours] if fours > 0 and text.startswith("/", m.end()) else [m.end()]


# An IBAN starts with a country code and two check digits, in any case ("de44 5001 ...").
# Found by its first check digit (digits are rarer than letters) and read back from there.
_IBAN_HEAD = re.compile(r"\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d)\d", re.ASCII)
_BBAN_PART = re.compile(r"(\d+)!([nac])")
_IBAN_SEPARATORS = re.compile(r"[ -]")
_BBAN_CLASS = {"n": "[0-9]", "a": "[A-Za-z]", "c": "[A-Za-z0-9]"}


class IbanRecognizer:
    """The registry (python-stdnum's copy of SWIFT's IBAN registry) gives each country its BBAN
    shape, so a candidate is matched against exactly one length and shape, with one optional
    space or dash between any two characters, and must end there: no shortening loop, and a
    word after the number is never swallowed. Then mod-97. National check digits inside the BBAN
    are not checked: a mistyped IBAN is still someone's bank account."""

    entity_type = "IBAN_CODE"
    hint = re.compile(r"\d(?<=[A-Za-z]{2}\d)\d", re.ASCII)

    def __init__(self) -> None:
        from stdnum import numdb

        self._registry = numdb.get("iban")
        self._shapes: dict[str, re.Pattern[str] | None] = {}

    def _shape(self, country: str) -> re.Pattern[str] | None:
        if country not in self._shapes:
            props = self._registry.info(country)[0][1]
            bban = props.get("bban") if props else None
            if not bban:
                self._shapes[country] = None
            else:
                chars = "".join(f"(?:[ -]?{_BBAN_CLASS[kind]}){{{n}}}" for n, kind in _BBAN_PART.findall(bban))
                self._shapes[country] = re.compile(rf"[A-Za-z]{{2}}\d{{2}}{chars}(?![A-Za-z0-9])", re.ASCII)
        return self._shapes[country]

    def find(self, text: str) -> Iterator[Entity]:
        from stdnum.iso7064 import mod_97_10

        for head in _IBAN_HEAD.finditer(text):
            start = head.start() - 2
            shape = self._shape(text[start:start + 2].upper())
            m = shape.match(text, start) if shape is not None else None
            if m is None:
                continue
            # The shape came from the same registry entry stdnum's iban.validate() would look up
            # again (a slow prefix search): what is left of that check is mod-97.
            value = _IBAN_SEPARATORS.sub("", m.group(0)).upper()
            if mod_97_10.is_valid(value[4:] + value[:4]):
                yield Entity(m.start(), m.end(), self.entity_type, VALIDATED, "pattern")


# SSNs written 3-2-4 with one kind of separator; nine bare digits count only after words that say so.
_SSN = re.compile(r"(\d(?<!\w\d)\d{2})([- .])(\d{2})\2(\d{4})(?!\w)(?!-\d)")
_SSN_COMPACT = re.compile(r"(\d(?<!\w\d)\d{2})(\d{2})(\d{4})(?!\w)(?!-\d)")
_SSN_SAID = re.compile(r"(?:\bssns?|social[ -]security|soc\.?[ -]sec\.?|\bss#|\bitin|taxpayer)\b\W{0,5}(?:\w+\W{1,5}){0,3}$", re.IGNORECASE)
_SSN_WORDS = re.compile(r"ssn|social[ -]security|soc\.?[ -]sec|ss#|itin|taxpayer", re.IGNORECASE)  # what _SSN_SAID needs somewhere
_SSN_WORDS_LOWER = re.compile(_SSN_WORDS.pattern)  # the same, case-sensitive: for lower-cased ASCII


def _mentions_ssn(text: str) -> bool:
    """Whether `text` holds a word _SSN_SAID needs. A case-blind alternation gives the regex engine
    no first character to skip to (~0.25 s per MB); lower-cased ASCII searched case-sensitively
    does. Other texts keep the case-blind search (Unicode case rules: "ſ" matches "s")."""
    if text.isascii():
        return _SSN_WORDS_LOWER.search(text.lower()) is not None
    return _SSN_WORDS.search(text) is not None
_SSN_WRITTEN = 0.5  # as presidio's medium pattern: enough to redact, below validated formats
_SSN_BARE = 0.05  # nine digits alone are as often an order number


def _issuable_ssn(area: str, group: str, serial: str) -> bool:
    """The SSA never issues area 000 or 666, group 00 or serial 0000; one repeated digit and the
    published sample numbers are placeholders, not people. Areas 900-999 (ITINs, also tax ids)
    are kept: a leak-averse choice."""
    digits = area + group + serial
    return not (area in ("000", "666") or group == "00" or serial == "0000" or digits == digits[0] * 9
                or digits in ("123456789", "078051120") or digits.startswith("98765432"))


class SsnRecognizer:
    """`min_score`: bare nine-digit runs score below the default (0.4) unless words say what they
    are, so where no such word is in the text at all they are not looked at (a table of numbers)."""

    entity_type = "US_SSN"
    hint = re.compile(r"\d\d{2}[- .]?\d{2}[- .]?\d{4}")

    def __init__(self, min_score: float = 0.0) -> None:
        self.min_score = min_score

    def find(self, text: str) -> Iterator[Entity]:
        for m in _SSN.finditer(text):
            if _issuable_ssn(m.group(1), m.group(3), m.group(4)):
                yield Entity(m.start(), m.end(), self.entity_type, _SSN_WRITTEN, "pattern")
        if _SSN_BARE < self.min_score and not _mentions_ssn(text):
            return
        for m in _SSN_COMPACT.finditer(text):
            if _issuable_ssn(*m.groups()):
                said = _SSN_SAID.search(text[max(0, m.start() - 40):m.start()]) is not None
                yield Entity(m.start(), m.end(), self.entity_type, _SSN_WRITTEN if said else _SSN_BARE, "pattern")


# IPs: a candidate shape, then the standard library decides (octets ≤ 255, IPv6 group counts, "::").
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?:/\d{1,2})?(?!\w)(?!\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}"
    r"(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?:%[0-9A-Za-z]{1,16})?(?:/\d{1,3})?(?![\w:])(?!\.\d)"
)
_IP_SCORE = 0.6  # as presidio's: a dotted quad is sometimes a version number
# ...and is one when a word says so just before it ("version 2.25.6.73", "upgrading to 7.29.0.58",
# "firmware 7.17.3.19"); read backwards from the quad, like patterns.py's context phrases.
_VERSION_BEFORE = re.compile(r"[\s(:#.]{0,3}(?:noisrev|rev|erawmrif|esaeler|dliub|hctap|v|ot\s+(?:gnidargpu|dedargpu|edargpu|gnitadpu|detadpu|etadpu))(?!\w)",
                             re.IGNORECASE)
_A_DIGIT = re.compile(r"\d")


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return False
    return True


class IpRecognizer:
    entity_type = "IP_ADDRESS"
    # What IPv4 ("1.2.3.4") or IPv6 (two colons four hex digits apart at most) needs, each from a
    # literal character the engine scans for (a table of numbers has digits everywhere, few dots).
    hint = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:")

    def find(self, text: str) -> Iterator[Entity]:
        for m in _IPV4.finditer(text):
            if _ip(m.group(0)) and not _VERSION_BEFORE.match(text[max(0, m.start() - 24):m.start()][::-1]):
                yield Entity(m.start(), m.end(), self.entity_type, _IP_SCORE, "pattern")
        if ":" not in text:
            return
        for m in _IPV6.finditer(text):
            value = m.group(0)
            # "::" alone (unspecified), one group beside "::" ("::1", a slice's "b[::2]") and digit-free
            # hex ("dead::beef", C++'s "a::b") are not addresses people leak.
            address = value.split("/")[0].split("%")[0]
            if sum(1 for g in address.split(":") if g) >= 2 and _A_DIGIT.search(value) is not None and _ip(value):
                yield Entity(m.start(), m.end(), self.entity_type, _IP_SCORE, "pattern")


class CustomRecognizer:
    """A constellation's own type. Patterns match case-insensitively, `^`/`$` at line ends and `.`
    across lines (what presidio did, so existing constellations keep their meaning); deny-list
    terms match as whole words, case-insensitively. Always run: no cheap hint says where they can't match."""

    def __init__(self, entity: CustomEntity) -> None:
        self.entity_type, self.score = entity.type, entity.score
        flags = re.IGNORECASE | re.MULTILINE | re.DOTALL
        self.patterns = [re.compile(p, flags) for p in entity.patterns]
        terms = sorted({t for t in entity.deny_list if t.strip()}, key=len, reverse=True)
        if terms:
            self.patterns.append(re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, terms)) + r")(?!\w)", re.IGNORECASE))

    def find(self, text: str) -> Iterator[Entity]:
        for pattern in self.patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    yield Entity(m.start(), m.end(), self.entity_type, self.score, "custom")


BUILTIN = {
    "EMAIL_ADDRESS": EmailRecognizer,
    "CREDIT_CARD": CardRecognizer,
    "IBAN_CODE": IbanRecognizer,
    "US_SSN": SsnRecognizer,
    "IP_ADDRESS": IpRecognizer,
}
