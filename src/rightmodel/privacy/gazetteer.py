"""How much a word looks like a given name or a surname somewhere in the world, and whether it is a common English word.

Case tells a reader that "Isabel" is a name; in "call isabel morales" nothing does, except
knowing that isabel and morales are names people have. The shipped gazetteer
(`data/name_gazetteer.npz`, built by `python -m rightmodel.privacy.build_gazetteer`) holds, for
~600k given names and surnames of the `names-dataset` package (Apache-2.0; popularity ranks per
country from 105 countries), a popularity class, and for the whole words of a BERT vocabulary
(English word frequency) a "common word" flag. Words are stored as 64-bit hashes of their
case- and accent-folded form: 11 MB in memory, one binary search per distinct word. Common words
also carry a cluster of their pretrained embedding (build_gazetteer.py) for the tagger's context.
A "dictionary word" flag marks ~360k English words that are not proper nouns (Webster's web2
list, and SCOWL's largest lists for words coined since: "handyman", "smartphone"), so that
"Photosynthesis" or "Leasehold", which no name list and no frequent-word list holds, reads as
vocabulary rather than as a rare name; an inflected form
("renders", "assigned", "bales") counts when its stem is such a word, and so do hyphenated words
made of dictionary words ("near-earth", "one-fourth").
"""

from __future__ import annotations

import hashlib
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

GAZETTEER_PATH = Path(__file__).resolve().parent / "data" / "name_gazetteer.npz"
# Endings tried to find an inflected word's dictionary stem: (ending, what replaces it).
INFLECTIONS = (("ies", "y"), ("es", ""), ("s", ""), ("ied", "y"), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"), ("ly", ""),
               ("ier", "y"), ("iest", "y"))

# British spellings of American dictionary words (the dictionary is Webster's): "Summarise",
# "Apologise", "colour", "centre" are vocabulary, not names. Longest endings first.
BRITISH = (("isations", "izations"), ("isation", "ization"), ("ising", "izing"), ("ised", "ized"), ("ises", "izes"),
           ("iser", "izer"), ("ise", "ize"), ("ysing", "yzing"), ("ysed", "yzed"), ("yse", "yze"), ("ourite", "orite"),
           ("ourable", "orable"), ("ouring", "oring"), ("oured", "ored"), ("ours", "ors"), ("our", "or"), ("tres", "ters"),
           ("tre", "ter"), ("ogues", "ogs"), ("ogue", "og"), ("ence", "ense"), ("lled", "led"), ("lling", "ling"))

# Popularity class of a name: 0 not a name; 1 top 100 in some country; 2 top 1,000; 3 top 5,000.
RANK_CLASSES = (100, 1000, 5000)


def fold(word: str) -> str:
    """Lower case, accents and apostrophes dropped: "Müller" and "muller", "O'Brien" and "obrien" meet."""
    if word.isascii():  # most words: no accents to drop (the same result, several times faster)
        return word.lower().replace("'", "")
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c not in "'’")


def word_hash(folded: str) -> int:
    return int.from_bytes(hashlib.blake2b(folded.encode("utf-8"), digest_size=8).digest(), "little")


class Gazetteer:
    """`classes(word)` -> (given-name class, surname class, common English word, embedding cluster or 0, dictionary word)."""

    def __init__(self, path: Path = GAZETTEER_PATH) -> None:
        with np.load(path) as data:
            self.keys = data["keys"]  # sorted uint64 hashes
            self.first = data["first"]  # uint8 class per key
            self.last = data["last"]
            self.common = data["common"]  # bool per key
            self.cluster = data["cluster"]  # uint16 per key: 0 for words outside the vocabulary
            self.dictionary = data["dictionary"]  # bool per key: a lower-case entry of web2 or SCOWL

    def _row(self, folded: str) -> int:
        h = np.uint64(word_hash(folded))
        i = int(np.searchsorted(self.keys, h))
        return i if i < len(self.keys) and self.keys[i] == h else -1

    @lru_cache(maxsize=65536)  # noqa: B019 (one gazetteer per process; words repeat across requests)
    def classes(self, word: str) -> tuple[int, int, bool, int, bool]:
        folded = fold(word)
        i = self._row(folded)
        if i < 0:
            return 0, 0, False, 0, self._inflected(folded)
        dictionary = bool(self.dictionary[i]) or self._inflected(folded)
        return int(self.first[i]), int(self.last[i]), bool(self.common[i]), int(self.cluster[i]), dictionary

    def _inflected(self, folded: str) -> bool:
        """Whether `folded` is a plural, past, -ing, -ly or comparative form of a dictionary word,
        or words joined by hyphens that each are one or a number ("near-earth", "thirty-two")."""
        if "-" in folded:
            parts = folded.split("-")
            return all(p.isdigit() or (self._row(p) >= 0 and bool(self.dictionary[self._row(p)])) or self._inflected(p)
                       for p in parts if p) and any(parts)
        for ending, stem_end in INFLECTIONS:
            if folded.endswith(ending) and len(folded) - len(ending) >= 3:
                i = self._row(folded[: -len(ending)] + stem_end)
                if i >= 0 and self.dictionary[i]:
                    return True
        for ending, american in BRITISH:
            if folded.endswith(ending) and len(folded) - len(ending) >= 2:
                i = self._row(folded[: -len(ending)] + american)
                return i >= 0 and bool(self.dictionary[i])
        return False
