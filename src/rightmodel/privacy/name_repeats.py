"""A name found once is found wherever it recurs in the same text.

Why: the tagger judges each occurrence by its own context, so "Chidi Okafor" in a signature can be
found while "okafor's laptop" two lines up is not — and a name redacted in one place and sent
verbatim in another has leaked. After detection, every other occurrence of a word of a found
name, in any case, becomes PERSON too. Run over the whole text after chunking, so the answer does
not depend on where chunk seams fall.

Not propagated: stop words, particles, one-letter words; and a dictionary word ("Rose Green" ...
"the green button") unless written in a case it was found in and not opening a sentence.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter

from rightmodel.privacy.entities import Entity
from rightmodel.privacy.gazetteer import Gazetteer

_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_WORD_CHAR = re.compile(r"\w")
_SENTENCE_OPENERS = frozenset(".!?:;\n-•*\"(|#>–—“«")
SCORE = 0.8


def recurrences(text: str, found: list[Entity], gazetteer: Gazetteer, skip: frozenset[str]) -> list[Entity]:
    """PERSON spans for the other occurrences of found names' words; `found` sorted by start and
    non-overlapping (a detector's answer); `skip`: lower-case words never propagated."""
    cases: dict[str, set[str]] = {}
    inside: Counter[str] = Counter()
    case_of_word = _CaseOf()  # a long text repeats its names: each word's case judged once
    for e in found:
        if e.type != "PERSON":
            continue
        for word in _WORD.findall(text, e.start, e.end):
            low = word.lower()
            inside[low] += 1
            if len(word) > 1 and not word.isdigit() and low not in skip:
                cases.setdefault(low, set()).add(case_of_word[word])
    if not cases:
        return []
    # Most names occur once: look further only for words that recur. One C-level tokenisation of
    # the text counts every word (a count per name word would rescan the text once per name).
    low_text = text.lower()
    counts = Counter(_WORD.findall(low_text))
    recurring = [w for w in cases if counts[w] + counts[w + "'s"] + counts[w + "’s"] > inside[w]]
    if not recurring:
        return []
    starts = [e.start for e in found]
    out: list[Entity] = []
    # Visit only the words that may be recurrences, found by substring search (C speed), not every
    # word of the text: a long text full of names (issue 17's 'John Smith met Anna.' x 50,000) made
    # a walk over all its words the slowest step. No per-text regex to compile either.
    for start in _word_starts(text, low_text, recurring):
        m = _WORD.match(text, start)
        if m is None:
            continue
        word = m.group()
        end = m.end()
        seen = cases.get(word.lower())
        if seen is None and word[-2:] in ("'s", "’s"):  # "okafor's laptop"
            word, end = word[:-2], end - 2
            seen = cases.get(word.lower())
        if seen is None:
            continue
        i = bisect_right(starts, start) - 1
        if (i >= 0 and found[i].end > start) or (i + 1 < len(found) and found[i + 1].start < end):
            continue  # already part of a finding
        case = case_of_word[word]
        if case not in "TULM":
            continue
        if gazetteer.classes(word)[4] and (case not in seen or _opens_sentence(text, start)):
            continue
        if out and out[-1].end < start and text[out[-1].end:start] == " ":
            out[-1] = Entity(out[-1].start, end, "PERSON", SCORE, "tagger")  # "isabel morales": one name
        else:
            out.append(Entity(start, end, "PERSON", SCORE, "tagger"))
    return out


def _word_starts(text: str, low_text: str, words: list[str]) -> list[int]:
    """Sorted starts of the `_WORD` tokens that begin with one of `words` (lower case): the same
    tokens a left-to-right `_WORD.finditer` yields, so a hit inside a longer word or a hyphenated
    or apostrophe compound ("smith-jones", "o'smith") is no token start and is dropped."""
    if len(low_text) != len(text):  # lower() changed a length ("İ"): positions would not line up
        return [m.start() for m in _WORD.finditer(text)]
    hits: set[int] = set()
    for w in words:
        at = low_text.find(w)
        while at >= 0:
            hits.add(at)
            at = low_text.find(w, at + 1)
    return [at for at in sorted(hits) if _starts_word(text, at)]


def _starts_word(text: str, at: int) -> bool:
    if at == 0:
        return True
    if _WORD_CHAR.match(text, at - 1):
        return False
    # a joiner between two word characters continues the word before it
    return not (text[at - 1] in "'’-" and at >= 2 and _WORD_CHAR.match(text, at - 2))


class _CaseOf(dict):
    """word -> name_tagger.case_of(word), computed on first use."""

    def __missing__(self, word: str) -> str:
        from rightmodel.privacy.name_tagger import case_of

        case = self[word] = case_of(word)
        return case


def _opens_sentence(text: str, at: int) -> bool:
    i = at - 1
    while i >= 0 and text[i] in " \t":  # (not text[:at].rstrip(): that copies the whole prefix, quadratic in a long text)
        i -= 1
    return i < 0 or text[i] in _SENTENCE_OPENERS
