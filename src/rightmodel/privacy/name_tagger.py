"""PERSON names by a small trained tagger: logistic regression over hashed token features.

Why: a name detector for a privacy gate must find "Isabel Morales", "isabel morales", "Morales",
"I M Morales" and "Dear Isabel" while leaving "Classify the following review", "A. True" and
"Summarize" alone. spaCy's small NER misses plain and lower-case names and tags sentence-initial
verbs. This tagger reads what a person reading a message reads: case, word shape, endings, the
words around ("my husband ...", "Regards, ..."), titles, particles (van, de, bin), and — so that
case is not everything — how common the word is as a given name or surname somewhere in the
world and whether it is a common English word (gazetteer.py).

Training: `python -m rightmodel.privacy.train_names` (see there for data and splits).

Cost is linear in the text: features are grouped by the words they read (the word itself, each
neighbour, adjacent pairs), and each group's weight sum is cached by those words, so a repeated
word or pair costs one dictionary lookup. Candidates are capitalised tokens, initials, lower-case
words the gazetteer knows as names, and particles between them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rightmodel.privacy.config import DEFAULT_NAME_THRESHOLD
from rightmodel.privacy.entities import Entity
from rightmodel.privacy.gazetteer import Gazetteer

MODEL_PATH = Path(__file__).resolve().parent / "data" / "name_tagger.npz"
N_FEATURES = 2**21
TOKEN = re.compile(r"['’]s\b|\w+(?:['’-](?!s\b)\w+)*\.?|[^\w\s]|\n")  # "Davies's" -> "Davies", "'s"
PARTICLES = frozenset(
    "van von de der den del della di da das dos do du des la le lo y e bin ibn al el af av zu ter ten mac mc ó ní nic ua ben bint ap".split()
)
BOUNDARY = frozenset(("<s>", "\n", ".", "!", "?", ":", ";", "-", "•", "*", '"', "(", ",", "|", "#", ">", "–", "—", "“", "«"))
# A token this likely to be part of a name starts a name (privacy.name_threshold). Measured by
# bench/privacy.py on held-out texts and PII-free prompts: lower finds more names and alters more
# prompts (0.5: recall 0.84, 18% of instruction prompts altered; 0.85: 0.79, 9%; 0.97: 0.71, 3%).
THRESHOLD = DEFAULT_NAME_THRESHOLD
EXTEND = 0.3  # a neighbour of a name token this likely joins it ("Isabel" + "Morales")
UNSURE = 0.15  # strict mode: a candidate this likely counts as a possible name


@cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


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


def case_of(word: str) -> str:
    """T title case, U all capitals, I an initial ("M", "M."), L lower case, D has digits, P punctuation,
    N newline, M mixed, O letters without case (CJK, Arabic...: the model has nothing to go on)."""
    if word == "\n":
        return "N"
    core = word.rstrip(".")
    if not core or not core[0].isalnum():
        return "P"
    if any(c.isdigit() for c in core):
        return "D"
    if not any(c.isupper() or c.islower() for c in core):
        return "O"
    if len(core) == 1:
        return "I" if core.isupper() else "L"
    if core.isupper():
        return "U"
    if core.islower():
        return "L"
    if core[0].isupper() and core[1:].replace("-", "").replace("'", "").replace("’", "").islower():
        return "T"
    return "M"


class Info(NamedTuple):
    low: str
    shape: str
    case: str
    gaz: str  # given-name class, surname class, common-word flag: e.g. "21c", "00-"
    flags: str  # s stop word, p particle, h hyphen
    cl: int  # embedding cluster of a common word (0: none)


@lru_cache(maxsize=131072)
def _info(word: str, gazetteer: Gazetteer) -> Info:
    low = word.lower()
    case = case_of(word)
    cl = 0
    if case in "TULIM":
        first, last, common, cl = gazetteer.classes(word.rstrip("."))
        gaz = f"{first}{last}{'c' if common else '-'}"
    else:
        gaz = "x"
    flags = ("s" if low in _stop_words() else "") + ("p" if low in PARTICLES else "") + ("h" if "-" in word else "")
    return Info(low, shape(word), case, gaz, flags, cl)


PAD = Info("<s>", "<s>", "S", "x", "", 0)


def is_candidate(infos: list[Info], i: int) -> bool:
    info = infos[i]
    case = info.case
    if case == "T":
        return True
    if case == "I":  # an initial stands next to a name: "I M Morales", "J. Smith"
        return (i + 1 < len(infos) and infos[i + 1].case in "TIU") or (i > 0 and infos[i - 1].case in "TU")
    if case == "U":
        return len(info.low.rstrip(".")) > 4 or info.gaz[0] != "0" or info.gaz[1] != "0"  # not IBAN, VPN, EUR
    if case in "LM":
        if "p" in info.flags:
            before = any(infos[j].case in "TUL" for j in range(max(0, i - 2), i))
            after = any(infos[j].case in "TUL" for j in range(i + 1, min(len(infos), i + 3)))
            return before and after
        if len(info.low) == 1:  # "tina h pitts"
            return 0 < i < len(infos) - 1 and infos[i - 1].case == "L" and infos[i + 1].case == "L"
        if case == "M" or info.gaz[0] != "0" or info.gaz[1] != "0":
            return True
        # a surname too rare for the gazetteer after a given name that is in it: "lois swickheimer"
        return i > 0 and "s" not in info.flags and infos[i - 1].case == "L" and infos[i - 1].gaz[0] not in "0x"
    return False


def _starts(infos: list[Info], i: int) -> bool:
    return i == 0 or infos[i - 1].low in BOUNDARY


# Feature groups: each reads only the words named by its cache key, so its weight sum can be cached.
def self_features(w: Info) -> list[str]:
    low = w.low
    f = ["b", f"w={low}", f"s={w.shape}", f"s3={low[-3:]}", f"s2={low[-2:]}", f"p3={low[:3]}", f"len={min(len(low), 12)}",
         f"c={w.case}", f"g={w.gaz}", f"gf={w.gaz[:1]}", f"gl={w.gaz[1:2]}", f"c,g={w.case},{w.gaz}", f"fl={w.flags}",
         f"cl={w.cl}", f"c,cl={w.case},{w.cl}"]
    return f


def context_features(offset: int, w: Info) -> list[str]:
    return [f"{offset}w={w.low}", f"{offset}s={w.shape}", f"{offset}c,g={w.case},{w.gaz}", f"{offset}cl={w.cl}"]


def start_features(starts: bool, w: Info) -> list[str]:
    return [f"st={starts}", f"st,w={starts},{w.low}", f"st,c,g={starts},{w.case},{w.gaz}"]


def left_pair_features(a: Info, w: Info) -> list[str]:
    return [f"-1w,c={a.low},{w.case}", f"-1cg,cg={a.case}{a.gaz},{w.case}{w.gaz}", f"-1cl,c={a.cl},{w.case}"]


def right_pair_features(w: Info, b: Info) -> list[str]:
    return [f"c,+1w={w.case},{b.low}", f"cg,+1cg={w.case}{w.gaz},{b.case}{b.gaz}", f"c,+1cl={w.case},{b.cl}"]


def trigram_features(a: Info, w: Info, b: Info) -> list[str]:
    return [f"ccc={a.case}{w.case}{b.case}"]


def features(infos: list[Info], i: int) -> Iterator[list[str]]:
    """Every feature group of candidate `i` (training flattens them; inference caches each)."""
    at = lambda j: infos[j] if 0 <= j < len(infos) else PAD  # noqa: E731
    w = infos[i]
    yield self_features(w)
    for offset in (-2, -1, 1, 2):
        yield context_features(offset, at(i + offset))
    yield start_features(_starts(infos, i), w)
    yield left_pair_features(at(i - 1), w)
    yield right_pair_features(w, at(i + 1))
    yield trigram_features(at(i - 1), w, at(i + 1))


def feature_index(feature: str) -> int:
    """Column of a feature, exactly as sklearn's FeatureHasher(alternate_sign=False) puts it."""
    from sklearn.utils import murmurhash3_32

    h = murmurhash3_32(feature, seed=0)
    return (2147483647 - (N_FEATURES - 1)) % N_FEATURES if h == -2147483648 else abs(h) % N_FEATURES


