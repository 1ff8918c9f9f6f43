"""Names by the company they keep: the other items of a list or a table column whose items are
mostly names already found.

Why: "Said, Atinuke, Lotta, Alesha, Zwatie, Samuel" or a table's name column gives each item no
sentence of its own, so the tagger judges a rare or ambiguous one ("Zwatie", "Emmanuelle") by
itself and may miss it, while the items found beside it say what the slot holds. When at least two
items of an enumeration or a column, and at least half of them, are found names, every other item
that could be a name (one to three words of letters, no stop word, no everyday word that is not
also a listed name) is taken for one too.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator

from rightmodel.privacy.entities import Entity
from rightmodel.privacy.name_fields import csv_fields, locate
from rightmodel.privacy.name_scoring import Info

_WORD = r"\b(?!(?:and|or)\b)(?:[^\W\d_]\.|[^\W\d_][\w'’-]*)"  # "Kyle and Camille" is two items
_ITEM = rf"{_WORD}(?:[ ]{_WORD}){{0,2}}"
# At most one space before a separator: a value the patterns found is blanked to spaces before the
# name passes run, and "Card ____, holder Kiplagat" is no list.
_SEP = r"(?:[ ]?[,;&][ \t]?(?:and[ \t]|&[ \t]?)?|[ ](?:and|&)[ ])"
_ENUMERATION = re.compile(rf"(?<![\w'’-]){_ITEM}(?:{_SEP}{_ITEM}){{2,}}(?![\w'’-])")
_ITEM_RE = re.compile(_ITEM)
_NAME_WORD = re.compile(r"(?:[^\W\d_]\.|[^\W\d_](?:[^\W\d_]|['’-])*)")  # no digits, no underscores
_TABLE_LINE = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
_RULE = re.compile(r"^[ \t]*\|[ \t:|-]*-[ \t:|-]*\|[ \t]*$")
SCORE = 0.8
Span = tuple[int, int]


def list_mates(text: str, people: list[Entity], describe: Callable[[str], Info]) -> list[Entity]:
    """PERSON spans for unfound items of enumerations and table columns that are mostly names."""
    if not people:
        return []
    found = sorted((e.start, e.end) for e in people)
    out: list[Entity] = []
    for group, headed in _groups(text):
        hit = [_overlaps(found, a, b) for a, b in group]
        if sum(hit) >= 2 and 2 * sum(hit) >= len(group) - headed:
            out.extend(Entity(a, b, "PERSON", SCORE, "list") for (a, b), h in zip(group, hit)
                       if not h and _could_be_a_name(text[a:b], describe))
    return out


def _groups(text: str) -> Iterator[tuple[list[Span], int]]:
    """Item spans of each enumeration, each table column and each delimited-text column, and how
    many of them may be a header (a column's first cell is not held against it)."""
    if "," in text or "&" in text or " and " in text or ";" in text:
        for m in _ENUMERATION.finditer(text):
            yield [(m.start() + i.start(), m.start() + i.end()) for i in _ITEM_RE.finditer(m.group())], 0
    if "\n" in text:
        for column in _columns(text):
            yield column, 1


def _columns(text: str) -> Iterator[list[Span]]:
    rows: list[list[Span]] = []
    delimiter: str | None = None
    pos = 0
    for line in text.split("\n"):
        if _RULE.match(line):  # |---|:--:| under a header
            pos += len(line) + 1
            continue
        cells, kind = _cells(line, pos)
        if cells is not None and (kind == delimiter or not rows) and (not rows or len(cells) == len(rows[0])):
            rows.append(cells)
            delimiter = kind
        else:
            yield from _by_column(rows)
            rows, delimiter = ([cells], kind) if cells is not None else ([], None)
        pos += len(line) + 1
    yield from _by_column(rows)


def _cells(line: str, offset: int) -> tuple[list[Span] | None, str | None]:
    """A table row's cell spans (trimmed), and which kind of row it is."""
    if _TABLE_LINE.match(line):
        inner_start = line.index("|") + 1
        inner_end = line.rindex("|")
        return _split(line, offset, inner_start, inner_end, "|"), "|"
    for d in ("\t", ",", ";"):
        if d in line:
            values = csv_fields(line, d)
            if values is None or len(values) < 2:
                return None, None
            spans = locate(line, [v.strip() for v in values])
            return [(offset + s[0], offset + s[1]) if s else (offset, offset) for s in spans], d
    return None, None


def _split(line: str, offset: int, start: int, end: int, sep: str) -> list[Span]:
    spans, at = [], start
    for piece in line[start:end].split(sep):
        lead = len(piece) - len(piece.lstrip())
        core = piece.strip()
        spans.append((offset + at + lead, offset + at + lead + len(core)))
        at += len(piece) + 1
    return spans


def _by_column(rows: list[list[Span]]) -> Iterator[list[Span]]:
    if len(rows) < 3:
        return
    for k in range(len(rows[0])):
        yield [row[k] for row in rows if row[k][1] > row[k][0]]


def _overlaps(found: list[Span], a: int, b: int) -> bool:
    i = bisect_left(found, (b,))
    return i > 0 and found[i - 1][1] > a


def _could_be_a_name(item: str, describe: Callable[[str], Info]) -> bool:
    from rightmodel.privacy.name_tagger import DOTTED_WORDS

    words = item.split()
    if not 1 <= len(words) <= 4 or not all(_NAME_WORD.fullmatch(w) for w in words):
        return False
    for w in words:
        if w.lower() in DOTTED_WORDS:
            return False  # "Mr", "Inc"
        info = describe(w)
        if "s" in info.flags or len(w.rstrip(".")) == 1 and len(words) == 1:
            return False
        if len(info.gaz) == 4 and info.gaz[3] == "d" and info.gaz[:2] == "00":
            return False  # vocabulary and no list's name: "cake", "Design"
    return True
