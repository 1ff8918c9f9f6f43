"""The pattern recognizers patterns.py uses, with presidio-analyzer's behaviour and no presidio.

presidio-analyzer requires spaCy (197 MB installed with blis and thinc; +46 MiB of RSS and in a
venv with torch, torch too, through thinc), yet rightmodel used only its regex recognizers:
e-mail, credit card, IBAN, US SSN, IP, and `PatternRecognizer` for the constellation's custom
types. This module is that code, ported from presidio-analyzer 2.2.366 (Copyright (c) Microsoft
Corporation, MIT License: pattern_recognizer.py, entity_recognizer.py's remove_duplicates and
sanitize_value, predefined_recognizers/generic/{email,credit_card,iban,ip}_recognizer.py,
country_specific/us/us_ssn_recognizer.py) with what rightmodel never calls left out (context words,
explanations, NLP artifacts, serialisation). What decides a finding is kept exactly: the same
patterns, compiled by the `regex` module with the same flags (DOTALL | MULTILINE | IGNORECASE; IBAN
without IGNORECASE), the same 60 s regex timeout, validation (tldextract's public-suffix check,
Luhn, the IBAN checksum and per-country formats, SSN and IP rules), scores and de-duplication.
tests/test_privacy_lean.py compares it with presidio's, finding by finding, when presidio is installed.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import string
from collections import defaultdict
from itertools import groupby
from typing import NamedTuple

import regex as re

from rightmodel.privacy.iban_patterns import BOS, EOS, regex_per_country

log = logging.getLogger(__name__)
REGEX_TIMEOUT_SECONDS = int(os.environ.get("REGEX_TIMEOUT_SECONDS", 60))  # presidio's setting, same variable
MIN_SCORE, MAX_SCORE = 0, 1.0
DEFAULT_FLAGS = re.DOTALL | re.MULTILINE | re.IGNORECASE


class Result(NamedTuple):
    """A finding: what presidio's RecognizerResult carried that patterns.py reads."""

    entity_type: str
    start: int
    end: int
    score: float


class Pattern:
    def __init__(self, name: str, regex: str, score: float) -> None:
        try:
            re.compile(regex)  # a bad pattern fails here, as in presidio's Pattern
        except re.error as exc:
            raise ValueError(f"Invalid regex pattern: {exc}") from exc
        if score < 0 or score > 1:
            raise ValueError(f"Invalid score: {score}. Score should be between 0 and 1")
        self.name, self.regex, self.score = name, regex, score
        self.compiled = None
        self.compiled_with = None


def sanitize_value(text: str, replacement_pairs: list[tuple[str, str]]) -> str:
    for search, replacement in replacement_pairs:
        text = text.replace(search, replacement)
    return text


def remove_duplicates(results: list[Result]) -> list[Result]:
    """presidio's EntityRecognizer.remove_duplicates: drop equal and zero-score results and those
    contained in another of the same type with an equal or higher score; score-first order."""
    unique = list(dict.fromkeys(results))  # presidio: set() over (start, end, score, type); order is re-sorted below
    unique.sort(key=lambda x: (str(x.entity_type), x.start, -(x.end - x.start), -x.score))
    kept: list[Result] = []
    for _, group in groupby(unique, key=lambda r: r.entity_type):
        active: list[Result] = []
        for result in group:
            if result.score == 0:
                continue
            active = [a for a in active if a.end >= result.start]
            if not any(result.start >= a.start and result.end <= a.end and result.score <= a.score for a in active):
                kept.append(result)
                active.append(result)
    return sorted(kept, key=lambda x: (-x.score, x.start, -(x.end - x.start)))