def analyse(text: str, gazetteer: Gazetteer) -> tuple[list[tuple[int, int]], list[Info]]:
    spans = tokens(text)
    return spans, [_info(text[s:e], gazetteer) for s, e in spans]


def neighbour_features(p_of: dict[int, float], i: int) -> list[str]:
    """Pass two: what pass one thought of this token and its neighbours ("john m smith": the
    initial between two likely names is likely a name too). Non-candidates read "n"."""
    def bucket(j: int) -> str:
        p = p_of.get(j)
        return "n" if p is None else str(min(4, int(p * 5)))

    near = [bucket(i + o) for o in (-2, -1, 0, 1, 2)]
    return [f"q{o}={b}" for o, b in zip((-2, -1, 0, 1, 2), near)] + [f"q-1,q+1={near[1]}{near[3]}", f"q-1,q0,q+1={near[1]}{near[2]}{near[3]}"]


class Pass:
    """One logistic regression over hashed features, with its group sums cached by the words they read."""

    def __init__(self, index: np.ndarray, value: np.ndarray, bias: float) -> None:
        self.weights = np.zeros(N_FEATURES, dtype=np.float32)
        self.weights[index] = value
        self.bias = bias
        self._cache: dict[tuple[object, ...], float] = {}

    def total(self, feats: list[str]) -> float:
        w = self.weights
        return float(sum(w[feature_index(f)] for f in feats))

    def group(self, key: tuple[object, ...], make: Callable[[], list[str]]) -> float:
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) > 400_000:
                self._cache.clear()
            cached = self._cache[key] = self.total(make())
        return cached

    def scores(self, infos: list[Info], candidates: list[int]) -> np.ndarray:
        z = np.full(len(candidates), self.bias)
        n = len(infos)
        group = self.group
        for k, i in enumerate(candidates):
            w = infos[i]
            a, b = (infos[i - 1] if i else PAD), (infos[i + 1] if i + 1 < n else PAD)
            total = group(("w", w), lambda: self_features(w))
            for offset in (-2, -1, 1, 2):
                c = infos[i + offset] if 0 <= i + offset < n else PAD
                total += group((offset, c), lambda: context_features(offset, c))  # noqa: B023 (called at once)
            starts = _starts(infos, i)
            total += group(("st", starts, w), lambda: start_features(starts, w))  # noqa: B023
            total += group(("l", a, w), lambda: left_pair_features(a, w))  # noqa: B023
            total += group(("r", w, b), lambda: right_pair_features(w, b))  # noqa: B023
            total += group(("t", a.case, w.case, b.case), lambda: trigram_features(a, w, b))  # noqa: B023
            z[k] += total
        return z


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class NameTagger:
    """Loads the shipped weights; `find(text)` gives PERSON spans.

    Two passes of the same features: the second also reads the first pass's beliefs about the
    token's neighbours, which ties the words of one name together.
    """

    def __init__(self, path: Path = MODEL_PATH, gazetteer: Gazetteer | None = None, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        with np.load(path) as data:
            self.first = Pass(data["index1"], data["value1"], float(data["bias1"]))
            self.second = Pass(data["index2"], data["value2"], float(data["bias2"]))
        self.gazetteer = gazetteer or Gazetteer()

    def probabilities(self, infos: list[Info], candidates: list[int]) -> np.ndarray:
        first = sigmoid(self.first.scores(infos, candidates))
        p_of = dict(zip(candidates, first.tolist()))
        z = self.second.scores(infos, candidates)
        for k, i in enumerate(candidates):
            z[k] += self.second.total(neighbour_features(p_of, i))
        return sigmoid(z)

    def find(self, text: str, unsure: bool = False) -> list[Entity]:
        """PERSON spans; with `unsure`, also spans the model half-believes (score below the threshold)."""
        spans, infos = analyse(text, self.gazetteer)
        candidates = [i for i in range(len(infos)) if is_candidate(infos, i)]
        if not candidates:
            return []
        p_of = dict(zip(candidates, self.probabilities(infos, candidates).tolist()))
        out = self._spans(spans, infos, p_of, self.threshold, 0.8)
        if unsure:
            taken = {(e.start, e.end) for e in out}
            out += [e for e in self._spans(spans, infos, p_of, min(UNSURE, self.threshold), 0.3) if (e.start, e.end) not in taken]
        return out

    def _spans(self, spans: list[tuple[int, int]], infos: list[Info], p_of: dict[int, float], threshold: float, score: float) -> list[Entity]:
        named = {i for i, p in p_of.items() if p >= threshold}
        grow = sorted(named)
        while grow:  # hysteresis: neighbours of names join at a lower bar
            i = grow.pop()
            for j in (i - 1, i + 1):
                if j not in named and p_of.get(j, 0.0) >= min(EXTEND, threshold):
                    named.add(j)
                    grow.append(j)
        out: list[Entity] = []
        run: list[int] = []
        for i in sorted(named) + [-2]:
            if run and i == run[-1] + 1:
                run.append(i)
                continue
            if run:
                while run and "p" in infos[run[-1]].flags:
                    run.pop()  # a name does not end in a particle
                while run and "p" in infos[run[0]].flags and infos[run[0]].case == "L":
                    run.pop(0)
                if run:
                    out.append(Entity(spans[run[0]][0], spans[run[-1]][1], "PERSON", score, "tagger"))
            run = [i]
        return out
