"""Train the PERSON tagger shipped in rightmodel/privacy/data/name_tagger.npz.

    python -m rightmodel.privacy.train_names [--sentences 60000] [--seeds 7,8,9,10,11]

Needs the dev dependencies (names-dataset, and the shipped datasets/ folder of a checkout).

Data, all built here (texts the benchmarks score are never used):
- names: given names and surnames drawn per country (105 countries, each equally likely) from
  `names-dataset`'s top 1,500 of that country, in the shapes people write them: "First Last",
  with a middle name or initial ("I M Morales", "I. M. Morales"), "F. Last", "Last, First", a given
  name or a surname alone, hyphenated, double and particle surnames, titles, all capitals, and in
  lower case (one name in six, and whole texts typed in lower case);
- texts with names: the support-style templates in train_names_data.py, and real sentences
  (Banking77 questions, UCI reviews, CLAUDETTE terms-of-service) with a name in a greeting, a
  signature or a speaker prefix;
- texts without names: those real sentences alone; generated instructions for a language model
  ("Classify the following review ...") with sample inputs; multiple-choice questions with
  capitalised options; title-case headings and field labels; lines and docstrings of the Python
  standard library; company names, places and products in the templates' negative half; decoys
  where names stand (train_names_data.decoy: dictionary words in title case or capitals, names of
  languages and formats, words of other languages) in lists, cells, quotes, headings and options.
Five models, each on 60,000 texts of its own seed, averaged (their weights, hence their scores
before the sigmoid): which names, templates and sentences one seed draws moved a single model's
findings on PII-free prompts by a point or more, and the average lands where their mean does or
better (2026-12-07, docs/privacy.md). About 8 minutes on one core. Prints recall and precision
on texts of a seed no model saw before saving.
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import pickle
import random
import re
import time
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rightmodel.privacy import train_names_data as D
from rightmodel.privacy.gazetteer import Gazetteer
from rightmodel.privacy.name_tagger import (MODEL_PATH, N_FEATURES, PAD, PAD_WORD, THRESHOLD, _info, analyse, candidates_of, features,
                                             neighbour_buckets, neighbour_features)

Span = tuple[int, int]
# Weights this small are dropped when saving: the average of five models holds three times the
# features of one, and those under it changed no finding on the development sets (2.7 MB instead of 8.7).
PRUNE = 3e-3


class Names:
    """Given names and surnames by country, from names-dataset's per-country popularity ranks."""

    def __init__(self, top: int = 1500, rare_share: float = 0.35) -> None:
        import names_dataset

        root = Path(names_dataset.__file__).parent / "v3"
        self.first: dict[str, list[str]] = defaultdict(list)
        self.last: dict[str, list[str]] = defaultdict(list)
        self.rare: dict[str, list[str]] = {"first": [], "last": []}
        self.rare_share = rare_share
        for kind, table in (("first", self.first), ("last", self.last)):
            with gzip.open(root / f"{kind}_names.pkl.gz", "rb") as fh:
                data = pickle.load(fh)
            for name, info in data.items():
                ranks = {c: r for c, r in (info.get("rank") or {}).items() if r is not None}
                for country, rank in ranks.items():
                    if rank <= top and len(name) > 1:
                        table[country].append(name)
                if (not ranks or min(ranks.values()) > 5000) and len(name) > 2 and name.isalpha() and name[0].isupper():
                    self.rare[kind].append(name)  # not in the shipped gazetteer: the model must learn names it does not know
        self.countries = sorted(set(self.first) & set(self.last))

    def person(self, rng: random.Random) -> tuple[str, str, str]:
        """(first, last, a second given name) from one country; a share of them too rare for the gazetteer."""
        c = rng.choice(self.countries)
        first, last, middle = rng.choice(self.first[c]), rng.choice(self.last[c]), rng.choice(self.first[c])
        if rng.random() < self.rare_share:
            first = rng.choice(self.rare["first"])
        if rng.random() < self.rare_share:
            last = rng.choice(self.rare["last"])
        return first, last, middle