class PatternRecognizer:
    """Regexes and/or a deny-list for one entity type; subclasses add validation."""

    PATTERNS: list[Pattern] = []

    def __init__(self, supported_entity: str, patterns: list[Pattern] | None = None, deny_list: list[str] | None = None,
                 deny_list_score: float = 1.0, global_regex_flags: int = DEFAULT_FLAGS) -> None:
        if not supported_entity:
            raise ValueError("Pattern recognizer should be initialized with entity")
        if not patterns and not deny_list:
            raise ValueError("Pattern recognizer should be initialized with patterns or with deny list")
        self.supported_entity = supported_entity
        self.patterns = list(patterns) if patterns else []
        self.global_regex_flags = global_regex_flags
        if deny_list:
            escaped = [re.escape(term) for term in deny_list]
            self.patterns.append(Pattern("deny_list", r"(?:^|(?<=\W))(" + "|".join(escaped) + r")(?:(?=\W)|$)", deny_list_score))

    def validate_result(self, pattern_text: str) -> bool | None:
        return None

    def invalidate_result(self, pattern_text: str) -> bool | None:
        return None

    def analyze(self, text: str, entities: list[str] | None = None, nlp_artifacts: object = None) -> list[Result]:
        """Every pattern's matches, scored: MAX_SCORE when validation passes, dropped when it fails
        or invalidation says so, the pattern's score when there is no validation."""
        if not self.patterns:
            return []
        flags = self.global_regex_flags
        results: list[Result] = []
        for pattern in self.patterns:
            if pattern.compiled is None or pattern.compiled_with != flags:
                pattern.compiled, pattern.compiled_with = re.compile(pattern.regex, flags=flags), flags
            try:
                for match in pattern.compiled.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                    start, end = match.span()
                    current = text[start:end]
                    if current == "":
                        continue
                    score = pattern.score
                    valid = self.validate_result(current)
                    if valid is not None:
                        score = MAX_SCORE if valid else MIN_SCORE
                    invalid = self.invalidate_result(current)
                    if invalid is not None and invalid:
                        score = MIN_SCORE
                    if score > MIN_SCORE:
                        results.append(Result(self.supported_entity, start, end, score))
            except TimeoutError:
                log.warning("Regex pattern '%s' timed out after %s seconds, skipping.", pattern.name, REGEX_TIMEOUT_SECONDS)
        return remove_duplicates(results)


class _Predefined(PatternRecognizer):
    ENTITY = ""

    def __init__(self, patterns: list[Pattern] | None = None, **kwargs) -> None:
        super().__init__(self.ENTITY, patterns=patterns if patterns else self.PATTERNS, **kwargs)


class EmailRecognizer(_Predefined):
    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = [
        Pattern(
            "Email (Medium)",
            r"\b((([!#$%&'*+\-/=?^_`{|}~\w])|([!#$%&'*+\-/=?^_`{|}~\w][!#$%&'*+\-/=?^_`{|}~\.\w]{0,}[!#$%&'*+\-/=?^_`{|}~\w]))[@]\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+)\b",
            0.5,
        ),
    ]

    def validate_result(self, pattern_text: str) -> bool:
        import tldextract  # its public-suffix list, as a snapshot (patterns.patch_tldextract_offline)

        return tldextract.extract(pattern_text).fqdn != ""


class CreditCardRecognizer(_Predefined):
    ENTITY = "CREDIT_CARD"
    PATTERNS = [
        Pattern(
            "All Credit Cards (weak)",
            r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))[- ]?(\d{3,4})[- ]?(\d{3,4})[- ]?(\d{3,5})\b",
            0.3,
        ),
    ]

    def __init__(self, patterns: list[Pattern] | None = None, replacement_pairs: list[tuple[str, str]] | None = None) -> None:
        self.replacement_pairs = replacement_pairs if replacement_pairs else [("-", ""), (" ", "")]
        super().__init__(patterns)

    def validate_result(self, pattern_text: str) -> bool:
        digits = [int(d) for d in sanitize_value(pattern_text, self.replacement_pairs)]  # Luhn
        checksum = sum(digits[-1::-2])
        for d in digits[-2::-2]:
            checksum += sum(int(x) for x in str(d * 2))
        return checksum % 10 == 0


class UsSsnRecognizer(_Predefined):
    ENTITY = "US_SSN"
    PATTERNS = [
        Pattern("SSN1 (very weak)", r"\b([0-9]{5})-([0-9]{4})\b", 0.05),
        Pattern("SSN2 (very weak)", r"\b([0-9]{3})-([0-9]{6})\b", 0.05),
        Pattern("SSN3 (very weak)", r"\b(([0-9]{3})-([0-9]{2})-([0-9]{4}))\b", 0.05),
        Pattern("SSN4 (very weak)", r"\b[0-9]{9}\b", 0.05),
        Pattern("SSN5 (medium)", r"\b([0-9]{3})[- .]([0-9]{2})[- .]([0-9]{4})\b", 0.5),
    ]

    def invalidate_result(self, pattern_text: str) -> bool:
        delimiters: dict[str, int] = defaultdict(int)
        for c in pattern_text:
            if c in (".", "-", " "):
                delimiters[c] += 1
        if len(delimiters) > 1:
            return True
        only_digits = "".join(c for c in pattern_text if c.isdigit())
        if all(only_digits[0] == c for c in only_digits):
            return True
        if only_digits[3:5] == "00" or only_digits[5:] == "0000":
            return True
        if only_digits[:3] in ("000", "666"):
            return True
        return only_digits in ("123456789", "987654320", "078051120")


