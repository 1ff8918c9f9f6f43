"""Shadow mode and promotion: a candidate specialist classifies live traffic beside production
without answering; once it agrees with the answers served often enough, it takes over. (A
generative candidate writes its answers instead: gateway/shadow_generative.py; its promotion is
the same, below.)

Per request (``start``/``finish``): the candidate classifies the same text concurrently (its own
micro-batcher, so it never holds production's), and when the request's ledger row is written its
labels are compared with the labels of the answer served: production's specialist, or a
frontier answer that is one of the task's labels. The row keeps the candidate's labels,
confidence, whether it would have answered (confidence at or above its calibrated threshold),
and whether it agreed.

Promotion (``tasks.X.promote``) is judged on agreement at the calibrated threshold: over the
requests the candidate would have answered since this gateway started shadowing it, at least
``min_requests`` of them, agreement >= ``agreement``. ``auto: true`` promotes it in the registry
and makes it the task's specialist in this gateway at once; otherwise the report shows the
numbers and ``rightmodel models promote`` does it (a running gateway notices within
``check_every_s`` and the candidate takes over).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("rightmodel.gateway.shadow")

SHADOW_WAIT_S = 0.25  # a shadow result later than this (after the answer) is recorded as missing


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str
    stats: dict[str, Any] | None


def judge(stats: dict[str, Any] | None, agreement: float, min_requests: int) -> Verdict:
    """Whether a candidate's shadow record earns promotion (see the module docstring)."""
    accepted = (stats or {}).get("accepted", 0)
    if stats is None or accepted < min_requests:
        return Verdict(False, f"{accepted} of the {min_requests} accepted shadow answers needed so far", stats)
    value = stats["accepted_agreement"] or 0.0
    if value >= agreement:
        return Verdict(True, f"agreement {value:.2%} on {accepted} requests it would have answered >= {agreement:.2%}", stats)
    return Verdict(False, f"agreement {value:.2%} on {accepted} requests it would have answered < {agreement:.2%}", stats)


def shadow_stats(engine: Any, task: str, candidate: str, since: datetime | None) -> dict[str, Any] | None:
    """The ledger's shadow numbers of ``candidate`` on ``task`` since ``since`` (report/versions.py)."""
    from rightmodel.report.versions import shadow_rows

    with engine.connect() as conn, conn.begin():
        rows = shadow_rows(conn, since, None, task=task, candidate=candidate)
    return rows[0] if rows else None


async def settle(t: Any) -> None:
    """Let the shadow classification finish before the row is written (it started with the
    request, so it is normally done; at most ``SHADOW_WAIT_S`` is added, else it is recorded as
    missing)."""
    if t.shadow_task is not None and not t.shadow_task.done():
        await asyncio.wait({t.shadow_task}, timeout=SHADOW_WAIT_S)


def finish(t: Any, backend: Any) -> None:
    """Fill the ticket's shadow fields from its finished shadow task (called when its row is written)."""
    task = t.shadow_task
    t.shadow_task = None
    if task is None:
        return
    t.shadow_model = backend.ref
    if not task.done() or task.cancelled() or task.exception() is not None:
        if not task.done():
            task.cancel()
        return
    cls = task.result()
    t.shadow_labels = list(cls.labels)
    t.shadow_confidence = cls.confidence
    t.shadow_accepted = backend.accepts(cls.confidence)
    t.shadow_agree = None if t.labels is None else set(cls.labels) == set(t.labels)


def follows_production(state: Any, task: str, model: str) -> bool:
    """Whether the task's configured specialist follows the production stage the candidate was
    promoted to: then it switches to the candidate by itself (gateway/live_versions.py), unless
    this gateway does not follow versions (version_poll_s 0)."""
    if not state.settings.version_poll_s:
        return False
    c = state.constellation
    specialist = c.tasks[task].specialist
    cfg = c.models.get(specialist) if specialist else None
    ref = cfg.ref(specialist) if cfg is not None and hasattr(cfg, "ref") else None
    return ref is not None and ref == f"{c.models[model].task or model}@production"


def promoted_by_hand(registry: Any, ref: str) -> bool:
    """Whether `rightmodel models promote` made the candidate `ref` (`task@vN`) its task's production version."""
    from rightmodel.errors import RightmodelError

    if "@" not in ref:  # a model served from a file: nothing in the registry to promote
        return False
    try:
        return registry.get(f"{ref.rpartition('@')[0]}@production").ref == ref
    except RightmodelError:
        return False


async def promotion_loop(state: Any) -> None:
    """Every ``check_every_s``: promote each auto-promoting shadow candidate that has earned it, and
    let any candidate promoted by hand (``models promote``) take over; either answers from the next
    request on, a classifier or a generate model alike."""
    from datetime import timezone

    since = datetime.fromtimestamp(state.started_at, timezone.utc)
    tasks = state.constellation.tasks
    period = min((tasks[t].promote.check_every_s for t in state.shadow_of), default=None)
    if period is None:
        return
    while state.shadow_of:
        await asyncio.sleep(period)
        for task, model in list(state.shadow_of.items()):
            cfg = tasks[task].promote
            ref = state.shadow_ref(model)
            try:
                if await asyncio.to_thread(promoted_by_hand, state.registry, ref):
                    why = "promoted by hand (rightmodel models promote)"
                elif cfg.auto:
                    stats = await asyncio.to_thread(shadow_stats, state.ledger.engine, task, ref, since)
                    verdict = judge(stats, cfg.agreement, cfg.min_requests)
                    if not verdict.promote:
                        continue
                    await asyncio.to_thread(state.registry.promote, ref, reason=f"shadow mode: {verdict.reason}")
                    why = verdict.reason
                else:
                    continue
            except Exception:  # a failed check must not stop the loop; the next one retries
                log.exception("shadow: checking %s for promotion failed", ref)
                continue
            if not follows_production(state, task, model):
                state.router.specialist_of[task] = model  # it answers from the next request on
            del state.shadow_of[task]
            state.promoted[task] = ref
            log.warning("shadow: promoted %s for task %s (%s)", ref, task, why)
