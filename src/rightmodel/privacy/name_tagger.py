"""PERSON names by a small trained tagger: one logistic regression over hashed token features.

Why: spaCy's small English NER finds three in four of the names in our benchmark and misses
plain ones ("Please add Isabel Morales as a second cardholder", "Thanks Darren Young"), worst on
German, Dutch, Spanish, Italian and French names. This tagger reads what a person reading a
support ticket reads — capitalisation, word shape, endings, the words around ("my husband ...",
"Regards, ..."), titles, particles (van, de, da) — and marks name tokens. It is unioned with
spaCy's PERSON spans.

Training (`python -m rightmodel.privacy.train_names`) uses Faker names from locales that the
benchmark does not use (Portuguese, Polish, Czech, Swedish, Danish, Norwegian, Finnish,
Romanian, Hungarian, Croatian, Slovenian, Turkish, Lithuanian, Slovak, Indonesian, Irish),
templates written for training only, and real Banking77 questions as text without names; so the
benchmark's names, locales and templates are all unseen. Candidates are only capitalised tokens
and lower-case particles between them, so the cost is a few hashed features per candidate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from rightmodel.privacy.entities import Entity

MODEL_PATH = Path(__file__).resolve().parent / "data" / "name_tagger.npz"
N_FEATURES = 2**20
TOKEN = re.compile(r"['’]s\b|\w+(?:['’-](?!s\b)\w+)*\.?|[^\w\s]|\n")  # "Davies's" -> "Davies", "'s"
PARTICLES = frozenset(
    "van von de der den del della di da das dos do du des la le lo y e bin ibn al el af av zu ter ten mac mc o' ó ní nic ua".split()
)
THRESHOLD = 0.5  # a token this likely to be part of a name starts a name
EXTEND = 0.1  # a capitalised neighbour of a name token this likely joins it ("Isabel" + "Morales")


def tokens(text: str) -> list[tuple[int, int]]:
    out = []
    for m in TOKEN.finditer(text):
        s, e = m.start(), m.end()
        if e - s > 1 and text[e - 1] == "." and not _abbrev(text[s:e - 1]):
            e -= 1  # a sentence's full stop, not part of the word (titles keep theirs: "Dr.")
        out.append((s, e))
    return out


def _abbrev(word: str) -> bool:
    return len(word) <= 4 and word[:1].isupper()


def shape(word: str) -> str:
    if word == "\n":
        return "NL"
    out = []
    for c in word[:6]:
        k = "X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c
        if not out or out[-1] != k:
            out.append(k)
    return "".join(out) + ("+" if len(word) > 6 else "")


def is_candidate(words: list[str], i: int) -> bool:
    w = words[i]
    if any(c.isdigit() for c in w):
        return False  # codes and ids (TCK-14017), never names
    if w[:1].isupper():
        return not (w.isupper() and len(w.rstrip(".")) <= 4)  # acronyms: IBAN, VPN, EUR, PM
    if w.lower() in PARTICLES:
        before = any(words[j][:1].isupper() for j in range(max(0, i - 2), i))
        after = any(words[j][:1].isupper() for j in range(i + 1, min(len(words), i + 3)))
        return before and after
    return False


def features(words: list[str], i: int) -> list[str]:
    w = words[i]
    low = w.lower()

    def ctx(j: int) -> str:
        return words[j].lower() if 0 <= j < len(words) else "<s>"

    def shp(j: int) -> str:
        return shape(words[j]) if 0 <= j < len(words) else "<s>"

    prev = ctx(i - 1)
    starts = prev in ("<s>", "\n", ".", "!", "?", ":", "-", "•", "*", '"', "(", ",")
    f = [
        "b", f"w={low}", f"s={shape(w)}", f"s3={low[-3:]}", f"s2={low[-2:]}", f"p2={low[:2]}", f"len={min(len(w), 12)}",
        f"-1={prev}", f"-2={ctx(i - 2)}", f"+1={ctx(i + 1)}", f"+2={ctx(i + 2)}",
        f"-1s={shp(i - 1)}", f"+1s={shp(i + 1)}", f"-2s={shp(i - 2)}", f"+2s={shp(i + 2)}",
        f"-1w,s={prev},{shape(w)}", f"s,+1s={shape(w)},{shp(i + 1)}", f"-1s,s={shp(i - 1)},{shape(w)}",
        f"start={starts}", f"start,w={starts},{low}",
    ]
    if "-" in w:
        f.append("hyphen")
    if low in PARTICLES:
        f.append("particle")
    if low in STOP_WORDS:
        f += ["stop", f"stop,start={starts}"]
    return f


class NameTagger:
    """Loads the shipped weights; `find(text)` gives PERSON spans."""

    def __init__(self, path: Path = MODEL_PATH) -> None:
        from sklearn.feature_extraction import FeatureHasher

        with np.load(path) as data:
            self.weights = np.zeros(N_FEATURES, dtype=np.float32)
            self.weights[data["index"]] = data["value"]
            self.bias = float(data["bias"])
        self.hasher = FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)

    def probabilities(self, words: list[str], candidates: list[int]) -> np.ndarray:
        if not candidates:
            return np.zeros(0)
        x = self.hasher.transform(features(words, i) for i in candidates)
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    def find(self, text: str) -> list[Entity]:
        spans = tokens(text)
        words = [text[s:e] for s, e in spans]
        candidates = [i for i in range(len(words)) if is_candidate(words, i)]
        probs = self.probabilities(words, candidates)
        p_of = dict(zip(candidates, probs.tolist()))
        named = {i for i, p in p_of.items() if p >= THRESHOLD}
        grow = sorted(named)
        while grow:  # hysteresis: neighbours of names join at a lower bar
            i = grow.pop()
            for j in (i - 1, i + 1):
                if j not in named and p_of.get(j, 0.0) >= EXTEND and words[j][:1].isupper():
                    named.add(j)
                    grow.append(j)
        out: list[Entity] = []
        run: list[int] = []
        for i in sorted(named) + [-2]:
            if run and i == run[-1] + 1:
                run.append(i)
                continue
            if run:
                while run and words[run[-1]].lower() in PARTICLES:
                    run.pop()  # a name does not end in a particle
                while run and words[run[0]].lower() in PARTICLES and not words[run[0]][:1].isupper():
                    run.pop(0)
                if run:
                    out.append(Entity(spans[run[0]][0], spans[run[-1]][1], "PERSON", 0.8, "tagger"))
            run = [i]
        return out
