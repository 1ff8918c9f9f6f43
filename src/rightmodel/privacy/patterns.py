"""Pattern entities: the validated recognizers (recognizers.py), phone numbers, and the constellation's own types.

Phone numbers: libphonenumber's own matcher runs once per region over the whole text (1.5 ms per
region per KB, measured); here one regex finds candidates and libphonenumber parses only those,
so twenty regions cost what one did. Most bare digit runs are not even parsed: the region's
metadata answers for them (phone_filter.RegionFilter.exact): parsing was most of what a table of
numbers cost (tens of thousands of candidates per megabyte).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from rightmodel.privacy.config import PrivacyConfig
from rightmodel.privacy.entities import Entity
from rightmodel.privacy.phone_filter import region_filters
from rightmodel.privacy.recognizers import BUILTIN, CustomRecognizer, Recognizer, SsnRecognizer

# Digits with the separators phone numbers are written with, an optional +/00 prefix and extension.
# Not a phone number: a run inside an identifier or a timestamp — after "#" ("#6979615"), after a
# time's "12:57:" (fractional seconds), before "-" and a letter or digit (a UUID's first group).
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+/.#-])(?<!\d:)(?:\+|00)?(?:\([ \t]*\+?\d{1,4}[ \t]*\)|\d)[\d \t\u00a0().\-/]{4,22}\d"
    r"(?:[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6})?(?![\w/]|-[^\W_])",
    re.IGNORECASE,
)
# A run whose last group is one digit after a dot is a build or version number ("20251207.4"), not a phone number.
_BUILD_NUMBER = re.compile(r"\d\.\d$")
# A year, a slash and a serial ("2024/0036") numbers invoices and files; a national number written with a slash starts with 0.
_YEAR_SERIAL = re.compile(r"^(?:19|20)\d\d/\d{1,6}$")
# ...or with a dash, when a word like "invoice" or "no." names it ("Invoice no. 2026-118").
_YEAR_SERIAL_DASHED = re.compile(r"^(?:19|20)\d\d-\d{1,6}$")
# Two years, the second later ("1837-1843", "1945 - 1965"): a period, not a phone number.
_YEAR_RANGE = re.compile(r"^(1\d\d\d|20\d\d)[ \t]*[-/][ \t]*(1\d\d\d|20\d\d)$")
# One dot between two digit groups: a decimal number ("300.5849"), alone or among numbers spaced
# apart, not a phone number (dotted numbers have two dots or more: 415.555.0132, 01.23.45.67.89).
_DECIMAL = re.compile(r"^\d+\.\d+$|^[^+]*(?:^|\s)\d+\.\d+(?:\s|$)")  # ...alone, or one of a list ("1.6 1.0 0.25")
_BINARY = re.compile(r"^[01 \t.\-]+$")  # only 0s and 1s: bits ("1001 0011", "11111111"), never a phone number
_ROUND = re.compile(r"0000$")  # a bare run ending in four zeros: an amount or a count ("2500000"), not a phone number
_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2}))(?:$|[ T]\d)")  # a date, maybe + time
_EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6}$", re.IGNORECASE)
_CONTEXT_TERMS = ("phone", "tel", "call", "mobile", "cell", "fax", "whatsapp", "sms", "text me", "ring", "contact", "reach",
                  "handy", "téléphone", "teléfono", "telefono", "numéro")
_CONTEXT_WORDS = "|".join(_CONTEXT_TERMS) + r"|[☎📞📱]|(?:my|his|her|their|your|our)\s+number"
_PHONE_CONTEXT_AFTER = re.compile(r"\W{0,5}(?:\w+\W{1,5}){0,5}?(?:" + _CONTEXT_WORDS + ")", re.IGNORECASE)  # .match at the window's start
# Words that name what a bare digit run is when it is not a phone number.
_ID_WORDS = (r"order|invoice|tracking|account|acct|ref|reference|ticket|case|id|no|nr|number|transaction|parcel|package|"
             r"build|version|serial|sku|item|customer|policy|claim|contract|booking|confirmation|receipt|iban|card|pin|code")
# Before a candidate the phrases end where the window ends ("<word>, <one more word> <number>"):
# read backwards, they are one anchored match of the reversed phrase on the reversed window, not
# a search trying every start. (Forwards: ID_WORDS\W{0,3}(?:\w+\W{1,3})?$ and CONTEXT_WORDS
# \W{0,5}(?:\w+\W{1,5}){0,3}$; "\n?" is what "$" allows before a final newline.)
_ID_CONTEXT_BEFORE = re.compile(r"\n?(?:\W{1,3}\w+)?\W{0,3}(?:" + "|".join(w[::-1] for w in _ID_WORDS.split("|")) + ")",
                                re.IGNORECASE)
_PHONE_CONTEXT_BEFORE = re.compile(r"\n?(?:\W{1,5}\w+){0,3}\W{0,5}(?:" + "|".join(w[::-1] for w in _CONTEXT_TERMS)
                                   + r"|[☎📞📱]|rebmun\s+(?:ym|sih|reh|rieht|ruoy|ruo))", re.IGNORECASE)
# The same words, case-sensitive, searched for in the lower-cased text: a window holding none of
# them (most windows of a table of numbers) needs no case-blind phrase match.
_CONTEXT_HINT = re.compile(_CONTEXT_WORDS)
_ID_HINT = re.compile(_ID_WORDS)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class _Words:
    """Whether a window of a text may hold one of a phrase's words, asked before the phrase.

    Sound, not exact: "no" only where the case-blind phrase cannot match. Each window is searched
    for the words in the lower-cased text (one C-level search over the window's few characters);
    a long ASCII text without any of the words anywhere (a table of numbers) is answered "no"
    without asking. Non-ASCII characters (whose case folding str.lower() may not mirror) send a
    window to the phrase. (An index of every word in the text, answered by bisection, cost more:
    words like "no" and "id" occur thousands of times in a megabyte of prose.)
    """

    def __init__(self, text: str, hint: re.Pattern[str]) -> None:
        self.text, self.hint = text, hint
        self.lower: str | None = None
        self.ascii = text.isascii()  # most texts: no window needs the non-ASCII check
        self.drift = False  # a character lower-cased to two: positions would move
        self.reversed: str | None = None  # the text backwards, for phrases that end where a window ends

    def _lowered(self) -> str:
        if self.lower is None:
            self.lower = self.text.lower()
            self.drift = len(self.lower) != len(self.text)
        return self.lower

    def anywhere(self) -> bool:
        """False only when no window of the text can hold a word: an ASCII text (case folds as
        str.lower() does) with none of the words in it. Asked of long texts only."""
        if not self.ascii or len(self.text) < 4096:
            return True
        return self.hint.search(self._lowered()) is not None

    def said(self, lo: int, hi: int, phrase: re.Pattern[str], backwards: bool = False) -> bool:
        """Whether `phrase` matches at the start of text[lo:hi] (`backwards`: of it reversed),
        asking the words first."""
        if lo < 0:
            lo = 0
        lower = self.lower if self.lower is not None else self._lowered()
        if not self.drift and (self.ascii or _NON_ASCII.search(self.text, lo, hi) is None) \
                and self.hint.search(lower, lo, hi) is None:
            return False
        if not backwards:
            return phrase.match(self.text, lo, hi) is not None  # (the phrases have no lookbehind: as on a slice)
        if self.reversed is None:
            self.reversed = self.text[::-1]
        n = len(self.text)
        return phrase.match(self.reversed, n - hi, n - lo) is not None  # text[lo:hi] read backwards


class PatternDetector:
    """Every non-NER type the config enables, as one `find(text)` call."""

    def __init__(self, config: PrivacyConfig) -> None:
        self.min_score = config.min_score
        self.recognizers: list[Recognizer] = [SsnRecognizer(config.min_score) if t == "US_SSN" else make()
                                              for t, make in BUILTIN.items() if t in config.entities]
        self.custom = [CustomRecognizer(c) for c in config.custom]
        self.custom_types = frozenset(c.type for c in config.custom)
        self.phone_regions = tuple(config.phone_regions) if "PHONE_NUMBER" in config.entities else ()

    def find(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for recognizer in self.recognizers:
            if recognizer.hint.search(text) is not None:  # most prose holds no "@", no run of digits...
                found.extend(e for e in recognizer.find(text) if e.score >= self.min_score)
        for custom in self.custom:
            found.extend(custom.find(text))  # the constellation's own types: always, whatever their score
        if self.phone_regions:
            found.extend(e for e in phones(text, self.phone_regions, _covered(text, found), self.min_score) if e.score >= self.min_score)
        return found


_DIGIT = re.compile(r"\d")
_SEPARATOR = re.compile(r"[\s().\-/]")
_NON_DIGIT = re.compile(r"\D")
_EXTENSION_HINT = re.compile(r"[xX#]")  # every extension marker holds one
_PLAIN = re.compile(r"[0-9 ().\-/]+")  # what parse() reads as punctuation between digits, and nothing else
def _covered(text: str, found: list[Entity]) -> bytearray:
    """1 where a value is already found: a phone candidate wholly inside one (the digits of a card,
    an IBAN, an SSN) would lose to it anyway, as every other type outranks PHONE_NUMBER."""
    taken = bytearray(len(text))
    for e in found:
        taken[e.start:e.end] = b"\x01" * (e.end - e.start)
    return taken


def phones(text: str, regions: tuple[str, ...], covered: bytearray | None = None, min_score: float = 0.0) -> list[Entity]:
    """Phone numbers: candidates by regex, kept when libphonenumber finds them possible somewhere.

    Scores: with a +/00 country code 0.9 if valid, else 0.6 if possible (right length); written
    with separators or brackets 0.75 valid / 0.5 possible; a bare digit run 0.6 / 0.45 next to a
    word like "phone"/"call", else 0.45 when valid in a region unless a word like "order" or
    "invoice" names it (or its shape does: a parameter's value after "=", bits, four closing
    zeros), and 0.2 when merely possible or so named (below the default 0.4). Dates (2024-05-03,
    03.05.2024), periods (1837-1843), decimals (300.5849) and bits (1001 0011) are never phone numbers.
    """

    out: list[Entity] = []
    if _DIGIT.search(text) is None:
        return out
    context_words, id_words = _Words(text, _CONTEXT_HINT), _Words(text, _ID_HINT)
    contexts = context_words.anywhere()  # a table of numbers: usually no "phone", "call"... anywhere
    scores, order = _ShapeScores(min_score), _RegionOrder(len(regions))
    run_plain, run_named, run_context = (scores.of(False, False, False, False, False), scores.of(False, False, False, False, True),
                                      scores.of(False, False, False, True, False))
    verdicts: dict = {}  # a text repeats its numbers (a thread quoting itself, a table): each judged once
    for m in _PHONE_CANDIDATE.finditer(text):
        start, end = m.span()  # (the match ends on a digit: nothing to strip)
        if end - start < 7:
            continue  # can't hold 7 digits: a table's amounts (123.45), short codes
        if covered is not None and covered.find(0, start, end) < 0:
            continue
        raw = m.group(0)
        if raw.isdigit() and raw.isascii():  # a bare run (most candidates in a table): no extension, no date
            if end - start > 15:
                continue
            if raw.startswith("00"):
                bare, parse_as, ascii_digits, digits = raw, "+" + raw[2:], raw, end - start
                international, formatted = True, False
            else:
                # The common case, kept lean: a bare national run, judged by its context words alone.
                context = contexts and _phone_word_beside(context_words, start, end)
                # A run that is a parameter's value ("max-age=31536000") or bits or a round amount is
                # named by its shape as "order 123" names one: a phone number among them needs a word
                # like "phone" or "tel" beside it ("tel=4155550132").
                named = not context and (text[start - 1:start] == "=" or _ROUND.search(raw) is not None
                                         or _BINARY.match(raw) is not None
                                         or _id_word_before(id_words, start))
                valid_score, possible_score, _, need_possible = run_context if context else run_named if named else run_plain
                if valid_score < min_score:
                    continue
                key = (raw, need_possible)
                known = verdicts.get(key)
                if known is None:
                    known = verdicts[key] = _verdict(raw, raw, regions, False, need_possible, order)
                valid, possible = known
                if possible:
                    out.append(Entity(start, end, "PHONE_NUMBER", valid_score if valid else possible_score, "phone"))
                continue
        else:
            number = _EXTENSION.sub("", raw) if _EXTENSION_HINT.search(raw) else raw
            if _DATE.match(number) or _BUILD_NUMBER.search(number) or _YEAR_SERIAL.match(number) or _BINARY.match(number):
                continue
            if (_DECIMAL.match(number) or _later_year(number)) and not (contexts and _phone_word_beside(context_words, start, end)):
                continue  # a decimal or a period, unless the text calls it a number to ring
            if _YEAR_SERIAL_DASHED.match(number) and _id_word_before(id_words, start):
                continue
            ascii_digits = _NON_DIGIT.sub("", number) if number.isascii() else None
            digits = len(ascii_digits) if ascii_digits is not None else sum(c.isdigit() for c in number)
            if not 7 <= digits <= 15:
                continue
            bare = number.lstrip("( ")
            parse_as = "+" + bare[2:] if bare.startswith("00") else number
            formatted = _SEPARATOR.search(number.strip()) is not None
            international = bare.startswith(("+", "00"))
        # Context words change the score of international and bare runs only; "order" only of bare ones.
        context = contexts and (international or not formatted) and _phone_word_beside(context_words, start, end)
        named = not (international or formatted or context) and _id_word_before(id_words, start)
        valid_score, possible_score, no_score, need_possible = scores.of(international, bare.startswith("+"), formatted, context, named)
        if valid_score < min_score:
            continue  # even a valid number written this way would be dropped: skip libphonenumber
        key = (parse_as, ascii_digits, international, need_possible)
        known = verdicts.get(key)
        if known is None:
            known = verdicts[key] = _verdict(parse_as, ascii_digits, regions, international, need_possible, order)
        valid, possible = known
        if not possible and not (international and digits >= 8):
            continue
        out.append(Entity(start, end, "PHONE_NUMBER", valid_score if valid else possible_score if possible else no_score, "phone"))
    return out


def _phone_word_beside(words: _Words, start: int, end: int) -> bool:
    """A word like "phone" or "call" in the 40 characters before the candidate or the 50 after."""
    return words.said(start - 40, start, _PHONE_CONTEXT_BEFORE, True) or words.said(end, end + 50, _PHONE_CONTEXT_AFTER)


def _id_word_before(words: _Words, start: int) -> bool:
    """A word like "order" or "invoice" naming the candidate, in the 30 characters before it."""
    return words.said(start - 30, start, _ID_CONTEXT_BEFORE, True)


def _later_year(number: str) -> bool:
    m = _YEAR_RANGE.match(number)
    return m is not None and m.group(1) < m.group(2)


class _ShapeScores:
    """_score of each way a candidate can be written, computed once per text rather than per
    candidate: (valid, possible only, neither, whether `possible` can matter at `min_score`)."""

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score
        self.table: dict[tuple[bool, ...], tuple[float, float, float, bool]] = {}

    def of(self, *shape: bool) -> tuple[float, float, float, bool]:
        got = self.table.get(shape)
        if got is None:
            s = _Shape(*shape)
            possible = _score(s, False, True)
            got = self.table[shape] = (_score(s, True, True), possible, _score(s, False, False), possible >= self.min_score)
        return got


def _verdict(parse_as: str, ascii_digits: str | None, regions: tuple[str, ...], international: bool,
             need_possible: bool, order: _RegionOrder | None = None) -> tuple[bool, bool]:
    """(valid, possible): whether libphonenumber finds the number valid in some region (an
    international one by its own country code), else whether possible in one. The answer does not
    depend on the order the regions are asked in, so `order` may put the likeliest first."""
    if international:
        return _parsed(parse_as, None)
    possible = False
    plain = parse_as is ascii_digits or (ascii_digits is not None and _PLAIN.fullmatch(parse_as) is not None)
    screens = region_filters(regions)
    for i in order.indices if order is not None else range(len(regions)):
        screen = screens[i]
        if plain:
            known = screen.exact(ascii_digits)
            if known is not None:  # a run parse() would take as written: the metadata answers alone
                if known[0]:
                    if order is not None:
                        order.found_in(i)
                    return True, True
                possible = possible or known[1]
                continue
        if ascii_digits is not None and not screen.may_match(ascii_digits, need_possible):
            continue  # neither valid nor (when it matters) possible here: libphonenumber would say so too
        valid_here, possible_here = _parsed(parse_as, regions[i])
        if valid_here:
            if order is not None:
                order.found_in(i)
            return True, True
        possible = possible or possible_here
    return False, possible


@lru_cache(maxsize=16384)
def _parsed(number: str, region: str | None) -> tuple[bool, bool]:
    """libphonenumber's (valid, possible) for `number` read in `region`. Cached: a conversation, a
    thread or a table repeats the same numbers, and a parse costs tens of microseconds."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return False, False
    if phonenumbers.is_valid_number(parsed):
        return True, True
    return False, phonenumbers.is_possible_number(parsed)


class _RegionOrder:
    """The configured regions in the order one text's numbers are judged: the region that last
    found one valid goes first. A table's numbers are mostly valid in the same region, so most
    verdicts are settled by the first question instead of after several regions said no."""

    def __init__(self, regions: int) -> None:
        self.indices = list(range(regions))

    def found_in(self, i: int) -> None:
        if self.indices[0] != i:
            self.indices.remove(i)
            self.indices.insert(0, i)


class _Shape(NamedTuple):
    international: bool  # +... or 00...
    plus: bool
    formatted: bool  # separators or brackets
    context: bool  # a word like "phone" or "call" beside it
    named: bool  # a word like "order" or "invoice" before it


def _score(shape: _Shape, valid: bool, possible: bool) -> float:
    """See phones(): how sure a candidate written this way is a phone number."""
    if shape.international and (shape.plus or shape.formatted or shape.context):
        # an unknown country code after 00 still reads as a phone number when the text says so
        return 0.9 if valid else 0.6 if possible else (0.45 if shape.context else 0.0)
    if shape.international:  # "0012345678": as likely an id as a number dialled from abroad
        return 0.3
    if shape.formatted:
        return 0.75 if valid else 0.5
    if shape.context:
        return 0.6 if valid else 0.45
    # A bare digit run that is a valid number in one of the regions is taken as one: a missed
    # phone number leaks, an order number taken for one is only a placeholder that comes back in
    # the answer. Merely possible runs (right length) are not.
    return 0.45 if valid and not shape.named else 0.2
