"""The validated pattern recognizers (privacy/recognizers.py): what each finds, what it must not,
and seeded property tests that any valid value in any written shape is found exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from rightmodel.privacy.config import CustomEntity, PrivacyConfig
from rightmodel.privacy.patterns import PatternDetector
from rightmodel.privacy.recognizers import (
    CardRecognizer,
    CustomRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    SsnRecognizer,
)


def spans(recognizer, text: str, min_score: float = 0.4) -> list[str]:
    return [text[e.start:e.end] for e in recognizer.find(text) if e.score >= min_score]


@pytest.mark.parametrize("text, expected", [
    ("write to anna.b+news@mail.example.co.uk.", ["anna.b+news@mail.example.co.uk"]),
    ("Jürgen.Müller@beispiel.de ok", ["Jürgen.Müller@beispiel.de"]),
    ("root@localhost and x@y.zz and a@build.internal", []),  # no public suffix
    ("see /home/Porter/troy91@example.net", ["troy91@example.net"]),
])
def test_email(text: str, expected: list[str]) -> None:
    assert spans(EmailRecognizer(), text) == expected


@pytest.mark.parametrize("text, expected", [
    ("card 4111 1111 1111 1111 exp", ["4111 1111 1111 1111"]),
    ("card 4111.1111.1111.1111.", ["4111.1111.1111.1111"]),
    ("card 4111-1111-1111-1111", ["4111-1111-1111-1111"]),
    ("amex 3782 822463 10005", ["3782 822463 10005"]),
    ("a 12-digit card starting with 0: 012345678903", ["012345678903"]),
    ("19 digits 4222222222222222224", ["4222222222222222224"]),
    ("not Luhn 4111 1111 1111 1112", []),
    ("mixed separators 4111 1111-1111 1111", []),
    ("a longer run 41111111111111110000000", []),
    ("card 4539 1488 0343 6467 12/26 123", ["4539 1488 0343 6467"]),  # the expiry's month is not a 19th digit
    ("card 4539 1488 0343 6467 12 26 123", ["4539 1488 0343 6467"]),  # ...nor with the card's own separator
    ("card 4539-1488-0343-6467-12-26.", ["4539-1488-0343-6467"]),
    ("card 4539.1488.0343.6467.12.2026 ok", ["4539.1488.0343.6467"]),
    ("nineteen digits 4222 2222 2222 2222 224 26", ["4222 2222 2222 2222 224"]),  # a three-digit group is the card's
    ("card 4539 1488 0343 6467 13 26", []),  # 13 is no month: one 20-digit number, as before
    ("label 1ZVGS3386273085712 and parcel 5097 7741 7727 2096 0563 44", []),  # tracking numbers that pass Luhn
    ("parcel 1189 6820 7485 6660 9888 67 arrived", []),  # ...or whose fours from the second group on would
])
def test_card(text: str, expected: list[str]) -> None:
    assert spans(CardRecognizer(), text) == expected


@pytest.mark.parametrize("text, expected", [
    ("IBAN DE89 3704 0044 0532 0130 00, thanks", ["DE89 3704 0044 0532 0130 00"]),
    ("iban de89 3704 0044 0532 0130 00 from my account", ["de89 3704 0044 0532 0130 00"]),  # the next word is not swallowed
    ("gb82west12345698765432.", ["gb82west12345698765432"]),
    ("GB82-WEST-1234-5698-7654-32", ["GB82-WEST-1234-5698-7654-32"]),
    ("id ab12 DE89 3704 0044 0532 0130 00", ["DE89 3704 0044 0532 0130 00"]),  # a false head before it costs nothing
    ("DE89 3704 0044 0532 0130 01", []),  # checksum
    ("DE89370400440532013000123", []),  # too long for Germany
    ("XX89 3704 0044 0532 0130 00", []),  # no such country
])
def test_iban(text: str, expected: list[str]) -> None:
    assert spans(IbanRecognizer(), text) == expected


@pytest.mark.parametrize("text, expected", [
    ("ssn 536-22-8726.", ["536-22-8726"]),
    ("ssn 536 22 8726", ["536 22 8726"]),
    ("ssn 536.22-8726", []),  # two kinds of separator
    ("000-22-8726 666-22-8726 536-00-8726 536-22-0000 111-11-1111 123-45-6789", []),  # never issued / placeholders
    ("my SSN is 536228726", ["536228726"]),  # nine digits where words say what they are
    ("social security number: 536228726", ["536228726"]),
    ("order 536228726 shipped", []),  # nine digits alone: an order number as often
])
def test_ssn(text: str, expected: list[str]) -> None:
    assert spans(SsnRecognizer(), text) == expected


@pytest.mark.parametrize("text, expected", [
    ("server 10.0.0.1. next", ["10.0.0.1"]),
    ("net 10.0.0.0/8 is private", ["10.0.0.0/8"]),
    ("addr fe80::1%eth0 and 2001:db8::1.", ["fe80::1%eth0", "2001:db8::1"]),
    ("mapped ::ffff:10.1.2.3 here", ["10.1.2.3", "::ffff:10.1.2.3"]),
    ("version 1.2.3.4.5 and 192.168.1.300", []),
    ("std::vector<int> a::b at 12:30:45 and ::", []),
    ("print(b[::2]) or ::1", []),  # a slice; one group beside "::" is no host of anyone's
    # a dotted quad a word calls a version is one; the host beside it is still an address
    ("upgrading to 6.17.7.54 (version 2.25.6.73, firmware 7.17.3.19) broke host 10.0.0.1", ["10.0.0.1"]),
])
def test_ip(text: str, expected: list[str]) -> None:
    assert sorted(spans(IpRecognizer(), text)) == sorted(expected)


def test_custom_patterns_and_deny_list() -> None:
    r = CustomRecognizer(CustomEntity(type="CODENAME", patterns=[r"\bemp-\d{6}\b"], deny_list=["Project Bluebird", "C++"]))
    text = "EMP-884213 on project BLUEBIRD, not Project Bluebirds; C++ yes"
    assert [text[e.start:e.end] for e in r.find(text)] == ["EMP-884213", "project BLUEBIRD", "C++"]


def test_detector_keeps_scores_at_or_above_min_score() -> None:
    text = "order 536228726 and ssn 536-22-8726"
    strict = PatternDetector(PrivacyConfig(entities=["US_SSN"], min_score=0.4)).find(text)
    loose = PatternDetector(PrivacyConfig(entities=["US_SSN"], min_score=0.01)).find(text)
    assert [text[e.start:e.end] for e in strict] == ["536-22-8726"]
    assert sorted(text[e.start:e.end] for e in loose) == ["536-22-8726", "536228726"]


_WORDS = st.sampled_from(["please", "refund", "to", "the", "card", "account", "Thanks!", "(urgent)", "ok,", "—", "\n"])
_PROSE = st.lists(_WORDS, max_size=6).map(" ".join)


@st.composite
def cards(draw) -> str:
    body = draw(st.text("0123456789", min_size=11, max_size=18))
    number = body + luhn.calc_check_digit(body)
    if len(number) == 16 and draw(st.booleans()):
        sep = draw(st.sampled_from(" .-"))
        number = sep.join(number[i:i + 4] for i in range(0, 16, 4))
    return number


@st.composite
def ibans(draw) -> str:
    country, bban = draw(st.sampled_from([("DE", "370400440532013000"), ("GB", "WEST12345698765432"), ("FR", "20041010050500013M02606"),
                                          ("NL", "ABNA0417164300"), ("CH", "0483501234567800A")]))
    bban = "".join(draw(st.sampled_from("0123456789")) if c.isdigit() else c for c in bban)  # other accounts, same shape
    value = country + mod_97_10.calc_check_digits(bban + country) + bban
    if draw(st.booleans()):
        value = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value.lower() if draw(st.booleans()) else value


@settings(max_examples=150, deadline=None, derandomize=True)
@given(before=_PROSE, value=cards(), after=_PROSE)
def test_any_valid_card_in_prose_is_found_exactly(before: str, value: str, after: str) -> None:
    text = f"{before} {value} {after}"
    assert value in spans(CardRecognizer(), text)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(before=_PROSE, value=ibans(), after=_PROSE)
def test_any_valid_iban_in_any_case_is_found_exactly(before: str, value: str, after: str) -> None:
    text = f"{before} {value} {after}"
    assert spans(IbanRecognizer(), text) == [value]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=ibans(), at=st.integers(0, 40), digit=st.sampled_from("0123456789"))
def test_an_iban_is_kept_exactly_when_stdnum_validates_it(value: str, at: int, digit: str) -> None:
    """find() checks mod-97 itself after matching the registry's shape: the same verdict as
    stdnum's iban.validate (which looks the shape up again), right or mistyped."""
    from stdnum import iban

    at %= len(value)
    if value[at].isdigit():
        value = value[:at] + digit + value[at + 1:]
    assert bool(spans(IbanRecognizer(), f"pay {value} now")) == iban.is_valid(value, check_country=False)
