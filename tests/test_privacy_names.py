"""The PERSON tagger on words that are not names (issue 16: PII-free prompts must not be altered)
and on name shapes it used to miss. Real shipped weights and gazetteer; no stand-ins.

The texts here were written for this test: none comes from bench/privacy (its instruction prompts,
MMLU questions or labelled sets), so passing says nothing about the bench's numbers by construction.
"""

from __future__ import annotations

import pytest

from rightmodel.privacy.config import PrivacyConfig


@pytest.fixture(scope="module")
def detector():
    from rightmodel.privacy.detector import Detector

    return Detector(PrivacyConfig())


@pytest.fixture(scope="module")
def gazetteer():
    from rightmodel.privacy.gazetteer import Gazetteer

    return Gazetteer()


def people(detector, text: str) -> list[str]:
    return [text[e.start:e.end] for e in detector.detect(text) if e.type == "PERSON"]


def test_dictionary_words_are_flagged_and_names_are_not(gazetteer):
    # (given-name class, surname class, common word, cluster, dictionary word)
    for word in ("osmosis", "Leasehold", "Sonnet", "assignee", "Catalyst"):
        assert gazetteer.classes(word)[4], word
    for word in ("renders", "Bales", "studied", "wrapping"):  # inflected forms count through their stem
        assert gazetteer.classes(word)[4], word
    for word in ("Jepsen", "Swickheimer", "Ragnhild", "Oyelaran"):  # ("Morales" is flagged: morale + s)
        assert not gazetteer.classes(word)[4], word
    first, last, *_ = gazetteer.classes("Isabel")
    assert first > 0  # the name classes are what they were


@pytest.mark.parametrize("text", [
    "Explain Osmosis to a ten-year-old in three sentences.",
    "Rewrite this heading in sentence case: Quarterly Revenue Outlook",
    "- Catalyst\n- Enzyme\n- Substrate\nWhich of these is consumed by the reaction?",
    "Convert this YAML to TOML and keep the comments.",
    "Summarise the leasehold terms below for the tenant, in plain words.",
])
def test_capitalised_vocabulary_in_prompts_is_not_a_name(detector, text):
    assert people(detector, text) == []


@pytest.mark.parametrize("text, name", [
    ("please ask tina h. pitts to sign the form", "tina h. pitts"),
    ("Reviewer: Ragnhild Jepsen", "Ragnhild Jepsen"),
    ("can you add isabel morales to the invoice?", "isabel morales"),
    ("Dear Mr. Oyelaran, your refund was sent.", "Oyelaran"),
])
def test_names_in_several_shapes_are_covered(detector, text, name):
    at = text.index(name)
    found = [e for e in detector.detect(text) if e.type == "PERSON"]
    letters = [i for i in range(at, at + len(name)) if text[i].isalnum()]
    assert all(any(e.start <= i < e.end for e in found) for i in letters), (text, people(detector, text))


def test_a_name_found_once_is_found_wherever_it_recurs(detector):
    """A name redacted in one place and sent verbatim in another leaks: every recurrence, in any
    case or shape, is covered once one occurrence is found."""
    text = "Ticket from Oyelaran Adebayo-Kuti. Later: adebayo-kuti says the refund never came; please call Mr Oyelaran."
    found = people(detector, text)
    assert "Oyelaran Adebayo-Kuti" in found
    assert "adebayo-kuti" in found and "Oyelaran" in [f.split()[-1] for f in found[1:]]


def test_a_recurring_dictionary_word_is_not_taken_for_the_name_it_was_part_of(detector):
    # "Rose Green" is a name; "green" in lower case and "Green" opening a sentence are words.
    text = "Rose Green called about her order. Green means the parcel left; the green button confirms it."
    found = people(detector, text)
    assert "Rose Green" in found
    assert all(text.count(f) and f.lower() != "green" for f in found), found


def test_finding_a_names_recurrences_is_linear_in_the_text():
    """Each recurrence of a name that is also a word asks whether it opens a sentence: looking back
    must cost the few characters before it, not the whole text before it."""
    import time

    from rightmodel.privacy.entities import Entity
    from rightmodel.privacy.gazetteer import Gazetteer
    from rightmodel.privacy.name_repeats import recurrences

    gazetteer = Gazetteer()
    per_kb = {}
    for kb in (16, 1024):
        text = ("Rose Green called. " + "Later we met Green there. " * (kb * 1024 // 26))[: kb * 1024]
        found = [Entity(0, 10, "PERSON", 0.8, "tagger")]
        recurrences(text[:3000], found, gazetteer, frozenset())  # warm caches
        started = time.perf_counter()
        more = recurrences(text, found, gazetteer, frozenset())
        per_kb[kb] = (time.perf_counter() - started) / kb
        assert len(more) >= kb * 1024 // 26 - 1
    assert per_kb[1024] < 3 * per_kb[16], per_kb  # copying the text before each one: ~8x here
