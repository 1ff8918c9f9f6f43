"""POST /v1/feedback: the correct label, a score or a verdict on an answer, stored in the ledger.

The request is named by its id: the ``x-request-id`` response header, or the completion's ``id``
(``chatcmpl-<request id>`` for answers the gateway writes, ``cmpl-`` and ``resp_`` on /v1/completions
and /v1/responses, whoever answered them; a chat answer relayed from a remote model
keeps that model's own id, so the 404 for an unknown id points to the header). A key may only give feedback on its own
tenant's requests (another tenant's id is "not found", so ids cannot be probed); an admin key
on any; on an open gateway anyone. A label must be one of the task's labels when the gateway
knows them. Feedback is not a model request, so it has no ledger row of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from rightmodel.gateway.errors import APIError, invalid
from rightmodel.gateway.validation import FeedbackInput, read_json, validate_feedback
from rightmodel.ledger.feedback import find_request, store_feedback

FEEDBACK_BODY_LIMIT = 64 * 1024
FLUSH_WAIT_S = 5.0  # a request answered a moment ago may still be on its way to the database
# Ids of answers the gateway wrote: chat completions, text completions, Responses API responses.
ANSWER_PREFIXES = ("chatcmpl-", "cmpl-", "resp_")
REQUEST_PREFIX = "req_"  # the gateway's own ids (x-request-id)


def _find(ledger: Any, request_id: str) -> dict[str, Any] | None:
    row = find_request(ledger.engine, request_id)
    if row is None and ledger.flush(FLUSH_WAIT_S):
        row = find_request(ledger.engine, request_id)
    return row


def known_labels(state: Any, row: dict[str, Any]) -> tuple[list[str], bool] | None:
    """The labels of the specialist that served or would serve this row's task, and whether it
    is multi-label; None when the gateway serves no specialist for it."""
    backends = list(state.specialists.values())
    backend = next((b for b in backends if b.ref == row.get("specialist")), None)
    if backend is None and row.get("task"):
        name = state.router.specialist_of.get(row["task"]) or state.shadow_of.get(row["task"])
        backend = state.specialists.get(name) if name else None
        if backend is None:
            backend = next((b for b in backends if b.version.task == row["task"]), None)
    return (list(backend.labels), bool(backend.runtime.multi_label)) if backend is not None else None


def _check_labels(fb: FeedbackInput, state: Any, row: dict[str, Any], param: str) -> None:
    if fb.labels is None:
        return
    known = known_labels(state, row)
    if known is None:
        return
    labels, multi = known
    if not multi and len(fb.labels) != 1:
        raise invalid(param, f"task '{row.get('task')}' takes exactly one label per request, got {len(fb.labels)}")
    unknown = [x for x in fb.labels if x not in labels]
    if unknown:
        sample = ", ".join(repr(x) for x in labels[:5]) + (", ..." if len(labels) > 5 else "")
        raise invalid(param, f"{unknown[0]!r} is not a label of task '{row.get('task')}' ({len(labels)} labels: {sample})", "unknown_label")


async def post_feedback(request: Request) -> Response:
    state = request.app.state.gateway
    body = await read_json(request, FEEDBACK_BODY_LIMIT)
    fb = validate_feedback(body)
    key = state.guard.authenticate(request)
    request_id = fb.request_id
    for prefix in ANSWER_PREFIXES:
        if request_id.startswith(prefix + REQUEST_PREFIX):
            request_id = request_id.removeprefix(prefix)
    try:
        row = await asyncio.to_thread(_find, state.ledger, request_id)
    except sa.exc.SQLAlchemyError:
        raise APIError(503, "the ledger database does not answer; the feedback was not stored, retry shortly",
                       code="ledger_unavailable", headers={"Retry-After": "2"}) from None
    if row is None or (key is not None and not key.admin and row.get("tenant") != key.tenant):
        hint = ("" if fb.request_id.startswith(REQUEST_PREFIX) else
                "; an answer from a remote model keeps that model's completion id: use the x-request-id response "
                "header instead (openai SDK: completion._request_id)")
        raise APIError(404, f"no request {fb.request_id!r} in the ledger" + (" for this key" if key is not None else "") + hint,
                       param="request_id", code="request_not_found")
    if row["status"] >= 400:
        raise invalid("request_id", f"request {request_id} was not answered (status {row['status']}): there is nothing to judge",
                      "request_not_answered")
    _check_labels(fb, state, row, "label" if "label" in body else "labels")
    try:
        stored = await asyncio.to_thread(store_feedback, state.ledger.engine, row, labels=fb.labels, score=fb.score, correct=fb.correct)
    except sa.exc.SQLAlchemyError:
        raise APIError(503, "the ledger database does not answer; the feedback was not stored, retry shortly",
                       code="ledger_unavailable", headers={"Retry-After": "2"}) from None
    if state.metrics is not None:
        state.metrics.observe_feedback(row.get("task"), stored["correct"])
    return Response(orjson.dumps({
        "object": "feedback",
        "request_id": request_id,
        "task": row.get("task"),
        "route": row.get("route"),
        "model": row.get("model"),
        "specialist": row.get("specialist"),
        "labels": stored["labels"],
        "score": stored["score"],
        "correct": stored["correct"],
        "specialist_correct": stored["specialist_correct"],
        "replaced": stored["replaced"],
    }), media_type="application/json")
