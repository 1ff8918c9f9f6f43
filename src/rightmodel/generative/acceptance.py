"""When a generative specialist's answer is good enough to send: a score, a quality bar, a threshold.

A classifier's confidence is a probability of its label; a generated answer has no label to be
right about, so two things stand in for it:

- the **acceptance score** of one answer: the geometric mean of the probabilities the model gave
  the tokens it wrote, exp(mean log p), in (0, 1] like a classifier's confidence (the fixed
  threshold grid of routing/calibration.py applies unchanged). It is computed from llama.cpp's
  logits as the answer is sampled (generative/engine.py), so scoring costs no second pass. A long
  answer is not punished for its length (a mean, not a sum).
- the task's **quality bar**: when is an answer *right*? `exact` (the whole answer equals the
  reference; for JSON, equal as parsed objects, so spacing and key order do not matter) for
  structured output; `chrf>=TAU` (sacrebleu's chrF, 0..100 scaled to 0..1) for free text.

The threshold is then chosen on a calibration split the model never trained on, by the same
conformal rule as classifiers (`calibrate_threshold`), and checked on a test split: the card
reports both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightmodel.errors import ConfigError


def acceptance_score(logprobs: Sequence[float]) -> float:
    """exp(mean token log-probability): 1 when the model was certain of every token."""
    return math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


@dataclass(frozen=True)
class QualityBar:
    """How an answer is judged against its reference: `exact`, or `chrf` at least `tau` (0..1)."""

    metric: str  # "exact" | "chrf"
    tau: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "QualityBar":
        """`exact` or `chrf>=0.6`: what `train --quality` and the card hold."""
        text = text.strip().replace(" ", "")
        if text == "exact":
            return cls("exact")
        if text.startswith("chrf>="):
            try:
                tau = float(text[len("chrf>="):])
            except ValueError:
                tau = -1.0
            if 0.0 < tau <= 1.0:
                return cls("chrf", tau)
        raise ConfigError(f"quality bar {text!r}: use 'exact' or 'chrf>=TAU' with TAU in (0, 1], e.g. chrf>=0.6")

    def __str__(self) -> str:
        return "exact" if self.metric == "exact" else f"chrf>={self.tau:g}"

    def score(self, answer: str, reference: str) -> float:
        """The metric in 0..1 (exact: 1 or 0)."""
        if self.metric == "exact":
            a, r = _json_or_none(answer), _json_or_none(reference)
            if r is not None and a is not None:
                return float(a == r)
            return float(answer.strip() == reference.strip())
        from sacrebleu.metrics import CHRF

        return CHRF().sentence_score(answer, [reference]).score / 100.0

    def passes(self, answer: str, reference: str) -> bool:
        return self.score(answer, reference) >= self.tau - 1e-12


def read_json_schema(path: Path | None) -> dict[str, Any] | None:
    """The JSON schema file a task's answers are constrained to (`--schema`), or a ConfigError naming it."""
    if path is None:
        return None
    try:
        schema = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--schema {path}: not a readable JSON file ({exc})") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"--schema {path}: a JSON schema must be an object")
    return schema
