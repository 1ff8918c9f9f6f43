"""A task whose specialist is a generate model: answer locally, or escalate when the answer is unsure.

The same decision as a classifier's (gateway/chat.py serve_specialist), on a different score: the
generator writes its whole answer, scored by exp(mean token log-probability)
(rightmodel/generative/acceptance.py); at or above the task's calibrated threshold the answer is
sent, below it the request goes to the task's escalation target (route `escalated`, the local
answer's score and cost in the ledger row). Because the decision needs the finished answer, a
streaming client receives a local answer in one piece once it is accepted (an escalated one
streams from the frontier model as usual); name the generate model itself to stream it token by
token without escalation.

This module decides; gateway/chat.py answers or escalates (one place writes ledger rows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rightmodel.backends.base import UpstreamError, Usage
from rightmodel.gateway.errors import APIError
from rightmodel.gateway.fallback import relay
from rightmodel.gateway.state import GatewayState
from rightmodel.gateway.ticket import Ticket
from rightmodel.routing.decision import Decision


@dataclass(frozen=True)
class LocalAnswer:
    """The generator's answer, to be sent (accepted, or an unsure guess when nothing escalates)."""

    text: str
    usage: Usage
    finish_reason: str
    threshold: float


def local_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The request as the generator takes it: whole (the decision needs the full answer)."""
    out = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "metadata", "user", "store")}
    out["model"] = model
    return out


async def local_answer(state: GatewayState, t: Ticket, body: dict[str, Any], decision: Decision) -> LocalAnswer | None:
    """The answer to send, or None when the request should escalate (`t` says why, with the local
    attempt's score and cost). Raises APIError for a request the generator refuses (400) and for an
    unsure answer in a task whose `on_unsure` is `error` (503)."""
    name = decision.specialist
    backend = state.remotes[name]
    threshold = decision.threshold if decision.threshold is not None else backend.acceptance_threshold
    started = time.perf_counter()
    try:
        result, score = await backend.scored_chat(local_body(body, name))
    except UpstreamError as exc:
        t.model_ms = (time.perf_counter() - started) * 1000.0
        if exc.status == 400 or not decision.escalates:  # the request's fault, or nowhere else to go
            raise relay(exc, name) from None
        t.escalated = True  # busy (429) or failed: the frontier model answers instead
        t.reason = f"{decision.reason}; generative specialist {name} could not answer ({exc.kind} {exc.status or ''})".rstrip()
        return None
    t.model_ms = (time.perf_counter() - started) * 1000.0
    score = score or 0.0
    t.confidence = score
    t.specialist = backend.version or name  # `task@vN` when the model is a registered version
    usage = result.usage
    t.cost = state.costs.local(t.model_ms / 1000.0) + state.costs.remote(name, usage)
    choice = result.body["choices"][0]
    if score < threshold:
        if decision.escalates:
            t.escalated = True
            t.reason = f"{decision.reason}; acceptance {score:.4f} < threshold {threshold:.4f}"
            t.extra["specialist"] = {"model": name, "acceptance": round(score, 6), "compute_ms": round(t.model_ms, 3),
                                     "tokens": usage.completion_tokens}
            return None
        if decision.on_unsure == "error":
            t.route, t.model = "escalation_unavailable", name
            t.reason = f"{decision.reason}; acceptance {score:.4f} < threshold {threshold:.4f} and task {t.task} escalates nothing (on_unsure: error)"
            raise APIError(503, f"the generative specialist of task {t.task} is not confident enough to answer (acceptance {score:.4f} < "
                           f"threshold {threshold:.4f}) and the task escalates nothing", code="specialist_unsure")
        t.extra["unsure"] = True  # guess, or escalate with no target: the answer, marked unsure
        t.reason = f"{decision.reason}; acceptance {score:.4f} < threshold {threshold:.4f}, answered as an unsure guess"
    else:
        t.reason = f"{decision.reason}; acceptance {score:.4f} >= threshold {threshold:.4f}"
    t.route, t.model, t.usage = "specialist", name, usage
    t.counterfactual = state.costs.counterfactual(usage)
    return LocalAnswer(choice["message"]["content"] or "", usage, choice.get("finish_reason") or "stop", threshold)
