"""Feedback on answers: find the request, judge the answer against what the client says, store it.

Feedback is rare next to requests (a sample labelled by people, or outcomes joined back later), so
it is written straight to SQL, not through the journal: the caller learns at once whether it was
stored. The verdicts are computed here, once, from the request's ledger row, so a report counts
booleans instead of comparing JSON across a million rows.

- ``correct``: was the answer served right? The client's own ``correct`` if given; otherwise the
  given label(s) compared, as a set, with the labels the answer carried (``ledger_requests.labels``);
  unknown (None) for a free-text answer with only a label or score as feedback.
- ``specialist_correct``: was the specialist's own label right, whether it answered or was not
  confident and escalated (its guess)? This is the live accuracy of a specialist version, and
  comparing it between answered and escalated requests shows whether the threshold still
  separates them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from rightmodel.ledger.store import feedback, label_list, requests, write

_REQUEST_COLUMNS = ("request_id", "created_at", "tenant", "task", "route", "model", "status", "specialist", "labels", "extra")


def find_request(engine: Engine, request_id: str) -> dict[str, Any] | None:
    """The ledger row of ``request_id`` (the columns feedback needs), or None if not shipped yet."""
    query = sa.select(*(requests.c[name] for name in _REQUEST_COLUMNS)).where(requests.c.request_id == request_id)
    with engine.connect() as conn, conn.begin():
        row = conn.execute(query).first()
    if row is None:
        return None
    data = dict(row._mapping)
    created = data["created_at"]
    data["created_at"] = created.astimezone(timezone.utc) if created.tzinfo else created.replace(tzinfo=timezone.utc)
    return data


def specialist_guess(row: dict[str, Any]) -> list[str] | None:
    """The label(s) the specialist gave this request: its answer, or its guess before escalating."""
    if row.get("specialist") is None:
        return None
    if row.get("route") == "specialist":
        return label_list(row.get("labels"))
    said = (row.get("extra") or {}).get("specialist")
    if not isinstance(said, dict):
        return None
    if isinstance(said.get("labels"), list):
        return label_list(said["labels"])
    return [said["label"]] if isinstance(said.get("label"), str) else None


def judge(row: dict[str, Any], labels: list[str] | None, correct: bool | None) -> tuple[bool | None, bool | None]:
    """``(correct, specialist_correct)`` for feedback on ``row`` (see the module docstring)."""
    truth = None if labels is None else set(labels)
    answered = label_list(row.get("labels"))
    if correct is None and truth is not None and answered is not None:
        correct = set(answered) == truth
    guess = specialist_guess(row)
    if truth is not None and guess is not None:
        specialist_correct: bool | None = set(guess) == truth
    elif row.get("route") == "specialist" and row.get("specialist") is not None:
        specialist_correct = correct  # the specialist's answer was the answer
    else:
        specialist_correct = None
    return correct, specialist_correct


def store_feedback(
    engine: Engine,
    row: dict[str, Any],
    *,
    labels: list[str] | None,
    score: float | None,
    correct: bool | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Judge and upsert the feedback on ``row``; returns the stored values and whether earlier
    feedback was there. Fields given replace the stored ones, fields not given keep theirs (a
    score sent after a label keeps the label's verdict); verdicts follow the latest label or
    ``correct`` given."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with write(engine) as conn:
        old = conn.execute(sa.select(feedback).where(feedback.c.request_id == row["request_id"])).first()
        old = dict(old._mapping) if old is not None else None
        if labels is None and correct is None and old is not None:
            verdict, specialist_verdict = old["correct"], old["specialist_correct"]  # only a score is new
        else:
            verdict, specialist_verdict = judge(row, labels if labels is not None else (old or {}).get("labels"), correct)
        values = {
            "request_id": row["request_id"],
            "created_at": now or datetime.now(timezone.utc),
            "request_created_at": row["created_at"],
            "tenant": row.get("tenant"),
            "task": row.get("task"),
            "route": row.get("route") or "",
            "model": row.get("model"),
            "specialist": row.get("specialist"),
            "labels": labels if labels is not None else (old or {}).get("labels"),
            "score": score if score is not None else (old or {}).get("score"),
            "correct": verdict,
            "specialist_correct": specialist_verdict,
        }
        update = {k: v for k, v in values.items() if k != "request_id"}
        conn.execute(dialect.insert(feedback).values(values).on_conflict_do_update(index_elements=["request_id"], set_=update))
    return {**values, "replaced": old is not None}