def name_text(names: Names, rng: random.Random, lower: bool) -> tuple[str, str]:
    """(title prefix, name): the gold span is the name only."""
    first, last, middle = names.person(rng)
    r = rng.random()
    if r < 0.07:
        last = f"{last}-{names.person(rng)[1]}"
    elif r < 0.12:
        last = f"{last} {names.person(rng)[1]}"
    elif r < 0.17:
        last = f"{rng.choice(D.PARTICLE_PREFIXES)} {last}"
    shapes = [
        (0.30, lambda: f"{first} {last}"), (0.05, lambda: f"{first} {middle} {last}"), (0.05, lambda: f"{first} {middle[0]} {last}"),
        (0.05, lambda: f"{first} {middle[0]}. {last}"), (0.04, lambda: f"{first[0]}. {last}"), (0.04, lambda: f"{last}, {first}"),
        (0.02, lambda: f"{first[0]}. {middle[0]}. {last}"), (0.25, lambda: first), (0.20, lambda: last),
    ]
    pick, acc = rng.random() * sum(w for w, _ in shapes), 0.0
    for weight, make in shapes:
        acc += weight
        if pick <= acc:
            name = make()
            alone_surname = make is shapes[-1][1]
            break
    title = ""
    if rng.random() < (0.5 if alone_surname else 0.12):
        title = rng.choice(D.TITLES) + " "
    if lower or rng.random() < 0.22:
        name, title = name.lower(), title.lower()
    elif rng.random() < 0.08:  # capitals in a mixed-case sentence ("my details are ISABEL MORALES")
        name = name.upper()
    return title, name


def fill(template: str, names: Names, rng: random.Random, real: list[str], lower: bool) -> tuple[str, list[Span]]:
    text, spans = "", []
    parts = template.replace("{{", "\x01").replace("}}", "\x02").split("{")
    text = parts[0]
    for part in parts[1:]:
        key, rest = part.split("}", 1)
        if key in ("N", "N2"):
            title, name = name_text(names, rng, lower)
            text += title
            spans.append((len(text), len(text) + len(name)))
            text += name
        else:
            text += D.filler(key, rng, real)
        text += rest
    return text.replace("\x01", "{").replace("\x02", "}"), spans


def inserted(sentence: str, names: Names, rng: random.Random, lower: bool) -> tuple[str, list[Span]]:
    """A real sentence with a name put between two of its words: any context may hold a name, so
    the words around one must not outvote clear evidence (a known given name and surname)."""
    cuts = [0] + [m.start() + 1 for m in re.finditer(r" ", sentence)]
    at = rng.choice(cuts)
    title, name = name_text(names, rng, lower)
    before = sentence[:at] + title
    return before + name + " " + sentence[at:], [(len(before), len(before) + len(name))]


# Where a real sentence speaks of a person: a pronoun, "someone", "my friend", "the seller", and
# "I" before a verb that agrees with any subject ("I was", "I can't", "I lost").
PERSON_SLOT = re.compile(
    r"\b(?:he|she|him|me|someone|somebody|my (?:friend|wife|husband|son|daughter|mom|mother|dad|father|boss|colleague|partner|"
    r"brother|sister|landlord|neighbou?r)|the (?:agent|customer|seller|driver|manager|landlord|tenant|user|recipient|sender|buyer|"
    r"merchant|owner|author|reviewer)|I(?= (?:can|can't|cannot|could|couldn't|would|will|should|did|didn't|was|wasn't|had|made|"
    r"got|lost|tried|received|sent|paid|used|bought|ordered|saw|went|found|noticed|called|asked|said|loved|liked|hated)\b))\b",
    re.IGNORECASE)
POSSESSIVE_SLOT = re.compile(r"\bmy\b", re.IGNORECASE)


def swapped(sentence: str, names: Names, rng: random.Random, lower: bool) -> tuple[str, list[Span]]:
    """A real sentence with a name where it spoke of a person ("Can you send me the money?" ->
    "Can you send Gail the money?", "my card" -> "Gail's card"): names in the plain places people
    put them, with the words real text has around them, so that "approved by Watt." or "Tine was
    reliable" read as names as well as "Dear Watt," does."""
    slots, owners = list(PERSON_SLOT.finditer(sentence)), list(POSSESSIVE_SLOT.finditer(sentence))
    owned = bool(owners) and (rng.random() < 0.3 or not slots)
    if owned:
        slots = owners
    slot = rng.choice(slots)
    title, name = name_text(names, rng, lower)
    before = sentence[:slot.start()] + title
    after = ("'s" if owned else "") + sentence[slot.end():]
    return before + name + after, [(len(before), len(before) + len(name))]


