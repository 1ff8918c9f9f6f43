"""Shadow mode for a generative candidate: it writes its answer to the same request beside whatever
answers it, and the ledger row learns afterwards whether it would have answered and agreed.

A classifier shadow is done in milliseconds, so the row waits for it (gateway/shadow.py). A
generated answer takes seconds, often longer than the answer served, so nothing waits for it:

- ``start``: the candidate (a `kind: generate` model, its own llama.cpp engines) starts on the
  request at routing time, unless it already has as many shadow generations running as it has
  engines: then this request is not shadowed (counted: ``ShadowOutcomes.counts["busy"]``). So
  shadow work cannot pile up, and a client never waits on it or sees it fail.
- ``finish`` (when the row is written): the row gets ``shadow_model`` now; once the candidate's
  answer is complete it is judged against the answer served by the candidate's quality bar (its
  card's: the bar its threshold was calibrated on) and its acceptance score against its
  threshold, and ``ShadowOutcomes`` (ledger/shadow_outcomes.py) writes ``shadow_confidence``,
  ``shadow_accepted`` and ``shadow_agree`` into that row from a background thread, retrying
  while the row is still on its way to the database. A request that failed, or whose answer was
  empty, stops its shadow generation; its row keeps ``shadow_model`` with nothing compared.

Neither answer is stored: the ledger holds no prompts or answers, only the verdicts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from rightmodel.ledger.shadow_outcomes import GIVE_UP_S, Pending, ShadowOutcomes


@dataclass(frozen=True)
class ShadowRun:
    """One request's shadow generation and the backend running it (the model's entry in
    `state.remotes` may be a newer version by the time the request ends: gateway/live_versions.py)."""

    job: asyncio.Future
    backend: Any


def shadow_bar(state: Any, task: str | None, backend: Any):
    """The quality bar the candidate is judged by: its card's, else the task's, else exact."""
    from rightmodel.generative.acceptance import QualityBar

    cfg = state.constellation.tasks.get(task or "")
    return QualityBar.parse(getattr(backend, "quality_bar", None) or (cfg.quality if cfg is not None else None) or "exact")


def start(state: Any, t: Any, body: dict[str, Any], name: str) -> None:
    """Start the candidate on this request, unless its engines are all taken by earlier shadows."""
    from rightmodel.gateway.generative_task import local_body

    backend = state.remotes[name]
    outcomes: ShadowOutcomes = state.shadow_outcomes
    if outcomes.running.get(name, 0) >= backend.concurrency:
        outcomes.counts["busy"] += 1
        return
    outcomes.running[name] = outcomes.running.get(name, 0) + 1

    def done(f: asyncio.Future) -> None:
        outcomes.running[name] -= 1
        if not f.cancelled():
            f.exception()  # retrieved: a failed shadow is counted when judged, never logged as unhandled

    t.shadow_name = name
    job = asyncio.ensure_future(backend.scored_chat(local_body(body, name)))
    job.add_done_callback(done)
    t.shadow_job = ShadowRun(job, backend)


def finish(state: Any, t: Any, status: int) -> None:
    """The row being written names the candidate; its verdict follows when its answer is done."""
    run, t.shadow_job = t.shadow_job, None
    job, backend = run.job, run.backend
    t.shadow_model = backend.version or t.shadow_name
    served = t.served_text
    if status != 200 or not served:
        job.cancel()  # nothing to compare with: free its engine
        return
    outcomes: ShadowOutcomes = state.shadow_outcomes
    bar = shadow_bar(state, t.task, backend)
    threshold = backend.acceptance_threshold if backend.acceptance_threshold is not None else 1.0
    request_id = t.request_id

    def judged(f: asyncio.Future) -> None:
        if f.cancelled() or f.exception() is not None:
            outcomes.counts["failed"] += 1
            return
        result, score = f.result()
        try:
            answer = result.body["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            answer = ""
        outcomes.offer(Pending(request_id, answer, served, score or 0.0, threshold, bar, time.monotonic() + GIVE_UP_S))

    job.add_done_callback(judged)