class IpRecognizer(_Predefined):
    ENTITY = "IP_ADDRESS"
    PATTERNS = [
        Pattern(
            "IPv4_mapped",
            r"(?<![\w:])::(?:ffff(?::0{1,4})?:)?(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?\b",
            0.6,
        ),
        Pattern(
            "IPv4_embedded",
            r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){1,5}:(?:[0-9A-Fa-f]{1,4}:){0,4}|(?:[0-9A-Fa-f]{1,4}:){6})(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?\b",
            0.6,
        ),
        Pattern(
            "IPv4",
            r"\b(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?:/(?:[0-2]?\d|3[0-2]))?\b",
            0.6,
        ),
        Pattern(
            "IPv6",
            r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|:(?::[0-9A-Fa-f]{1,4}){1,7}|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?::[0-9A-Fa-f]{1,4}){1,6})(?:%[0-9a-zA-Z]+)?(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?(?![\w:]|\.\d)",
            0.6,
        ),
        Pattern("IPv6_unspecified", r"(?<![\w:])::(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?(?![\w:])", 0.1),
    ]

    def invalidate_result(self, pattern_text: str) -> bool | None:
        try:
            ipaddress.ip_interface(pattern_text)
        except ValueError:
            return True
        return None


class IbanRecognizer(_Predefined):
    """Its own match loop, as presidio's: for each match, the longest of the pattern's optional
    trailing groups that validates ("DE89 3704 0044 0532 0130 00 2 days" stops before " 2")."""

    ENTITY = "IBAN_CODE"
    PATTERNS = [
        Pattern(
            "IBAN Generic",
            r"(?<![A-Z0-9])([A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,6})"
            r"((?:[ -]?[A-Z0-9]{4})?)((?:[ -]?[A-Z0-9]{1,3})?)(?![A-Z0-9])",
            0.5,
        ),
    ]
    LETTERS = {ord(d): str(i) for i, d in enumerate(string.digits + string.ascii_uppercase)}
    FLAGS = re.DOTALL | re.MULTILINE

    def __init__(self, patterns: list[Pattern] | None = None, replacement_pairs: list[tuple[str, str]] | None = None) -> None:
        self.replacement_pairs = replacement_pairs or [("-", ""), (" ", "")]
        self.bos_eos: tuple[str, str] | tuple[()] = ()  # presidio's exact_match=False
        super().__init__(patterns, global_regex_flags=self.FLAGS)

    def validate_result(self, pattern_text: str) -> bool | None:
        try:
            pattern_text = sanitize_value(pattern_text, self.replacement_pairs)
            if self._check_digits(pattern_text) != pattern_text[2:4]:
                return False
            if self._valid_format(pattern_text):
                return True
            if self._valid_format(pattern_text.upper()):
                return None
            return False
        except ValueError:
            log.error("Failed to validate text %s", pattern_text)
            return False

    def _check_digits(self, iban: str) -> str:
        moved = (iban[:2] + "00" + iban[4:]).upper()
        return f"{98 - (int((moved[4:] + moved[:4]).translate(self.LETTERS)) % 97):0>2}"

    def _valid_format(self, iban: str):
        country_regex = regex_per_country.get(iban[:2], "")
        if not country_regex:
            return False
        if self.bos_eos:
            country_regex = self.bos_eos[0] + country_regex + self.bos_eos[1]
        try:
            return re.match(country_regex, iban, flags=self.FLAGS, timeout=REGEX_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("IBAN format validation regex timed out after %s seconds.", REGEX_TIMEOUT_SECONDS)
            return False

    def analyze(self, text: str, entities: list[str] | None = None, nlp_artifacts: object = None) -> list[Result]:
        results: list[Result] = []
        for pattern in self.patterns:
            try:
                for match in re.finditer(pattern.regex, text, flags=self.global_regex_flags, timeout=REGEX_TIMEOUT_SECONDS):
                    for group in reversed(range(1, len(match.groups()) + 1)):
                        start = match.span(0)[0]
                        end = match.span(group)[1] if match.span(group)[1] > 0 else match.span(0)[1]
                        current = text[start:end]
                        if current == "":
                            continue
                        score = pattern.score
                        valid = self.validate_result(current)
                        if valid is not None:
                            score = MAX_SCORE if valid else MIN_SCORE
                        if score > MIN_SCORE:
                            results.append(Result(self.supported_entity, start, end, score))
                            break
            except TimeoutError:
                log.warning("Regex pattern '%s' timed out after %s seconds, skipping.", pattern.name, REGEX_TIMEOUT_SECONDS)
        return results


__all__ = ["BOS", "EOS", "CreditCardRecognizer", "EmailRecognizer", "IbanRecognizer", "IpRecognizer", "Pattern", "PatternRecognizer",
           "Result", "UsSsnRecognizer", "remove_duplicates"]
