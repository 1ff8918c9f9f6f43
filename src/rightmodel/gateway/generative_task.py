"""A task whose specialist is a generate model: answer locally, or escalate when the answer is unsure.

The same decision as a classifier's (gateway/chat.py serve_specialist), on a different score: the
generator writes its whole answer, scored by exp(mean token log-probability)
(rightmodel/generative/acceptance.py); at or above the task's calibrated threshold the answer is
sent, below it the request goes to the task's escalation target (route `escalated`, the local
answer's score and cost in the ledger row). Because the decision needs the finished answer, a
streaming client receives a local answer in one piece once it is accepted (an escalated one
streams from the frontier model as usual); name the generate model itself to stream it token by
token without escalation.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from rightmodel.backends.base import UpstreamError
from rightmodel.gateway import answers
from rightmodel.gateway.chat import JSON, inspect_privacy, learned_pick, record, serve_remote
from rightmodel.gateway.deadlines import Scope
from rightmodel.gateway.errors import APIError
from rightmodel.gateway.fallback import relay
from rightmodel.gateway.state import GatewayState
from rightmodel.gateway.ticket import Ticket
from rightmodel.routing.decision import Decision


def local_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The request as the generator takes it: whole (the decision needs the full answer)."""
    out = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "metadata", "user", "store")}
    out["model"] = model
    return out


async def serve_generative_specialist(state: GatewayState, t: Ticket, body: dict[str, Any], decision: Decision,
                                      scope: Scope) -> Response:
    name = decision.specialist
    backend = state.remotes[name]
    task_cfg = state.constellation.tasks.get(decision.task or "")
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
        target = decision.escalate_to if decision.pick is None else await learned_pick(state, t, decision)
        t.reason = f"{t.reason}, escalated to {target}"
        await inspect_privacy(state, t, body, task_cfg, scope)
        return await serve_remote(state, t, body, target, route="escalated")
    t.model_ms = (time.perf_counter() - started) * 1000.0
    score = score or 0.0
    t.confidence = score
    t.specialist = backend.version or name  # `task@vN` when the model is a registered version
    usage = result.usage
    local_cost = state.costs.local(t.model_ms / 1000.0) + state.costs.remote(name, usage)
    choice = result.body["choices"][0]
    text = choice["message"]["content"] or ""
    if score < threshold:
        if decision.escalates:
            t.escalated = True
            t.reason = f"{decision.reason}; acceptance {score:.4f} < threshold {threshold:.4f}"
            target = decision.escalate_to if decision.pick is None else await learned_pick(state, t, decision)
            t.reason = f"{t.reason}, escalated to {target}"
            t.extra["specialist"] = {"model": name, "acceptance": round(score, 6), "compute_ms": round(t.model_ms, 3),
                                     "tokens": usage.completion_tokens}
            t.cost = local_cost
            await inspect_privacy(state, t, body, task_cfg, scope)
            return await serve_remote(state, t, body, target, route="escalated")
        if decision.on_unsure == "error":
            t.route, t.model, t.cost = "escalation_unavailable", name, local_cost
            t.reason = f"{decision.reason}; acceptance {score:.4f} < threshold {threshold:.4f} and task {t.task} escalates nothing (on_unsure: error)"
            raise APIError(503, f"the generative specialist of task {t.task} is not confident enough to answer (acceptance {score:.4f} < "
                           f"threshold {threshold:.4f}) and the task escalates nothing", code="specialist_unsure")
        t.extra["unsure"] = True  # guess, or escalate with no target: the answer, marked unsure
        t.reason = f"{decision.reason}; acceptance {score:.4f} < threshold {threshold:.4f}, answered as an unsure guess"
    else:
        t.reason = f"{decision.reason}; acceptance {score:.4f} >= threshold {threshold:.4f}"
    t.route, t.model = "specialist", name
    t.usage, t.cost = usage, local_cost
    t.counterfactual = state.costs.counterfactual(usage)
    info = t.info(threshold)
    if t.stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = answers.completion_chunks(t.request_id, body["model"], text, usage.prompt_tokens, usage.completion_tokens, info, include_usage)
        record(state, t, 200)
        return StreamingResponse(iter(frames), media_type="text/event-stream", headers=info.headers())
    payload = answers.completion(t.request_id, body["model"], text, usage.prompt_tokens, usage.completion_tokens, info)
    payload["choices"][0]["finish_reason"] = choice.get("finish_reason") or "stop"
    record(state, t, 200)
    return Response(orjson.dumps(payload), media_type=JSON, headers=info.headers())
