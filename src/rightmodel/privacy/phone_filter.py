"""A cheap, sound test that a digit run cannot be a phone number of a region, before libphonenumber.

`phonenumbers.parse` and `is_valid_number` cost ~0.1 ms each, and a bare digit run that is no
number is tried in every configured region: a page of numeric CSV cost ~20 ms per KB. Most runs
fail on the region's own metadata at once (length, number pattern), so each region is first asked
with compiled regular expressions over the national numbers libphonenumber could derive from the
digits: as written, without the region's country code, without its national prefix. Only regions
that say "maybe" are parsed. The test may answer "maybe" for a number that fails, never "no" for
one that passes: detection is unchanged (a test compares with and without it).

Regions whose parsing rewrites numbers (a national-prefix transform rule) or whose international
dialling prefix starts the digits are always parsed.

Most digit runs that pass that test are numbers parse() takes as they are (no country code, no
national prefix, no dialling prefix in front): for those `exact` answers (valid, possible) itself,
from the same metadata in the same order as is_valid_number() and is_possible_number() read it,
and libphonenumber is not called at all. A numeric table has tens of thousands of such runs per MB
and a parse costs ~0.1 ms each. A test compares `exact` with libphonenumber over random numbers of
many regions, lengths and shapes.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
          "voicemail", "fixed_line", "mobile")

def _by_length(descs: list) -> dict[int, "re.Pattern[str]"]:
    """Per national-number length, one expression joining the patterns of the descriptions that
    allow that length: one C call instead of a Python loop, and as strict as each on its own."""
    patterns: dict[int, set[str]] = {}
    for d in descs:
        if d is None or not d.national_number_pattern or tuple(d.possible_length) == (-1,):
            continue
        for length in d.possible_length or range(1, 18):  # no lengths listed: any
            patterns.setdefault(length, set()).add(d.national_number_pattern)
    return {n: re.compile("|".join(f"(?:{p})" for p in sorted(ps))) for n, ps in patterns.items()}


class _RegionRules:
    """One region's validity test as libphonenumber's _number_type_helper applies it: the general
    description and then any type (mobile only where its pattern differs from fixed line's, as
    there), each with its own possible lengths."""

    def __init__(self, meta) -> None:  # noqa: ANN001 (phonenumbers' PhoneMetadata)
        self.leading_digits = re.compile(meta.leading_digits) if meta.leading_digits is not None else None
        self.general = _by_length([meta.general_desc])
        self.types = _by_length([getattr(meta, t) for t in _TYPES
                                 if not (t == "mobile" and meta.same_mobile_and_fixed_line_pattern)])

    def valid(self, number: str) -> bool:
        general, types = self.general.get(len(number)), self.types.get(len(number))
        return general is not None and types is not None and general.fullmatch(number) is not None \
            and types.fullmatch(number) is not None


_Steps = list[tuple["re.Pattern[str] | None", "list[_RegionRules]"]]


def _steps(rules: list[_RegionRules]) -> _Steps:
    """libphonenumber's choice among the regions sharing a country code, in as few steps as it
    allows: they are asked in order, each by its leading digits if it has them, or else by
    validity. Consecutive leading-digit regions (NANPA: 23 of 25) become one alternation whose
    first matching branch, as in that loop, names the region."""
    steps: _Steps = []
    run: list[_RegionRules] = []
    for r in [*rules, None]:
        if r is not None and r.leading_digits is not None:
            run.append(r)
            continue
        if run:
            steps.append((re.compile("|".join(f"(?P<r{i}>{x.leading_digits.pattern})" for i, x in enumerate(run))), run))
            run = []
        if r is not None:
            steps.append((None, [r]))
    return steps


def _valid_in(steps: _Steps, digits: str) -> bool:
    """is_valid_number for `digits` in a country code of several regions: judged by the region
    it picks (see _steps); no region picked: not valid."""
    for leading, rules in steps:
        if leading is None:
            if rules[0].valid(digits):
                return True
            continue
        m = leading.match(digits)
        if m is not None:
            return rules[int(m.lastgroup[1:])].valid(digits)
    return False


class RegionFilter:
    """What one default region could make of a national digit run, from its metadata alone."""

    def __init__(self, region: str) -> None:
        import phonenumbers
        from phonenumbers.phonemetadata import PhoneMetadata

        meta = PhoneMetadata.metadata_for_region(region)
        self.always_parse = meta is None or bool(meta.national_prefix_transform_rule)
        if self.always_parse:
            return
        self.country_code = str(meta.country_code)
        self.idd = re.compile(meta.international_prefix) if meta.international_prefix else None
        self.national_prefix = re.compile(meta.national_prefix_for_parsing) if meta.national_prefix_for_parsing else None
        # is_valid_number accepts a number valid in any region sharing the country code (+1: 25 regions):
        # valid means the general pattern and one type's pattern (fixed line, mobile, toll free...) match.
        general: list = []
        types: list = []
        self.possible_lengths: set[int] = set()
        for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, (region,)):
            m = PhoneMetadata.metadata_for_region(other)
            if m is None:
                continue
            general.append(m.general_desc)
            types.extend(getattr(m, t) for t in _TYPES)
            self.possible_lengths.update(m.general_desc.possible_length, m.general_desc.possible_length_local_only)
        self.general = _by_length(general)
        self.types = _by_length(types)
        # For `exact`: every region of the country code in libphonenumber's order (is_valid_number
        # picks one by leading digits or validity), and the possible lengths of its main region
        # (is_possible_number reads only that one).
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, (region,))
        rules = [_RegionRules(m) for m in map(PhoneMetadata.metadata_for_region, regions) if m is not None]
        # A country code of one region: that region, whatever the digits; of several: _steps.
        self.alone = rules[0] if len(regions) == 1 else None
        self.steps = _steps(rules)
        self.valid_lengths = frozenset(n for r in rules for n in r.general)
        main = PhoneMetadata.metadata_for_region(regions[0]) or meta
        self.main_lengths = frozenset(main.general_desc.possible_length) | frozenset(main.general_desc.possible_length_local_only)
        self.main_lengths -= {-1}

    def exact(self, digits: str) -> tuple[bool, bool] | None:
        """(valid, possible) as parse(digits, region) then is_valid_number / is_possible_number
        would answer, for a run parse() takes unchanged as the national number; None for any other
        (a country code, a national prefix or a dialling prefix in front: ask libphonenumber).

        `digits` must be what parse() reads: digits, maybe written with spaces, dashes, dots,
        brackets or slashes (the caller checks), 2 to 17 of them."""
        if self.always_parse or not 2 <= len(digits) <= 17 or digits.startswith(self.country_code):
            return None
        if self.idd is not None and self.idd.match(digits):
            return None
        if self.national_prefix is not None:
            m = self.national_prefix.match(digits)
            if m is not None and m.end():
                return None
        possible = len(digits) in self.main_lengths
        if len(digits) not in self.valid_lengths:
            return False, possible
        return (self.alone.valid(digits) if self.alone is not None else _valid_in(self.steps, digits)), possible

    def national_numbers(self, digits: str) -> set[str]:
        """Every national significant number parse() could derive from `digits` (a superset)."""
        bases = {digits}
        if digits.startswith(self.country_code):
            bases.add(digits[len(self.country_code):])
        out = set(bases)
        if self.national_prefix is not None:
            for base in bases:
                m = self.national_prefix.match(base)
                if m is not None and m.end():
                    out.add(base[m.end():])
        return out

    def may_match(self, digits: str, need_possible: bool) -> bool:
        """False only when parse() with this region can give neither a valid number nor, if
        `need_possible`, a possible one."""
        if self.always_parse or (self.idd is not None and self.idd.match(digits)):
            return True
        for number in self.national_numbers(digits):
            if need_possible and len(number) in self.possible_lengths:
                return True
            general, types = self.general.get(len(number)), self.types.get(len(number))
            if general is not None and types is not None and general.fullmatch(number) and types.fullmatch(number):
                return True
        return False


@lru_cache(maxsize=64)
def region_filters(regions: tuple[str, ...]) -> tuple[RegionFilter, ...]:
    """Filters for the configured regions, built once per process (metadata is read-only)."""
    return tuple(RegionFilter(r) for r in regions)
