"""The detector's memo of findings (privacy/findings_cache.py): a repeated text is read once, its
text is never kept, and the second reader's budget is charged as a fresh read would be."""

from __future__ import annotations

import pytest

from rightmodel.privacy.config import PrivacyConfig
from rightmodel.privacy.findings_cache import MIN_CHARS, FindingsCache
from rightmodel.privacy.name_reader import ReadingBudget

SYSTEM = ("You are the support assistant of Northwind Bank. Escalate anything about fraud to Maria Lindqvist "
          "and keep answers under 80 words. Classify the customer's message into one of the intents.")


@pytest.fixture(scope="module")
def detector():
    from rightmodel.privacy.detector import Detector

    return Detector(PrivacyConfig())


@pytest.fixture(autouse=True)
def memo_on(monkeypatch, detector):
    import rightmodel.privacy.detector as module

    monkeypatch.setattr(module, "CACHE_MIN_CHARS", MIN_CHARS)  # conftest turns it off for other tests
    detector.cache.clear()


def counting(detector, monkeypatch) -> list[str]:
    reads: list[str] = []
    real = detector._find

    def find(text, *args):
        reads.append(text)
        return real(text, *args)

    monkeypatch.setattr(detector, "_find", find)
    return reads


def test_a_repeated_text_is_read_once_with_the_same_findings(detector, monkeypatch):
    reads = counting(detector, monkeypatch)
    first = detector.detect(SYSTEM)
    first.append("a caller's own change")  # callers extend the list they get (cross-field pass)
    second = detector.detect(SYSTEM)
    assert reads == [SYSTEM]
    assert second == first[:-1] and any(SYSTEM[e.start:e.end] == "Maria Lindqvist" for e in second)
    assert detector.cache.hits == 1


def test_the_memo_keeps_no_text(detector):
    detector.detect(SYSTEM)
    for key, entry in detector.cache._items.items():
        assert isinstance(key, bytes) and len(key) == 16
        assert all(isinstance(v, (int, float, str)) and (not isinstance(v, str) or len(v) < 20)
                   for e in entry.found for v in (e.start, e.end, e.type, e.score, e.source))
    assert "Lindqvist" not in repr(detector.cache._items)


def test_unsure_reads_are_kept_apart_and_short_texts_not_at_all(detector, monkeypatch):
    reads = counting(detector, monkeypatch)
    detector.detect(SYSTEM)
    detector.detect(SYSTEM, unsure=True)
    short = "Hi Anna, thanks."
    detector.detect(short)
    detector.detect(short)
    assert reads == [SYSTEM, SYSTEM, short, short]


def test_a_hit_costs_the_budget_what_a_read_would(detector, monkeypatch):
    text = "Please forward this to Said and to Hope before noon; Grace asked for it. " * 2
    fresh = ReadingBudget()
    detector.detect(text, budget=fresh)
    used = ReadingBudget().windows - fresh.windows
    assert used > 0  # the reader had doubtful words to read here
    reads = counting(detector, monkeypatch)
    again = ReadingBudget()
    detector.detect(text, budget=again)
    assert reads == [] and again.windows == fresh.windows
    short_of_it = ReadingBudget(used - 1)
    detector.detect(text, budget=short_of_it)
    assert reads == [text]  # not enough budget left: read afresh, under the budget it has


def test_a_read_the_budget_cut_short_is_not_kept(detector, monkeypatch):
    text = "Please forward this to Said and to Hope before noon; Grace asked for it. " * 2
    detector.detect(text, budget=ReadingBudget(0))
    assert len(detector.cache) == 0


def test_the_memo_is_bounded_and_can_be_off():
    from rightmodel.privacy.detector import Detector
    from rightmodel.privacy.entities import Entity

    cache = FindingsCache(2)
    keys = [FindingsCache.key(f"text {i}" * 20, False) for i in range(3)]
    for k in keys:
        cache.put(k, [Entity(0, 1, "PERSON", 0.8, "tagger")], 0)
    assert len(cache) == 2 and cache.get(keys[0]) is None and cache.get(keys[2]) is not None
    assert Detector(PrivacyConfig(cache_entries=0, name_reader=False)).cache is None
