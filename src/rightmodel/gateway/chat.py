"""POST /v1/chat/completions: admit, route, answer (specialist, escalation or remote), record.

Every request, answered or refused, leaves exactly one ledger row. The row is journaled before
the response is handed to the server (for streams: before the final `[DONE]` frame), so an
answered request is never missing from the ledger even if the process dies right after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rightmodel.backends.base import ChatResult, ChatStream, UpstreamError, Usage
from rightmodel.bounds import JsonTooDeep
from rightmodel.constellation.config import TaskConfig
from rightmodel.constellation.costs import estimate_prompt_tokens, estimate_tokens
from rightmodel.gateway import answers, novelty_gate, shadow, shadow_generative
from rightmodel.gateway.generative_task import local_answer
from rightmodel.gateway.deadlines import Scope, bounded
from rightmodel.gateway.errors import APIError, no_route
from rightmodel.gateway.fallback import Attempts, call_with_fallbacks, error_kind, open_primed
from rightmodel.gateway.state import GatewayState
from rightmodel.gateway.ticket import Ticket
from rightmodel.gateway.validation import read_json, too_deep_error, validate_chat
from rightmodel.ledger import LedgerRecord
from rightmodel.messages import message_text, specialist_input
from rightmodel.privacy.stream import FrameRestorer
from rightmodel.routing.decision import Decision, NoRoute
from rightmodel.specialists.labels import match_label

JSON = "application/json"
DEADLINE_SETTING = "defaults.deadline_s"
DERIVED_DEADLINE = "defaults.deadline_s is unset: one attempt at each model of the longest fallback chain"
log = logging.getLogger("rightmodel.gateway")


def record(state: GatewayState, t: Ticket, status: int, error: str | None = None) -> None:
    """The request's one ledger row; also settles what the guard reserved for it."""
    state.guard.settle(t)
    if t.stream and status == 200:
        # A specialist's stream is whole when it is recorded (before its first byte leaves); a
        # remote stream set this at its first frame (relay_stream).
        t.extra.setdefault("first_token_ms", round(t.elapsed_ms(), 3))
    if t.shadow_job is not None:
        shadow_generative.finish(state, t, status)  # its verdict reaches the row later
    elif t.shadow_name is not None:
        shadow.finish(t, state.specialists[t.shadow_name])
    state.ledger.record(
        row := LedgerRecord(
            request_id=t.request_id,
            created_at=t.created_at,
            tenant=t.tenant,
            endpoint=t.endpoint,
            task=t.task,
            route=t.route,
            reason=t.reason,
            model=t.model,
            tokens_in=t.usage.prompt_tokens,
            tokens_out=t.usage.completion_tokens,
            cached_tokens=t.usage.cached_tokens,
            latency_ms=t.elapsed_ms(),
            routing_ms=t.routing_ms,
            model_ms=t.model_ms,
            cost_usd=t.cost,
            counterfactual_cost_usd=t.counterfactual,
            confidence=t.confidence,
            escalated=t.escalated,
            stream=t.stream,
            status=status,
            error=state.privacy.scrub(error) if error else None,
            extra=t.extra,
            privacy_policy=t.inspection.policy if t.inspection.scanned else None,
            privacy_action=(t.privacy_action or ("none" if not t.inspection.sensitive else "allowed")) if t.inspection.scanned else None,
            pii_entities=t.inspection.entities if t.inspection.scanned else None,
            specialist=t.specialist,
            labels=t.labels,
            shadow_model=t.shadow_model,
            shadow_labels=t.shadow_labels,
            shadow_confidence=t.shadow_confidence,
            shadow_accepted=t.shadow_accepted,
            shadow_agree=t.shadow_agree,
        )
    )
    if state.metrics is not None:
        state.metrics.observe(row)  # from the row itself, so /metrics and the ledger always agree
        if t.upstream_errors:
            state.metrics.observe_upstream_errors(t.upstream_errors)


