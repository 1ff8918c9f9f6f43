"""Scoring the served answers of bench/distill_generative.py against the teacher and the true labels.

Agreement with the teacher is judged the way the distilled card judges it (quality bar `exact`:
JSON compared as parsed objects, so key spacing does not count); correctness against the true
labels is the extraction bench's own `exact` (bench/generative_bench/extraction.py), so the numbers
line up with bench/results/generative.md.
"""

from __future__ import annotations

import json
from typing import Any

import benchlib
from generative_bench import extraction as ex

LOCAL = "specialist"  # the ledger / response route of an answer the student gave itself


def wilson(k: int, n: int) -> list[float] | None:
    """benchlib's 95% Wilson interval, rounded for the JSON."""
    ci = benchlib.wilson(k, n)
    return None if ci is None else [round(ci[0], 4), round(ci[1], 4)]


def same_answer(a: str | None, b: str | None) -> bool:
    """Quality bar `exact` as the card applies it: equal as parsed JSON, else equal as stripped text."""
    if a is None or b is None:
        return False
    try:
        return json.loads(a) == json.loads(b)
    except (json.JSONDecodeError, TypeError):
        return a.strip() == b.strip()


def rate(k: int, n: int) -> dict[str, Any]:
    """A share with its count and interval, in one shape for the JSON and the report."""
    return {"k": k, "n": n, "rate": k / n if n else None, "ci95": wilson(k, n)}


def score(results: list[dict], labels: list[dict], teacher: list[str | None]) -> dict[str, Any]:
    """Coverage, agreement with the teacher on the local answers, exact match vs the true labels
    (of the local answers, and of everything served), schema validity, routes and errors."""
    n = len(results)
    answered = [i for i, r in enumerate(results) if r.get("answer") is not None and r.get("route") != "error"]
    local = [i for i in answered if results[i]["route"] == LOCAL]
    other = [i for i in answered if results[i]["route"] != LOCAL]
    right = lambda i: ex.exact(results[i]["answer"], labels[i])[0]  # noqa: E731
    routes: dict[str, int] = {}
    for r in results:
        routes[str(r.get("route"))] = routes.get(str(r.get("route")), 0) + 1
    return {
        "requests": n, "answered": len(answered), "routes": routes, "errors": routes.get("error", 0),
        "coverage": rate(len(local), n),
        "agreement_local": rate(sum(same_answer(results[i]["answer"], teacher[i]) for i in local), len(local)),
        "exact_local": rate(sum(right(i) for i in local), len(local)),
        "teacher_exact_on_local": rate(sum(ex.exact(teacher[i] or "", labels[i])[0] for i in local), len(local)),
        "exact_escalated": rate(sum(right(i) for i in other), len(other)),
        "exact_served": rate(sum(right(i) for i in answered), n),
        "schema_valid_served": rate(sum(ex.exact(results[i]["answer"], labels[i])[1] for i in answered), n),
        "escalated_equals_teacher": rate(sum(same_answer(results[i]["answer"], teacher[i]) for i in other), len(other)),
        "disagreements_local": [{"message_index": i, "student": results[i]["answer"], "teacher": teacher[i], "truth": ex.answer_text(labels[i])}
                                for i in local if not same_answer(results[i]["answer"], teacher[i])][:10],
    }
