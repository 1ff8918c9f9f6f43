"""The tagger's two passes scored over a whole text at once, in numpy.

A feature group reads at most three words (a word, a neighbour, an adjacent pair, the case of
three words in a row), so its weight sum depends only on those words: it is computed once per
distinct group for both passes at once (`Passes.sums`, cached across requests: a group's feature
strings are built and hashed once, not once per pass) and gathered for every candidate by integer
codes, all nine groups of a text in one lookup. The Python work per text grows with the number of *distinct* words and pairs, not with its
length — 1 MB of one sentence repeated costs what the sentence costs, plus numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import NamedTuple

import numpy as np

CASES = "TULIMDPNOS"  # case_of()'s letters, and S for the padding
BUCKET_CHARS = "01234n"  # neighbour_buckets()'s values: pass-one belief in fifths, n for not a candidate
BOUNDARY = frozenset(("<s>", "\n", ".", "!", "?", ":", ";", "-", "•", "*", '"', "(", ",", "|", "#", ">", "–", "—", "“", "«"))


class Info(NamedTuple):
    low: str
    shape: str
    case: str
    gaz: str  # given-name class, surname class, common-word flag, dictionary-word flag: e.g. "21c-", "00-d"
    flags: str  # s stop word, p particle, h hyphen
    cl: int  # embedding cluster of a common word (0: none)
    candidate: str  # "y" always a name candidate, "n" never, "c" depends on the neighbours (is_candidate)


# Group sums kept per pass before the cache starts afresh (~270 bytes an entry with its key's words:
# measured, 500,000 per pass grew a gateway by ~250 MiB on varied text; a miss costs one hash per feature).
CACHE_ENTRIES = 500_000


def hash_index(feature: str, n_features: int) -> int:
    """The column scikit-learn's FeatureHasher(n_features, input_type="string", alternate_sign=False)
    gives a feature: MurmurHash3_x86_32 of its UTF-8 bytes, seed 0, signed, |h| mod n_features
    (sklearn/feature_extraction/_hashing_fast.pyx). The tagger was trained with FeatureHasher
    (train_names.py); serving hashes with mmh3 instead, so it needs no scikit-learn or scipy."""
    import mmh3

    h = mmh3.hash(feature.encode("utf-8"), 0, True)
    return (2147483647 - (n_features - 1)) % n_features if h == -2147483648 else abs(h) % n_features


def hashed_rows(rows: list[list[str]], n: int, h: Callable[..., int]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's features hashed to columns: distinct row * n + column codes, sorted, and how often each occurs."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    hashes = np.fromiter((h(f.encode("utf-8"), 0, True) for row in rows for f in row), dtype=np.int64, count=int(lengths.sum()))
    columns = np.where(hashes == -2147483648, (2147483647 - (n - 1)) % n, np.abs(hashes) % n)
    keys = np.repeat(np.arange(len(rows), dtype=np.int64), lengths) * n + columns
    return np.unique(keys, return_counts=True)  # sorted by row, then column


class Pass:
    """One logistic regression over hashed features, with its group sums cached by the words they read."""

    def __init__(self, index: np.ndarray, value: np.ndarray, bias: float, features_of: Callable[[tuple], list[str]],
                 n_features: int) -> None:
        import mmh3

        # The weights as sorted (column, value) pairs, not a dense 2**21 array (8 MiB a pass; measured -8.5 MiB RSS in all)
        # (~290k of 2M columns are non-zero). The dense array's last write wins for a repeated column.
        dense_order = np.unique(np.asarray(index, dtype=np.int64)[::-1], return_index=True)
        self.columns = dense_order[0].astype(np.int32)  # every column < 2**21: half the bytes a binary search reads
        self.values = np.asarray(value, dtype=np.float32)[::-1][dense_order[1]]
        self.bias = bias
        self.features_of = features_of
        self.n_features = n_features
        self._hash = mmh3.hash
        self._cache: dict[Hashable, float] = {}

    def sums(self, keys: list[tuple]) -> np.ndarray:
        """The weight sum of each group key; groups not seen before are hashed together in one pass."""
        cache = self._cache
        values = [cache.get(k) for k in keys]
        missing = [i for i, v in enumerate(values) if v is None]
        if missing:
            if len(cache) > CACHE_ENTRIES:
                cache.clear()
            computed = self._weight_sums([self.features_of(keys[i]) for i in missing])
            for i, v in zip(missing, computed):
                cache[keys[i]] = values[i] = v
        return np.array(values, dtype=np.float64)

    def _weight_sums(self, rows: list[list[str]]) -> list[float]:
        """Per row of features, sum(weight[column]) with repeats counted: the same floats as
        FeatureHasher.transform (a CSR matrix, duplicates summed, columns sorted within a row) and
        np.bincount over it in that order, which is how the tagger summed before."""
        return self.row_sums(*hashed_rows(rows, self.n_features, self._hash), len(rows))

    def row_sums(self, distinct: np.ndarray, counts: np.ndarray, n_rows: int) -> list[float]:
        """`hashed_rows`' (row, column) codes summed per row with this pass's weights."""
        n = self.n_features
        return np.bincount(distinct // n, weights=self.weight(distinct % n) * counts.astype(np.float64), minlength=n_rows).tolist()

    @property
    def weights(self) -> np.ndarray:
        """The dense weight vector (n_features float32), built on each access: for checks against
        training's hashed matrices (tests), never held."""
        dense = np.zeros(self.n_features, dtype=np.float32)
        dense[self.columns] = self.values
        return dense

    def weight(self, columns: np.ndarray) -> np.ndarray:
        """float32 weight of each column (0 where the model has none)."""
        columns = columns.astype(np.int32)
        at = np.minimum(np.searchsorted(self.columns, columns), len(self.columns) - 1)
        return np.where(self.columns[at] == columns, self.values[at], np.float32(0))

    def gather(self, codes: np.ndarray, key_of: Callable[[int], tuple]) -> np.ndarray:
        """Per candidate, the sum of the group its integer code stands for."""
        distinct, inverse = np.unique(codes, return_inverse=True)
        return self.sums([key_of(int(c)) for c in distinct])[inverse]


