"""Captures → a labelled dataset a specialist can be trained on, with a report of what was dropped.

- Labels: the task's known labels (its specialist's, or given by the user); with none known, the
  short answers the frontier gave at least ``min_label_count`` times become the label set (the
  most frequent spelling of each).
- Normalisation of free text: the answer is the label give or take case, quotes, punctuation and
  ``_``/``-``/space (specialists/labels.match_label), or ``{"label": ...}``, or it names exactly one
  label as a phrase ("The intent is card arrival."). Anything else is unparseable: counted and
  reported (its most common answers), never guessed.
- Deduplication on the input (case and whitespace folded): one example per input, its most
  frequent label; inputs whose labels tie are dropped as conflicts.
- Split: a stable hash of the folded input puts ``heldout_share`` of the inputs in a held-out
  set the model never trains on (the same input lands on the same side in every run), so
  "agreement with the frontier" is measured on inputs it never saw.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from rightmodel.distill.store import Capture
from rightmodel.specialists.labels import match_label

_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"[\s_\-]+")
MAX_LABEL_CHARS = 64
MAX_LABEL_WORDS = 6


@dataclass
class DistillSet:
    labels: list[str]
    train: list[tuple[str, str]] = field(default_factory=list)
    heldout: list[tuple[str, str]] = field(default_factory=list)
    captured: int = 0
    duplicates: int = 0
    conflicts: int = 0
    unparseable: int = 0
    unparseable_answers: list[tuple[str, int]] = field(default_factory=list)  # most common first
    label_source: str = "given"

    def summary(self) -> dict:
        return {
            "captured": self.captured, "examples": len(self.train) + len(self.heldout), "train": len(self.train),
            "heldout": len(self.heldout), "duplicates": self.duplicates, "conflicts": self.conflicts,
            "unparseable": self.unparseable, "unparseable_answers": self.unparseable_answers[:10],
            "labels": len(self.labels), "label_source": self.label_source,
        }


def fold(text: str) -> str:
    return _SPACE.sub(" ", text.strip().casefold())


def _phrase(text: str) -> str:
    return " " + _WORDS.sub(" ", re.sub(r"[^\w\s\-]", " ", text.casefold())).strip() + " "


def normalise(answer: str, labels: Sequence[str]) -> str | None:
    """The label an answer gives (see the module docstring), or None."""
    exact = match_label(answer, labels)
    if exact is not None:
        return exact
    text = _phrase(answer)
    named = [label for label in labels if _phrase(label) in text]
    # "lost or stolen card" also contains "card": prefer a label no other named label contains.
    named = [a for a in named if not any(a != b and _phrase(a).strip() in _phrase(b) for b in named)]
    return named[0] if len(named) == 1 else None


def infer_labels(answers: Sequence[str], min_count: int = 2) -> list[str]:
    """Short answers given at least ``min_count`` times, in their most frequent spelling."""
    spellings: dict[str, Counter] = defaultdict(Counter)
    for answer in answers:
        raw = answer.strip().strip(" \t\"'`*.:;")
        if raw and len(raw) <= MAX_LABEL_CHARS and len(raw.split()) <= MAX_LABEL_WORDS:
            spellings[_phrase(raw).strip()][raw] += 1
    return sorted(c.most_common(1)[0][0] for c in spellings.values() if sum(c.values()) >= min_count)


def in_heldout(text: str, share: float) -> bool:
    digest = hashlib.sha256(fold(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def build_dataset(
    captures: Sequence[Capture], labels: Sequence[str] | None = None, heldout_share: float = 0.2, min_label_count: int = 2
) -> DistillSet:
    answers = [c.answer for c in captures]
    if labels:
        out = DistillSet(labels=sorted(set(labels)), label_source="given")
    else:
        out = DistillSet(labels=infer_labels(answers, min_label_count), label_source="inferred from the answers")
    out.captured = len(captures)
    votes: dict[str, Counter] = defaultdict(Counter)
    first_text: dict[str, str] = {}
    bad: Counter = Counter()
    for c in captures:
        label = normalise(c.answer, out.labels) if out.labels else None
        if label is None:
            out.unparseable += 1
            bad[c.answer.strip()[:200]] += 1
            continue
        key = fold(c.input)
        if not key:
            out.unparseable += 1
            continue
        if key in votes:
            out.duplicates += 1
        first_text.setdefault(key, c.input)
        votes[key][label] += 1
    out.unparseable_answers = bad.most_common(10)
    for key, counter in votes.items():
        ranked = counter.most_common(2)
        if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
            out.conflicts += 1
            continue
        example = (first_text[key], ranked[0][0])
        (out.heldout if in_heldout(key, heldout_share) else out.train).append(example)
    return out
