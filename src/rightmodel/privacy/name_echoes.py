"""Names an e-mail address in the same text spells out: "Gaynell Spach ... gaynell_spach@zoho.com",
"Radde ... fradde82@xtra.co.nz" (initial + surname), "markclavelle@gmx.at" (both run together).

People's addresses are made of their names, so a word of the text that an address's local part
spells is very likely that person's name, however thin its own context ("Hiring manager
Radde."). The address itself is found by the patterns; this finds the name it echoes. One
occurrence is enough: name_repeats.py then covers the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rightmodel.privacy.entities import Entity
from rightmodel.privacy.gazetteer import fold
from rightmodel.privacy.name_scoring import Info

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SEGMENTS = re.compile(r"[^a-z]+")
MIN_LETTERS = 3
SCORE = 0.8


def echoes(text: str, emails: list[str], describe: Callable[[str], Info]) -> list[Entity]:
    """PERSON spans of words in `text` that the local parts of `emails` spell (see the docstring).
    `text` has the addresses themselves blanked out, so only other mentions are read."""
    segments = set()
    for address in emails:
        local = fold(address.split("@", 1)[0].split("+", 1)[0])
        segments.update(s for s in _SEGMENTS.split(local) if len(s) >= MIN_LETTERS)
    if not segments:
        return []
    tails = {s[1:] for s in segments}
    folded: dict[str, str] = {}  # a long text repeats its words: fold each once

    def fold_once(word: str) -> str:
        out = folded.get(word)
        if out is None:
            out = folded[word] = fold(word).replace("-", "")
        return out

    words = [(m.start(), m.end(), fold_once(m.group())) for m in _WORD.finditer(text)]
    found: list[Entity] = []
    for i, (start, end, word) in enumerate(words):
        if len(word) < MIN_LETTERS:
            continue
        prev = words[i - 1] if i and _adjacent(text, words[i - 1], start) else None
        if prev is not None and (prev[2] + word in segments or (prev[2][:1] + word in segments and len(word) >= 4)):
            found.append(Entity(prev[0], end, "PERSON", SCORE, "echo"))  # "Mark Clavelle" / "Frances Radde"
        elif (word in segments or (len(word) >= 4 and word in tails)) and _name_like(describe(text[start:end])):
            # "Radde" and fradde82@...: an initial and the surname make many addresses
            found.append(Entity(start, end, "PERSON", SCORE, "echo"))
    return found


def _adjacent(text: str, prev: tuple[int, int, str], start: int) -> bool:
    return text[prev[1]:start] == " "


def _name_like(info: Info) -> bool:
    """A word an address spells is a name unless it is a word first: a stop word, or a dictionary
    word no name list holds ("support", "billing"), or an everyday word ("sales", "team")."""
    if "s" in info.flags or info.case not in "TULM":
        return False
    if info.gaz[3] == "d" and (info.gaz[:2] == "00" or info.gaz[2] == "c"):
        return False
    return True