@lru_cache(maxsize=1)
def _names() -> Names:
    """Loaded once per process: every seed of a bag draws from the same lists (the load takes seconds)."""
    return Names()


@lru_cache(maxsize=2)
def real_sentences(root: Path) -> list[str]:
    from rightmodel.data import shipped

    import os

    os.environ.setdefault("RIGHTMODEL_DATASETS", str(root / "datasets"))
    out = list(shipped.banking77("train").texts)
    domains = shipped.reviews_sentiment_domains()
    reviews = shipped.reviews_sentiment()
    out += [t for t, d in zip(reviews.texts, domains) if d != "imdb"]  # IMDB sentences name actors and directors
    for doc in shipped.claudette_documents().values():
        out += [t for t in doc.texts if 20 <= len(t) <= 400]
    return out


def stdlib_lines(rng: random.Random, n: int) -> list[str]:
    """Docstrings and source lines of standard-library modules: capitalised words that are not names."""
    import email.message
    import json
    import logging
    import pathlib
    import string
    import textwrap
    import urllib.parse

    out: list[str] = []
    for module in (json, logging, pathlib, string, textwrap, urllib.parse, email.message, argparse, random, inspect):
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            continue
        lines = [ln.strip() for ln in source.splitlines() if len(ln.strip()) > 12]
        out += rng.sample(lines, min(len(lines), n // 10))
    return out


def build(n: int, seed: int, root: Path, swapped_share: float = 0.0) -> list[tuple[str, list[Span]]]:
    """Training texts and their names' character spans. `swapped_share` of them are real sentences
    with a name in a person's place (swapped()): the second reader (train_reader.py) trains with
    4%; the tagger with none (three seeds each way, 2026-12-07: it lost a point of recall on
    held-out set 1 for a third of a point on set 2)."""
    rng = random.Random(seed)
    names = _names()
    real = real_sentences(root)
    code = stdlib_lines(rng, n // 20)
    personal = [t for t in real if PERSON_SLOT.search(t) or POSSESSIVE_SLOT.search(t)]
    data: list[tuple[str, list[Span]]] = []
    for _ in range(n):
        r = rng.random()
        lower = rng.random() < 0.15
        if r < 0.28:
            text, spans = fill(rng.choice(D.TEMPLATES), names, rng, real, lower)
        elif r < 0.36:
            text, spans = fill(rng.choice(D.DECOY_TEMPLATES), names, rng, real, lower)
        elif r < 0.48:
            text, spans = fill(rng.choice(D.REAL_WITH_NAME), names, rng, real, lower)
        elif r < 0.54:
            text, spans = fill(rng.choice(D.NEGATIVE), names, rng, real, lower)
        elif r < 0.65:
            text, spans = D.instruction(rng, real), []
        elif r < 0.69:
            text, spans = D.multiple_choice(rng, real), []
        elif r < 0.71:
            text, spans = D.headings(rng), []
        elif r < 0.75:
            text, spans = rng.choice(code), []
        elif r < 0.80:
            text, spans = D.foreign(rng), []
        elif r < 0.88 - swapped_share:
            text, spans = inserted(rng.choice(real), names, rng, lower)
        elif r < 0.88:
            text, spans = swapped(rng.choice(personal), names, rng, lower)
        elif r < 0.95:
            text, spans = fill(rng.choice(D.DECOY_TEMPLATES), names, rng, real, lower)
        else:
            text, spans = rng.choice(real), []
        if lower:
            text = text.lower()  # same length: the spans hold
        data.append((text, spans))
    return data


def examples(text: str, spans: list[Span], gazetteer: Gazetteer) -> tuple[int, list[int], list[list[str]], list[int]]:
    """(number of tokens, candidate token indices, their pass-one features, labels) of one text."""
    starts, words, infos = analyse(text, gazetteer)
    info = lambda w: PAD if w == PAD_WORD else _info(w, gazetteer)  # noqa: E731
    cands = candidates_of(infos)
    xs = [features(words, infos, i, info) for i in cands]
    ys = [int(any(a <= starts[i] and starts[i] + len(words[i]) <= b for a, b in spans)) for i in cands]
    return len(words), cands, xs, ys


def fit(x: Any, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000).fit(x, y)


def second_pass_rows(texts: list[tuple[int, list[int], list[list[str]], list[int]]], p1: np.ndarray) -> list[list[str]]:
    """Pass-two features: pass one's plus its beliefs about the neighbours (p1: per candidate, in order)."""
    rows, at = [], 0
    for tokens, cands, xs, _ in texts:
        near = neighbour_buckets(tokens, dict(zip(cands, p1[at:at + len(cands)].tolist())))
        rows += [x + neighbour_features(tuple(near[i:i + 5])) for i, x in zip(cands, xs)]
        at += len(cands)
    return rows


def fit_passes(data: list[tuple[str, list[Span]]], gazetteer: Gazetteer, hasher: Any, c: float) -> tuple[Any, Any]:
    """The two passes' logistic regressions on one training set."""
    train = [examples(t, s, gazetteer) for t, s in data]
    x_train, y_train = hasher.transform(_flat(train)), _labels(train)
    # Pass one, cross-fitted on two halves so that pass two learns from honest pass-one beliefs.
    half = sum(len(cands) for _, cands, _, _ in train[: len(train) // 2])
    p1 = np.empty(len(y_train))
    p1[half:] = fit(x_train[:half], y_train[:half], c).predict_proba(x_train[half:])[:, 1]
    p1[:half] = fit(x_train[half:], y_train[half:], c).predict_proba(x_train[:half])[:, 1]
    first = fit(x_train, y_train, c)
    return first, fit(hasher.transform(second_pass_rows(train, p1)), y_train, c)


def _flat(texts: list[tuple[int, list[int], list[list[str]], list[int]]]) -> list[list[str]]:
    return [x for _, _, xs, _ in texts for x in xs]


def _labels(texts: list[tuple[int, list[int], list[list[str]], list[int]]]) -> np.ndarray:
    return np.array([y for _, _, _, ys in texts for y in ys])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def main(argv: list[str] | None = None) -> None:
    from sklearn.feature_extraction import FeatureHasher

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=60000, help="training texts per seed")
    parser.add_argument("--seeds", default="7,8,9,10,11",
                        help="one model per seed, each on its own texts; the shipped weights are their average")
    parser.add_argument("--C", type=float, default=0.3, help="inverse L2 strength")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[3], help="checkout with datasets/")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where the weights go (default: the shipped file)")
    args = parser.parse_args(argv)
    started = time.time()
    seeds = [int(s) for s in args.seeds.split(",")]
    gazetteer = Gazetteer()
    hasher = FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)
    coef = {"1": np.zeros(N_FEATURES), "2": np.zeros(N_FEATURES)}
    bias = {"1": 0.0, "2": 0.0}
    for seed in seeds:
        for k, model in zip("12", fit_passes(build(args.sentences, seed, args.repo), gazetteer, hasher, args.C)):
            coef[k] += model.coef_[0] / len(seeds)
            bias[k] += float(model.intercept_[0]) / len(seeds)
        print(f"seed {seed}: {args.sentences} texts fitted ({time.time() - started:.0f} s)", flush=True)
    # Held out: texts of a seed no model saw.
    test = [examples(t, s, gazetteer) for t, s in build(max(1000, args.sentences // 10), max(seeds) + 1000, args.repo)]
    x_test, y_test = hasher.transform(_flat(test)), _labels(test)
    p1_test = _sigmoid(x_test @ coef["1"] + bias["1"])
    prob = _sigmoid(hasher.transform(second_pass_rows(test, p1_test)) @ coef["2"] + bias["2"])
    for name, p in (("pass one", p1_test), ("pass two", prob)):
        for threshold in (0.5, 0.7, THRESHOLD):
            pred = p >= threshold
            tp = int((pred & (y_test == 1)).sum())
            print(f"{name}, held-out candidate tokens {len(y_test)} at {threshold}: recall {tp / max(1, (y_test == 1).sum()):.4f} "
                  f"precision {tp / max(1, pred.sum()):.4f}")
    weights = {}
    for k in "12":
        index = np.flatnonzero(np.abs(coef[k]) > PRUNE)
        weights |= {f"index{k}": index.astype(np.int32), f"value{k}": coef[k][index].astype(np.float32), f"bias{k}": np.float32(bias[k])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as fh:  # a file object: np.savez would otherwise append ".npz" to other names
        np.savez_compressed(fh, **weights)
    print(f"saved {args.out} ({args.out.stat().st_size} bytes) after {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
