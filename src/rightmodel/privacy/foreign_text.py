"""Sentences written in another language: their lower-case words are not taken for names.

Why: names-dataset, scraped from social-network profiles, lists "bitte", "suis", "está" and
"casa" as given names somewhere. In an English message typed in lower case such a word may be a
name ("ask bitte"), but in "Je suis allé au magasin" or "bitte helfen Sie mir" it is the
language, and translation, language-ID and multilingual support prompts are everyday traffic
that a false name garbles. A sentence counts as another language's when it holds at least three
stop words of some other language that are neither English stop words nor name particles
("van", "de"), and more of them than English stop words: an English sentence that names
"Liza van den Brink" stays English.

The word list (data/foreign_stop_words.txt) is spaCy's stop words of the languages in
LANGUAGES, written by `python -m rightmodel.privacy.foreign_text` so that serving does not
import spaCy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from rightmodel.privacy.stop_words import ENGLISH_STOP_WORDS

WORDS_PATH = Path(__file__).resolve().parent / "data" / "foreign_stop_words.txt"
# Languages written in Latin script whose text reaches English-language prompts most often.
LANGUAGES = ("de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "cs", "ro", "tr", "id", "hu", "ca", "hr")
# Tokens that end a sentence or a quotation: a French quote inside an English instruction is its own sentence.
SENTENCE_ENDS = frozenset(("\n", ".", "!", "?", ":", ";", '"', "“", "”", "«", "»", "(", ")"))
MIN_FOREIGN = 3


@cache
def foreign_stop_words() -> frozenset[str]:
    return frozenset(WORDS_PATH.read_text(encoding="utf-8").split())


def foreign_sentences(lows: list[str], particles: frozenset[str]) -> list[tuple[int, int]]:
    """[first, last) token ranges of the sentences written in another language (lows: lower-cased tokens)."""
    foreign_words = foreign_stop_words()
    out: list[tuple[int, int]] = []
    start = foreign = english = 0
    for i, low in enumerate(lows):
        if low in SENTENCE_ENDS:
            if foreign >= MIN_FOREIGN and foreign > english:
                out.append((start, i))
            start, foreign, english = i + 1, 0, 0
        elif low in ENGLISH_STOP_WORDS:
            english += 1
        elif low in foreign_words and low not in particles:
            foreign += 1
    if foreign >= MIN_FOREIGN and foreign > english:
        out.append((start, len(lows)))
    return out


def build(out: Path = WORDS_PATH) -> int:
    """Write the word list from spaCy's stop words (a dev dependency); returns its size."""
    import importlib

    words: set[str] = set()
    for code in LANGUAGES:
        words |= importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS
    kept = sorted(w for w in words if len(w) > 1 and w.isalpha() and w == w.lower() and w not in ENGLISH_STOP_WORDS)
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


if __name__ == "__main__":
    print(f"wrote {build()} words to {WORDS_PATH}")
