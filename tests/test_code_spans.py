"""Lower-case identifiers in Markdown code and dotted suffixes are not names; names still are."""

from __future__ import annotations

import pytest

from rightmodel.privacy.code_spans import without_code
from rightmodel.privacy.config import PrivacyConfig
from rightmodel.privacy.detector import Detector
from rightmodel.privacy.entities import Entity


def person(text: str, value: str) -> Entity:
    start = text.index(value)
    return Entity(start, start + len(value), "PERSON", 0.8, "tagger")


@pytest.mark.parametrize("text, value, kept", [
    ("memory leaks in Node.js services", "js", False),
    ('File "app/main.py", line 42', "py", False),
    ("the difference between `git merge` and `git rebase`", "git rebase", False),
    ("```\nname,qty,price\ngadget,,4.00\n```", "qty", False),
    ("```json\n{\"customer\": \"Billie Smith\"}\n```", "Billie Smith", True),  # capitalised: still a name
    ("please ask billie smith about it", "billie smith", True),
    ("contact j.smith about the renewal", "smith", True),  # after an initial, not a word
    ("unclosed ```\nqty = 3", "qty", False),
])
def test_without_code(text: str, value: str, kept: bool) -> None:
    e = person(text, value)
    assert (without_code(text, [e]) == [e]) is kept


def test_detector_leaves_code_identifiers_and_finds_names() -> None:
    det = Detector(PrivacyConfig())
    text = "Translate to Kotlin:\n```python\nwords = [\"apple\", \"banana\", \"cherry\"]\n```\nplease ask billie smith about it"
    found = [text[e.start:e.end] for e in det.detect(text) if e.type == "PERSON"]
    assert "cherry" not in found and "billie smith" in found


@pytest.mark.parametrize("text, absent, present", [
    ("Which is right? A. A defendant was marooned. D. A woman consulted an attorney.", ["A.", "D."], []),
    ("Let C be the circle in the yz-plane and State B the second party.", ["C", "B"], []),
    ("Signed, J. Smith", [], ["J. Smith"]),  # an initial with its name stays one finding
])
def test_lone_letters_are_not_names(text: str, absent: list[str], present: list[str]) -> None:
    found = [text[e.start:e.end] for e in Detector(PrivacyConfig()).detect(text) if e.type == "PERSON"]
    assert not set(absent) & set(found) and set(present) <= set(found), found