def error_response(state: GatewayState, t: Ticket, err: APIError) -> Response:
    record(state, t, err.status, err.summary())
    return Response(err.body(), status_code=err.status, media_type=JSON, headers={"x-request-id": t.request_id, **err.headers})


async def chat_completions(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    t = Ticket("/v1/chat/completions")
    try:
        body = await read_json(request, state.constellation.defaults.max_body_bytes, t.request_id)
    except APIError as err:
        return error_response(state, t, err)
    t.stream = body.get("stream") is True
    return await route_chat(request, t, body)


async def route_chat(request: Request, t: Ticket, body: dict[str, Any]) -> Response:
    """Admit, route, answer and record one chat-shaped request (`body` already parsed).

    The one path every generating endpoint takes: /v1/completions and /v1/responses translate
    their bodies to this shape first (gateway/completions.py, gateway/responses.py), so routing,
    escalation, privacy, budgets and the ledger row are the same whichever API a client speaks.
    """
    state: GatewayState = request.app.state.gateway
    defaults = state.constellation.defaults
    try:
        validate_chat(body, defaults.max_messages)
        await state.guard.admit(request, body, t)
        setting = DEADLINE_SETTING if defaults.deadline_s is not None else DERIVED_DEADLINE
        async with bounded(request, state.chat_deadline_s, t.start, setting) as scope:
            try:
                decision = state.router.decide(body, request.headers)
            except NoRoute as exc:
                raise no_route(exc) from None
            t.task, t.reason = decision.task, decision.reason
            task_cfg = state.constellation.tasks.get(decision.task or "")
            start_shadow(state, t, body, task_cfg)
            if decision.route == "specialist":
                t.routing_ms = t.elapsed_ms()
                if decision.specialist in state.remotes:  # a generate model as the task's specialist
                    return await serve_generative_specialist(state, t, body, decision, scope)
                return await serve_specialist(state, t, body, decision, scope)
            await inspect_privacy(state, t, body, task_cfg, scope)
            remote = decision.remote if decision.pick is None else await learned_pick(state, t, decision)
            t.routing_ms = t.elapsed_ms()
            return await serve_remote(state, t, body, remote, route="remote")
    except APIError as err:
        return error_response(state, t, err)
    except JsonTooDeep as exc:  # found while re-serialising for an upstream (parsing checks it first)
        return error_response(state, t, too_deep_error(exc))
    except Exception as exc:  # a bug of ours: still one ledger row, a settled reservation, no trace
        log.exception("unexpected error in %s", t.request_id)
        return error_response(state, t, APIError(500, f"internal error ({type(exc).__name__}); the request was not completed", code="internal_error"))


async def inspect_privacy(state: GatewayState, t: Ticket, body: dict[str, Any], task_cfg: TaskConfig | None, scope: Scope) -> None:
    """Privacy detection for a request about to leave this process. Only then: a specialist's
    answer never leaves, so scanning it would cost every local answer the detector's time (and the
    gateway its throughput) for nothing to protect; such rows carry no privacy fields."""
    policy = state.privacy.policy(task_cfg.privacy if task_cfg else None, t.key_privacy)
    strict = state.privacy.strict(task_cfg.privacy_strict if task_cfg else None)
    t.inspection = await state.privacy.inspect_async(body, policy, strict, run=state.cpu.run, tenant=t.tenant,
                                                     deadline=scope.deadline, cancel=scope.cancelled)


async def learned_pick(state: GatewayState, t: Ticket, decision: Decision) -> str:
    """The remote model the task's learned router picks for this prompt. In the CPU pool: the
    router's encoder is milliseconds of CPU that would otherwise stall every request on the loop.
    Its time goes into the ledger row (extra.router_ms) and its reason into the route's."""
    started = time.perf_counter()
    model, note = await state.cpu.run(decision.pick, tenant=t.tenant)
    t.extra["router_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    t.reason = f"{t.reason}; {note}"
    return model


async def serve_specialist(state: GatewayState, t: Ticket, body: dict[str, Any], decision: Decision, scope: Scope) -> Response:
    backend = state.specialists[decision.specialist]
    task_cfg = state.constellation.tasks.get(decision.task or "")
    text = specialist_input(body["messages"], task_cfg.input if task_cfg else "last_user")
    started = time.perf_counter()
    cls = await backend.classify(text)
    t.model_ms = (time.perf_counter() - started) * 1000.0
    await shadow.settle(t)  # the candidate ran beside it: give it a moment to finish too
    t.confidence = cls.confidence
    t.specialist = cls.version
    threshold = decision.threshold if decision.threshold is not None else backend.threshold
    local_cost = state.costs.local(cls.compute_s)
    prompt_estimate = estimate_prompt_tokens(body["messages"])
    unsure = None if backend.accepts(cls.confidence, decision.threshold) else f"confidence {cls.confidence:.4f} < threshold {threshold:.4f}"
    if unsure is None and not decision.must_answer:
        unsure = await novelty_gate.novel(state, t, backend, task_cfg, text, scope)
    if decision.escalates and unsure:
        t.escalated = True
        t.reason = f"{decision.reason}; {unsure}"
        target = decision.escalate_to if decision.pick is None else await learned_pick(state, t, decision)
        t.reason = f"{t.reason}, escalated to {target}"
        t.extra["specialist"] = {"model": cls.version, "label": cls.label, "compute_ms": round(cls.compute_s * 1000, 3)}
        if backend.runtime.multi_label:
            t.extra["specialist"]["labels"] = list(cls.labels)
        t.cost = local_cost
        await inspect_privacy(state, t, body, task_cfg, scope)
        return await serve_remote(state, t, body, target, route="escalated")
    t.route, t.model = "specialist", cls.version
    t.labels = list(cls.labels)
    if decision.must_answer:
        t.reason = f"{decision.reason}; confidence {cls.confidence:.4f} (answers whatever its confidence)"
    elif unsure:
        if decision.on_unsure == "error":
            return unsure_error(state, t, cls, threshold, unsure, local_cost, prompt_estimate)
        if decision.on_unsure != "guess":
            return unavailable_escalation(state, t, body, cls, threshold, unsure, local_cost, prompt_estimate)
        # on_unsure: guess: the label is the answer, marked unsure (rightmodel field, header, ledger extra).
        t.extra["unsure"] = True
        t.reason = f"{decision.reason}; {unsure}, answered as an unsure guess (on_unsure: guess)"
    else:
        t.reason = f"{decision.reason}; confidence {cls.confidence:.4f} >= threshold {threshold:.4f}"
    text_out = answers.answer_text(cls, answers.wants_json(body, task_cfg.answer if task_cfg else "label"), backend.runtime.multi_label)
    t.served_text = text_out
    t.usage = Usage(prompt_tokens=cls.tokens, completion_tokens=estimate_tokens(text_out), reported=True)
    t.cost = local_cost
    t.counterfactual = state.costs.counterfactual(Usage(prompt_estimate, estimate_tokens(text_out)))
    t.extra["estimated"] = "counterfactual tokens"
    model_name = body["model"]
    info = t.info(threshold)
    if t.stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = answers.completion_chunks(t.request_id, model_name, text_out, cls.tokens, t.usage.completion_tokens, info, include_usage)
        record(state, t, 200)
        return StreamingResponse(iter(frames), media_type="text/event-stream", headers=info.headers())
    payload = answers.completion(t.request_id, model_name, text_out, cls.tokens, t.usage.completion_tokens, info)
    record(state, t, 200)
    return Response(orjson.dumps(payload), media_type=JSON, headers=info.headers())


async def serve_generative_specialist(state: GatewayState, t: Ticket, body: dict[str, Any], decision: Decision, scope: Scope) -> Response:
    """A generate model as the task's specialist: its answer if it clears the threshold, else the
    escalation target's (gateway/generative_task.py decides)."""
    local = await local_answer(state, t, body, decision)
    if local is None:
        target = decision.escalate_to if decision.pick is None else await learned_pick(state, t, decision)
        t.reason = f"{t.reason}, escalated to {target}"
        await inspect_privacy(state, t, body, state.constellation.tasks.get(decision.task or ""), scope)
        return await serve_remote(state, t, body, target, route="escalated")
    info = t.info(local.threshold)
    u = local.usage
    t.served_text = local.text
    record(state, t, 200)
    if t.stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = answers.completion_chunks(t.request_id, body["model"], local.text, u.prompt_tokens, u.completion_tokens, info, include_usage)
        return StreamingResponse(iter(frames), media_type="text/event-stream", headers=info.headers())
    payload = answers.completion(t.request_id, body["model"], local.text, u.prompt_tokens, u.completion_tokens, info)
    payload["choices"][0]["finish_reason"] = local.finish_reason
    return Response(orjson.dumps(payload), media_type=JSON, headers=info.headers())


def unavailable_escalation(
    state: GatewayState, t: Ticket, body: dict[str, Any], cls, threshold: float, unsure: str, local_cost: float, prompt_estimate: int
) -> Response:
    """Below threshold with nowhere to escalate: say so, never pass the guess off as an answer.

    The reply is a normal 200 completion with empty content; the specialist's best guess is in the
    `rightmodel` field and the route is `escalation_unavailable` in body, headers and ledger.
    """
    t.route = "escalation_unavailable"
    t.labels = None  # the client got no answer; the guess is in extra.specialist
    t.reason = f"{t.reason}; {unsure} and no escalation target is configured"
    t.usage = Usage(prompt_tokens=cls.tokens, completion_tokens=0, reported=True)
    t.cost = local_cost
    t.counterfactual = state.costs.counterfactual(Usage(prompt_estimate, estimate_tokens(cls.label)))
    info = t.info(threshold)
    best = _best_guess(cls)
    t.extra["best_guess"] = cls.label
    t.extra["specialist"] = {"model": cls.version, "label": cls.label, "labels": list(cls.labels)}
    record(state, t, 200)
    if t.stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = answers.completion_chunks(t.request_id, body["model"], "", cls.tokens, 0, info, include_usage, best_guess=best)
        return StreamingResponse(iter(frames), media_type="text/event-stream", headers=info.headers())
    payload = answers.completion(t.request_id, body["model"], "", cls.tokens, 0, info)
    payload["rightmodel"]["status"] = "escalation_unavailable"
    payload["rightmodel"]["best_guess"] = best
    return Response(orjson.dumps(payload), media_type=JSON, headers=info.headers())


def unsure_error(state: GatewayState, t: Ticket, cls, threshold: float, unsure: str, local_cost: float, prompt_estimate: int) -> Response:
    """Below threshold, and the task's ``on_unsure`` is ``error``: an OpenAI-shaped 503
    ``specialist_unsure`` instead of an empty answer.

    Why 503 and not a 4xx: the request is valid; what is missing is on the server's side, a model
    confident enough to answer it (the specialist is not, and this task escalates nothing), which
    is what "service unavailable" means to HTTP clients and to the openai SDK
    (``InternalServerError``). A 4xx would tell the client to fix a request that has nothing to
    fix. Retrying the same text gives the same classification, so the answer carries
    ``x-should-retry: false`` (the openai SDKs obey it and do not retry the 503) and no
    ``Retry-After``. The specialist's guess and the route facts are in the body's ``rightmodel``
    field and the ``x-rightmodel-*`` headers; the ledger row has route ``escalation_unavailable``
    and status 503.
    """
    t.route = "escalation_unavailable"
    t.labels = None  # the client got no answer; the guess is in extra.specialist
    t.reason = f"{t.reason}; {unsure} and task {t.task} has on_unsure: error"
    t.usage = Usage(prompt_tokens=cls.tokens, completion_tokens=0, reported=True)
    t.cost = local_cost
    t.counterfactual = state.costs.counterfactual(Usage(prompt_estimate, estimate_tokens(cls.label)))
    t.extra["best_guess"] = cls.label
    t.extra["specialist"] = {"model": cls.version, "label": cls.label, "labels": list(cls.labels)}
    info = t.info(threshold)
    meta = {**info.to_dict(), "status": "unsure", "best_guess": _best_guess(cls)}
    err = APIError(
        503,
        f"the specialist of task {t.task} is not confident enough to answer ({unsure}) and the task is configured with "
        f"on_unsure: error, so no answer was given; its best guess is in "
        f"the 'rightmodel' field",
        code="specialist_unsure",
        headers={**info.headers(), "x-should-retry": "false"},
        extra={"rightmodel": meta},
    )
    return error_response(state, t, err)


def _best_guess(cls) -> dict[str, Any]:
    return {"labels": list(cls.labels), "confidence": round(cls.confidence, 6), "top": [[label, round(p, 6)] for label, p in cls.top]}


def start_shadow(state: GatewayState, t: Ticket, body: dict[str, Any], task_cfg) -> None:
    """The task's shadow candidate classifies (or, a generate model, answers) the request beside
    whatever answers it."""
    name = state.shadow_of.get(t.task or "")
    if name is None or task_cfg is None:
        return
    if name in state.remotes:
        shadow_generative.start(state, t, body, name)
        return
    t.shadow_name = name
    t.shadow_task = asyncio.ensure_future(state.specialists[name].classify(specialist_input(body["messages"], task_cfg.input)))


def capture(state: GatewayState, t: Ticket, body: dict[str, Any], answer: str, redaction: Any) -> None:
    """Keep this answered request's (input, answer) pair when its task opted in, as the frontier saw it."""
    capturer = state.capturer
    if capturer is None or not capturer.wants(t.task) or not answer:
        return
    from rightmodel.distill.store import Capture

    text = specialist_input(body["messages"], state.constellation.tasks[t.task].input)
    prompt = conversation_of(body["messages"])
    if redaction:
        text, answer = redaction.rehide(text), redaction.rehide(answer)
        prompt = [{**m, "content": redaction.rehide(m["content"])} for m in prompt]
    if prompt == [{"role": "user", "content": text}]:
        prompt = None  # the input says it all: not stored twice
    capturer.offer(Capture(t.task, t.request_id, t.route, t.model, text, answer, bool(redaction), t.created_at, prompt))


def conversation_of(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The text turns a generator distilled from this capture would be prompted with (system,
    user, assistant; developer read as system; tool turns and non-text parts left out)."""
    roles = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
    return [{"role": roles[m["role"]], "content": message_text(m)} for m in messages
            if m.get("role") in roles and message_text(m).strip()]


def outbound(body: dict[str, Any]) -> dict[str, Any]:
    """The client's body minus what only rightmodel reads (metadata.task)."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and "task" in metadata:
        body = dict(body)
        rest = {k: v for k, v in metadata.items() if k != "task"}
        if rest:
            body["metadata"] = rest
        else:
            body.pop("metadata")
    return body


def settle_remote(state: GatewayState, t: Ticket, served_by: str, usage: Usage, body: dict[str, Any], answer_text: str) -> None:
    if not usage.reported:
        usage = Usage(estimate_prompt_tokens(body["messages"]), estimate_tokens(answer_text))
        t.extra["estimated"] = "tokens (upstream reported no usage)"
    t.usage = usage
    t.model = served_by
    flag_long_answer(t, body, usage)
    t.cost += state.costs.remote(served_by, usage)
    if served_by in state.costs.generators:  # a local generator: its compute time at the hardware's cost
        t.cost += state.costs.local(t.model_ms / 1000.0)
    t.counterfactual = state.costs.counterfactual(usage)
    t.served_text = answer_text
    labels = state.task_labels(t.task)
    if labels is not None:
        # A frontier answer that is one of the task's labels can be scored by feedback (and a shadow) too.
        label = match_label(answer_text, labels)
        t.labels = [label] if label is not None else None


def flag_long_answer(t: Ticket, body: dict[str, Any], usage: Usage) -> None:
    """An upstream that billed more completion tokens than the request allowed: settled as
    billed, flagged in the ledger row (extra.max_tokens_exceeded, counted in /metrics), logged."""
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    if not usage.reported or not isinstance(asked, int) or isinstance(asked, bool):
        return
    n = body.get("n")
    allowed = asked * (n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1)
    if usage.completion_tokens > allowed:
        t.extra["max_tokens_exceeded"] = {"max_tokens": allowed, "completion_tokens": usage.completion_tokens}
        log.warning("request %s: %s returned %d completion tokens for max_tokens %d; billed as returned",
                    t.request_id, t.model, usage.completion_tokens, allowed)


def private_chain(state: GatewayState, t: Ticket, chain: list[str]) -> list[str]:
    """The models a request may reach under its privacy policy (local-only: local ones), or a 403."""
    if not t.inspection.local_only:
        return chain
    local = [m for m in chain if state.is_local(m)]
    if local:
        t.privacy_action = "kept_local"
        return local
    t.privacy_action = "refused"
    raise APIError(
        403,
        f"the request contains sensitive data ({t.inspection.summary()}) and its privacy policy is local-only, "
        f"but it would have to go to {', '.join(chain)}, which is not local"
        + (f" ({t.reason})" if t.escalated else ""),
        param="messages",
        code="sensitive_data_local_only",
    )


def body_for(state: GatewayState, t: Ticket, base: dict[str, Any], name: str) -> tuple[dict[str, Any], Any]:
    """What model `name` is sent: redacted unless it is local; and the mapping to restore with."""
    if state.is_local(name) or not t.inspection.redacts:
        return base, None
    return t.inspection.outbound(base)


def served_privately(state: GatewayState, t: Ticket, base: dict[str, Any], served_by: str) -> Any:
    """Record what the privacy policy did once `served_by` answered; the mapping to restore its answer with, if redacted."""
    redaction = body_for(state, t, base, served_by)[1]
    if redaction:
        t.privacy_action = "redacted"
    elif t.inspection.sensitive and t.inspection.policy != "allow" and state.is_local(served_by):
        t.privacy_action = "kept_local"
    return redaction


async def serve_remote(state: GatewayState, t: Ticket, body: dict[str, Any], model: str, route: str) -> Response:
    t.route = route
    t.model = model
    chain = private_chain(state, t, state.fallback_chain(model))
    attempts = Attempts()
    base = outbound(body)
    started = time.perf_counter()
    if t.stream:
        return await stream_remote(state, t, body, base, chain, attempts, started)
    try:
        result: ChatResult = await call_with_fallbacks(
            chain,
            state.remotes,
            state.retry,
            lambda backend, name: backend.chat({**body_for(state, t, base, name)[0], "model": state.upstream_id(name)}),
            attempts,
            state.breakers,
        )
    except APIError as err:
        t.model_ms = (time.perf_counter() - started) * 1000.0
        t.extra.update(attempts.ledger_extra())
        t.upstream_errors += attempts.errors
        if attempts.passed_over:
            t.reason = f"{t.reason}; {attempts.fallback_reason()}"
        return error_response(state, t, err)
    t.model_ms = (time.perf_counter() - started) * 1000.0
    served_by = attempts.served_by or model
    t.extra.update(attempts.ledger_extra())
    t.upstream_errors += attempts.errors
    if attempts.passed_over:  # e.g. "primary circuit open, fell back to backup"
        t.reason = f"{t.reason}; {attempts.fallback_reason()}"
    payload = result.body
    redaction = served_privately(state, t, base, served_by)
    if redaction:
        redaction.restore_completion(payload)
    settle_remote(state, t, served_by, result.usage, body, _content_of(payload))
    capture(state, t, body, _content_of(payload), redaction)
    await shadow.settle(t)
    info = t.info()
    payload["rightmodel"] = info.to_dict()
    record(state, t, 200)
    return Response(orjson.dumps(payload), media_type=JSON, headers=info.headers())


def _content_of(payload: dict[str, Any]) -> str:
    try:
        return payload["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


async def stream_remote(
    state: GatewayState, t: Ticket, body: dict[str, Any], base: dict[str, Any], chain: list[str], attempts: Attempts, started: float
) -> Response:
    # Backends ask the upstream for usage themselves and pass the usage chunk on only when the
    # client asked for it, so the body goes out as the client sent it.
    # Each stream is read up to its first content token before the client sees it, so a stream
    # that fails before then falls back like an error status (fallback.open_primed).

    upstream_body = base
    models = state.constellation.remote_models()
    first_token_s = state.constellation.defaults.first_token_timeout_s
    try:
        stream: ChatStream = await call_with_fallbacks(
            chain,
            state.remotes,
            state.retry,
            lambda backend, name: open_primed(
                backend,
                {**body_for(state, t, upstream_body, name)[0], "model": state.upstream_id(name)},
                first_token_s or models[name].timeout_s,
            ),
            attempts,
            state.breakers,
        )
    except APIError as err:
        t.extra.update(attempts.ledger_extra())
        t.upstream_errors += attempts.errors
        if attempts.passed_over:
            t.reason = f"{t.reason}; {attempts.fallback_reason()}"
        return error_response(state, t, err)
    served_by = attempts.served_by or chain[0]
    t.model = served_by
    redaction = served_privately(state, t, upstream_body, served_by)
    restorer = FrameRestorer(redaction) if redaction else None
    t.extra.update(attempts.ledger_extra())
    t.upstream_errors += attempts.errors
    if attempts.passed_over:
        t.reason = f"{t.reason}; {attempts.fallback_reason()}"
    headers = t.info().headers()
    for key in ("x-rightmodel-cost-usd", "x-rightmodel-latency-ms"):
        headers.pop(key, None)  # unknown until the stream ends; the ledger has them
    return StreamingResponse(
        relay_stream(state, t, body, stream, served_by, started, restorer), media_type="text/event-stream", headers=headers
    )


async def relay_stream(
    state: GatewayState,
    t: Ticket,
    body: dict[str, Any],
    stream: ChatStream,
    served_by: str,
    started: float,
    restorer: FrameRestorer | None = None,
) -> AsyncIterator[bytes]:
    parts: list[str] = []
    status, error = 200, None
    recorded = False
    try:
        async for frame in stream:
            if restorer is not None:
                if frame.startswith(b"data: [DONE]"):
                    leftover = restorer.leftover()
                    if leftover is not None:
                        yield leftover
                else:
                    frame = restorer.frame(frame)
            if frame.startswith(b"data: [DONE]"):
                t.model_ms = (time.perf_counter() - started) * 1000.0
                settle_remote(state, t, served_by, stream.usage, body, "".join(parts))
                capture(state, t, body, "".join(parts), restorer.redaction if restorer is not None else None)
                await shadow.settle(t)
                record(state, t, status)
                recorded = True
                yield frame
                continue
            if (t.task is not None or not stream.usage.reported) and b'"content"' in frame:
                parts.append(_delta_text(frame))
            if "first_token_ms" not in t.extra:  # the stream was read up to its first content before this (open_primed)
                t.extra["first_token_ms"] = round(t.elapsed_ms(), 3)
            yield frame
    except UpstreamError as exc:
        t.upstream_errors.append((served_by, error_kind(exc)))
        status, error = 502, f"stream failed after it started: {exc.kind}: {exc}"[:500]
        err = APIError(502, f"{served_by}: the upstream stream failed: {exc}", code="upstream_stream_error")
        yield answers.sse(err.to_dict())
    except BaseException:  # client went away (cancelled) or the server is stopping
        status, error = 499, "client disconnected before the stream ended"
        raise
    finally:
        await stream.aclose()
        if not recorded:
            t.model_ms = (time.perf_counter() - started) * 1000.0
            settle_remote(state, t, served_by, stream.usage, body, "".join(parts))
            record(state, t, status, error)


def _delta_text(frame: bytes) -> str:
    try:
        chunk = orjson.loads(frame[6:])
        return chunk["choices"][0]["delta"].get("content") or ""
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return ""
