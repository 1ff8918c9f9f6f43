"""Outcome rows from the gateway's own records: captured prompts joined with client feedback.

The ledger never holds prompts; the capture store does, for tasks with ``capture:`` on (their
escalated and remote requests, as the remote model saw them). Feedback (``POST /v1/feedback``)
judges the answer served and, when the specialist escalated, the specialist's own guess too. So,
joined by request id, an escalated request with feedback is a complete outcome row: the remote
model's quality (the feedback's ``score`` if given, else ``correct``) and the specialist's
(``specialist_correct``). Requests that carry one model's quality only (a remote route) are merged
by prompt text with other requests of the same prompt; per prompt and model the quality is the
mean over its judged requests. A prompt becomes a training row once both models a router is
trained for have a quality on it.

Columns: each remote model by its name in the constellation, and ``specialist`` for the task's
specialist, whatever its version (so a router can learn when the specialist's answer is enough).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SPECIALIST = "specialist"


@dataclass
class LedgerOutcomes:
    """Judged prompts of one task, one row per distinct prompt, and what could not be used."""

    task: str
    rows: list[dict[str, Any]]  # {"prompt": text, <model>: mean quality, ...}
    feedback_rows: int = 0
    without_capture: int = 0  # judged requests whose prompt is not in the capture store
    without_verdict: int = 0  # feedback that judged neither the answer nor the specialist
    columns: Counter[str] = field(default_factory=Counter)  # prompts with a quality, per model

    def describe(self) -> str:
        cols = ", ".join(f"{c} ({n} prompts)" for c, n in self.columns.most_common()) or "none"
        return (f"task {self.task}: {self.feedback_rows} feedback rows, {self.without_capture} without a captured prompt, "
                f"{self.without_verdict} without a verdict → {len(self.rows)} judged prompts; model columns: {cols}")

    def both(self, strong: str, weak: str) -> int:
        return sum(1 for r in self.rows if strong in r and weak in r)

    def write_jsonl(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows), encoding="utf-8")
        return path


def _quality(score: float | None, correct: bool | None) -> float | None:
    if score is not None:
        return float(score)
    return None if correct is None else float(correct)


def collect(ledger: Any, captures: Any, task: str, since: datetime | None = None) -> LedgerOutcomes:
    """Join ``task``'s feedback (ledger engine) with its captured prompts (a ``CaptureStore``)."""
    import sqlalchemy as sa

    from rightmodel.ledger.store import feedback

    f = feedback.c
    query = sa.select(f.request_id, f.route, f.model, f.score, f.correct, f.specialist_correct).where(f.task == task)
    if since is not None:
        query = query.where(f.request_created_at >= since)
    with ledger.connect() as conn:
        judged = conn.execute(query).all()
    prompts = {c.request_id: c.input for c in captures.fetch(task, since=since)}
    out = LedgerOutcomes(task, [], feedback_rows=len(judged))
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in judged:
        text = prompts.get(row.request_id)
        if text is None:
            out.without_capture += 1
            continue
        seen = {}
        if row.route == "specialist":  # the specialist's answer was the answer
            seen[SPECIALIST] = _quality(row.score, row.correct)
        else:
            if row.model:
                seen[row.model] = _quality(row.score, row.correct)
            if row.specialist_correct is not None:  # its guess before escalating, judged
                seen[SPECIALIST] = float(row.specialist_correct)
        seen = {m: q for m, q in seen.items() if q is not None}
        if not seen:
            out.without_verdict += 1
            continue
        for model, q in seen.items():
            sums[text][model].append(q)
    for text, per_model in sums.items():
        out.rows.append({"prompt": text, **{m: sum(v) / len(v) for m, v in per_model.items()}})
        out.columns.update(per_model.keys())
    return out