class TokenTable:
    """A text's tokens as integer codes: distinct words, their cases, where sentences start."""

    def __init__(self, words: list[str], infos: list[Info], pad_word: str) -> None:
        first_info = dict(zip(words, infos))  # a word's description depends on the word alone
        index = {w: i for i, w in enumerate(first_info)}
        ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        self.words = list(index) + [pad_word]
        self.size = len(self.words)  # codes of word pairs are a * size + b
        pad = self.size - 1
        self.ids = np.concatenate(([pad, pad], ids, [pad, pad]))  # padded by two each side
        self.case = np.array([CASES.index(first_info[w].case) for w in index] + [CASES.index("S")], dtype=np.int64)
        boundaries = BOUNDARY
        boundary = np.array([first_info[w].low in boundaries for w in index] + [True], dtype=bool)
        self.starts = np.ones(len(words), dtype=bool)  # first token, or after a boundary token
        self.starts[1:] = boundary[ids[:-1]]


GROUPS = 9  # feature groups of pass one (name_tagger.candidate_keys), in the order their sums are added


class Passes:
    """Both passes' shared feature groups, scored together: each group's features are built and
    hashed once for the two passes, and every group of a text is looked up in one go (one
    np.unique over all groups' codes, one cache read per distinct group), not group by group."""

    def __init__(self, first: Pass, second: Pass) -> None:
        if first.n_features != second.n_features:
            raise ValueError("the two passes hash into different widths")
        self.first, self.second = first, second
        self._cache: dict[Hashable, tuple[float, float]] = {}
        # Both passes' weights over the union of their columns (int32: every column < 2**21), so a
        # new feature costs one binary search, not one per pass, over half the bytes.
        self.columns = np.union1d(first.columns, second.columns).astype(np.int32)
        self.values = np.zeros((len(self.columns), 2), dtype=np.float32)
        for k, p in enumerate((first, second)):
            self.values[np.searchsorted(self.columns, p.columns), k] = p.values

    def sums(self, keys: list[tuple]) -> np.ndarray:
        """(len(keys), 2): each group's weight sum in pass one and in pass two."""
        cache = self._cache
        values = [cache.get(k) for k in keys]
        missing = [i for i, v in enumerate(values) if v is None]
        if missing:
            if len(cache) > CACHE_ENTRIES:
                cache.clear()
            first = self.first
            n = first.n_features
            distinct, counts = hashed_rows([first.features_of(keys[i]) for i in missing], n, first._hash)
            columns = (distinct % n).astype(np.int32)
            at = np.minimum(np.searchsorted(self.columns, columns), len(self.columns) - 1)
            weights = np.where((self.columns[at] == columns)[:, None], self.values[at], np.float32(0))
            rows, counts = distinct // n, counts.astype(np.float64)
            sums = [np.bincount(rows, weights=weights[:, k] * counts, minlength=len(missing)).tolist() for k in (0, 1)]
            for i, v1, v2 in zip(missing, *sums):
                cache[keys[i]] = values[i] = (v1, v2)
        return np.array(values, dtype=np.float64).reshape(len(keys), 2)

    def scores(self, t: TokenTable, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores of the shared groups (name_tagger.candidate_keys) in pass one and pass two,
        each summed group after group in candidate_keys order, as the passes were summed one at a time before (the same floats)."""
        size, words, n = t.size, t.words, len(candidates)
        w = t.ids[candidates + 2]
        a, b = t.ids[candidates + 1], t.ids[candidates + 3]
        codes = np.concatenate((w, t.ids[candidates], a, b, t.ids[candidates + 4], t.starts[candidates] * size + w,
                                a * size + w, w * size + b, t.case[a] * 100 + t.case[w] * 10 + t.case[b]))
        group = np.repeat(np.arange(GROUPS, dtype=np.int64), n)
        distinct, inverse = np.unique(codes * GROUPS + group, return_inverse=True)
        keys = []
        for c in distinct.tolist():
            g, code = c % GROUPS, c // GROUPS
            if g == 0:
                keys.append(("w", words[code]))
            elif g <= 4:
                keys.append((_OFFSETS[g], words[code]))
            elif g == 5:
                keys.append(("st", bool(code // size), words[code % size]))
            elif g == 6:
                keys.append(("l", words[code // size], words[code % size]))
            elif g == 7:
                keys.append(("r", words[code // size], words[code % size]))
            else:
                keys.append(("t", CASES[code // 100], CASES[code // 10 % 10], CASES[code % 10]))
        per = self.sums(keys)[inverse].reshape(GROUPS, n, 2)
        out = []
        for k, p in enumerate((self.first, self.second)):
            total = p.bias + per[0, :, k]
            for g in range(1, GROUPS):
                total += per[g, :, k]
            out.append(total)
        return out[0], out[1]


_OFFSETS = (None, -2, -1, 1, 2)


def neighbour_scores(p: Pass, tokens: int, candidates: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Pass two's neighbour group: pass one's beliefs about tokens i-2..i+2, as one code per candidate."""
    buckets = np.full(tokens + 4, 5, dtype=np.int64)
    buckets[candidates + 2] = np.minimum(4, (first * 5).astype(np.int64))
    codes = sum(buckets[candidates + 2 + o] * 6 ** (o + 2) for o in (-2, -1, 0, 1, 2))
    return p.gather(codes, lambda c: ("q", *(BUCKET_CHARS[c // 6 ** k % 6] for k in range(5))))


def runs(p: np.ndarray, threshold: float, extend: float) -> list[tuple[int, int]]:
    """(first, last) token of every run of tokens at least `extend` likely that holds one at least
    `threshold` likely: hysteresis, so "Isabel" (sure) takes "Morales" (less sure) with it."""
    ext = np.flatnonzero(p >= extend)
    if not len(ext):
        return []
    cut = np.flatnonzero(np.diff(ext) != 1) + 1
    starts, ends = np.r_[0, cut], np.r_[cut, len(ext)]
    keep = np.maximum.reduceat((p[ext] >= threshold).astype(np.int8), starts)
    return [(int(ext[s]), int(ext[e - 1])) for s, e, k in zip(starts, ends, keep) if k]
