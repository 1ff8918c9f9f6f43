"""Pattern entities: presidio's validated recognizers, phone numbers, and the constellation's own types.

Presidio's recognizers bring the validation that makes patterns precise (Luhn for cards, the
IBAN checksum and per-country lengths, a real public-suffix check for e-mail domains, known
invalid SSNs). Its phone recognizer runs libphonenumber's matcher once per region over the whole
text (1.5 ms per region per KB, measured); here one regex finds candidates and libphonenumber
parses only those, so twenty regions cost what one did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rightmodel.privacy.config import PrivacyConfig
from rightmodel.privacy.entities import Entity

_PRESIDIO = {
    "EMAIL_ADDRESS": "EmailRecognizer",
    "CREDIT_CARD": "CreditCardRecognizer",
    "IBAN_CODE": "IbanRecognizer",
    "US_SSN": "UsSsnRecognizer",
    "IP_ADDRESS": "IpRecognizer",
}
# Candidate patterns given to presidio's recognizers in place of their own (validation is theirs):
# - e-mail: no "/" in the local part. RFC 5322 allows it, but presidio then validates the match as
#   a URL ("Porter/troy91@example.net" has no domain as a URL) and drops the address.
# - cards: any 12-19 digits with any leading digit, compact or grouped as cards are printed (fours;
#   4-6-4/5) by spaces, dashes or dots, then Luhn. Other groupings are phone numbers ("0049 89 2900298"). Presidio's own pattern knows only some issuer prefixes and 13-17 digits (no 2-series
#   Mastercard, Maestro, 19-digit Visa); issuers come and go, and a Luhn-valid number is what leaks.
_CANDIDATES = {
    "EMAIL_ADDRESS": [(r"(?<![\w.+'%-])[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+\b", 0.5)],
    "CREDIT_CARD": [(r"(?<![\d+-])(?<!\d\.)(?:\d{12,19}"  # compact
                     r"|\d{4}(?P<s>[ .-])\d{4}(?:(?P=s)\d{4}){1,2}(?:(?P=s)\d{1,3})?"  # groups of four: 4-4-4, 4-4-4-4, 4-4-4-4-3
                     r"|\d{4}(?P<t>[ .-])\d{6}(?P=t)\d{4,5})"  # 4-6-4 (Diners), 4-6-5 (Amex)
                     r"(?![\d-])(?!\.\d)", 0.3)],
}

_OPTIONS = {
    "CREDIT_CARD": {"replacement_pairs": [("-", ""), (" ", ""), (".", "")]},  # separators dropped before the Luhn check
}

# Digits with the separators phone numbers are written with, an optional +/00 prefix and extension.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+/.-])(?:\+|00)?(?:\([ \t]*\+?\d{1,4}[ \t]*\)|\d)[\d \t\u00a0().\-/]{4,22}\d"
    r"(?:[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6})?(?![\w/])",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2}))(?:$|[ T]\d)")  # a date, maybe + time
_EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6}$", re.IGNORECASE)
_CONTEXT_WORDS = (r"phone|tel|call|mobile|cell|fax|whatsapp|sms|text me|ring|contact|reach|handy|téléphone|teléfono|telefono|numéro|[☎📞📱]"
                  r"|(?:my|his|her|their|your|our)\s+number")
_PHONE_CONTEXT_AFTER = re.compile(r"^\W{0,5}(?:\w+\W{1,5}){0,5}?(?:" + _CONTEXT_WORDS + ")", re.IGNORECASE)
# Words that name what a bare digit run is when it is not a phone number.
_ID_CONTEXT = re.compile(r"(?:order|invoice|tracking|account|acct|ref|reference|ticket|case|id|no|nr|number|transaction|parcel|package|"
                         r"build|version|serial|sku|item|customer|policy|claim|contract|booking|confirmation|receipt|iban|card|pin|code)"
                         r"\W{0,3}(?:\w+\W{1,3})?$", re.IGNORECASE)
_PHONE_CONTEXT = re.compile(r"(?:" + _CONTEXT_WORDS + r")\W{0,5}(?:\w+\W{1,5}){0,3}$", re.IGNORECASE)


def patch_tldextract_offline() -> None:
    """Presidio's e-mail check asks tldextract, which fetches the public-suffix list over the
    network on first use; use the snapshot bundled with tldextract instead (no network here)."""
    import tldextract.tldextract as tld

    if tld.TLD_EXTRACTOR.suffix_list_urls:
        tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class PatternDetector:
    """Every non-NER type the config enables, as one `find(text)` call."""

    def __init__(self, config: PrivacyConfig) -> None:
        from presidio_analyzer import Pattern, PatternRecognizer, predefined_recognizers

        patch_tldextract_offline()
        self.min_score = config.min_score
        def recognizer(entity_type: str, cls: str):
            patterns = [Pattern(f"{entity_type}_rm{i}", rx, score) for i, (rx, score) in enumerate(_CANDIDATES.get(entity_type, []))]
            return getattr(predefined_recognizers, cls)(**({"patterns": patterns} if patterns else {}), **_OPTIONS.get(entity_type, {}))

        self.recognizers = [(t, recognizer(t, cls)) for t, cls in _PRESIDIO.items() if t in config.entities]
        self.custom = [
            (
                c.type,
                PatternRecognizer(
                    supported_entity=c.type,
                    patterns=[Pattern(f"{c.type}_{i}", p, c.score) for i, p in enumerate(c.patterns)] or None,
                    deny_list=[t for t in c.deny_list if t.strip()] or None,
                    deny_list_score=c.score,
                ),
            )
            for c in config.custom
        ]
        self.custom_types = frozenset(c.type for c in config.custom)
        self.iban = next((r for t, r in self.recognizers if t == "IBAN_CODE"), None)
        self.phone_regions = tuple(config.phone_regions) if "PHONE_NUMBER" in config.entities else ()

    def find(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for entity_type, recognizer in self.recognizers:
            if _PREFILTER[entity_type].search(text) is not None:  # most prose holds no "@", no run of digits...
                found.extend(self._run(recognizer, entity_type, text, "pattern"))
        for entity_type, recognizer in self.custom:
            found.extend(self._run(recognizer, entity_type, text, "custom"))
        if self.iban is not None:
            found.extend(lower_case_ibans(text, self.iban))
        if self.phone_regions:
            found.extend(e for e in phones(text, self.phone_regions) if e.score >= self.min_score)
        return found

    def _run(self, recognizer, entity_type: str, text: str, source: str) -> Iterable[Entity]:
        for r in recognizer.analyze(text, [entity_type], None):
            if r.score >= self.min_score or source == "custom":
                yield Entity(r.start, r.end, entity_type, float(r.score), source)


_DIGIT = re.compile(r"\d")
# What a text must hold for a recognizer to find anything in it (each far cheaper than the recognizer's own patterns).
_PREFILTER = {
    "EMAIL_ADDRESS": re.compile("@"),
    "CREDIT_CARD": re.compile(r"\d{4}"),
    "IBAN_CODE": re.compile(r"[A-Z]{2}\d{2}"),
    "US_SSN": re.compile(r"\d{3}[- .]?\d{2}[- .]?\d{4}"),
    "IP_ADDRESS": re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d|(?:[0-9A-Fa-f]{1,4}:){2}|::[0-9A-Fa-f]"),
}
_LOWER_IBAN = re.compile(r"(?<![A-Za-z0-9])[a-z]{2}\d{2}(?:[ -]?[a-z0-9]){11,32}", re.ASCII)


def lower_case_ibans(text: str, recognizer: Any) -> list[Entity]:
    """IBANs written in lower case ("de44 5001 0517 ..."): presidio's pattern wants capitals, and
    matching case-insensitively lets it swallow the next word ("... 3249 31 from"). Each candidate
    is shortened from the end until presidio validates the upper-cased value (checksum and format)."""
    out: list[Entity] = []
    for m in _LOWER_IBAN.finditer(text):
        value = m.group(0)
        for end in range(len(value), 14, -1):
            if not value[end - 1].isalnum() or (end < len(value) and value[end].isalnum() and value[end - 1].isalpha()):
                continue
            candidate = value[:end].upper()
            if recognizer.validate_result(candidate):
                out.append(Entity(m.start(), m.start() + end, "IBAN_CODE", 0.9, "pattern"))
                break
    return out


def phones(text: str, regions: tuple[str, ...]) -> list[Entity]:
    """Phone numbers: candidates by regex, kept when libphonenumber finds them possible somewhere.

    Scores: with a +/00 country code 0.9 if valid, else 0.6 if possible (right length); written
    with separators or brackets 0.75 valid / 0.5 possible; a bare digit run 0.6 / 0.45 next to a
    word like "phone"/"call", else 0.45 when valid in a region unless a word like "order" or
    "invoice" names it, and 0.2 when merely possible or so named (below the default 0.4).
    Dates (2024-05-03, 03.05.2024) are never phone numbers.
    """
    import phonenumbers

    out: list[Entity] = []
    if _DIGIT.search(text) is None:
        return out
    for m in _PHONE_CANDIDATE.finditer(text):
        raw = m.group(0).rstrip(" .-/(")
        start = m.start()
        end = start + len(raw)
        number = _EXTENSION.sub("", raw)
        if _DATE.match(number):
            continue
        digits = sum(c.isdigit() for c in number)
        if not 7 <= digits <= 15:
            continue
        bare = number.lstrip("( ")
        international = bare.startswith(("+", "00"))
        parse_as = "+" + bare[2:] if bare.startswith("00") else number
        valid = possible = False
        for region in (None,) if international else regions:
            try:
                parsed = phonenumbers.parse(parse_as, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                valid = possible = True
                break
            possible = possible or phonenumbers.is_possible_number(parsed)
        if not possible and not (international and digits >= 8):
            continue
        formatted = bool(re.search(r"[\s().\-/]", number.strip()))
        context = bool(_PHONE_CONTEXT.search(text[max(0, start - 40):start]) or _PHONE_CONTEXT_AFTER.search(text[end:end + 50]))
        if international and (bare.startswith("+") or formatted or context):
            # an unknown country code after 00 still reads as a phone number when the text says so
            score = 0.9 if valid else 0.6 if possible else (0.45 if context else 0.0)
        elif international:  # "0012345678": as likely an id as a number dialled from abroad
            score = 0.3
        elif formatted:
            score = 0.75 if valid else 0.5
        elif context:
            score = 0.6 if valid else 0.45
        else:
            # A bare digit run that is a valid number in one of the regions is taken as one: a
            # missed phone number leaks, an order number taken for one is only a placeholder that
            # comes back in the answer. Merely possible runs (right length) are not.
            named = bool(_ID_CONTEXT.search(text[max(0, start - 30):start]))
            score = 0.45 if valid and not named else 0.2
        out.append(Entity(start, end, "PHONE_NUMBER", score, "phone"))
    return out
