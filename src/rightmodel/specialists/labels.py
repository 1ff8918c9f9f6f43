"""Which of a task's labels a free-text answer names: how a frontier model's answer is read as
a label (the gateway's ledger rows and shadow comparisons, and distillation's datasets)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson


_SEPARATORS = re.compile(r"[\s_\-]+")
_WRAPPING = " \t\r\n\"'`*.:;"


def _norm(text: str) -> str:
    return _SEPARATORS.sub(" ", text.strip(_WRAPPING).casefold()).strip()


def match_label(answer: str, labels: Sequence[str]) -> str | None:
    """The task label a free-text answer names, if it is just that label (or ``{"label": ...}``).

    Case, surrounding quotes/punctuation and ``_``/``-``/space differences are ignored, so
    "Card arrival." matches ``card_arrival``; anything longer than a label is not guessed at
    (issue 8's distillation normalises free text further, with a report of what it could not).
    """
    text = answer.strip()
    if not text or len(text) > 512:
        return None
    if text.startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        value = parsed.get("label") if isinstance(parsed, dict) else None
        if not isinstance(value, str):
            return None
        text = value
    wanted = _norm(text)
    found = [label for label in labels if _norm(label) == wanted]
    return found[0] if len(found) == 1 else None
