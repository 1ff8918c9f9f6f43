"""A generative shadow candidate's verdict, written into its request's row after the fact.

``ShadowOutcomes`` is the bounded background writer the gateway hands verdicts to
(gateway/shadow_generative.py): each is judged (the candidate's answer against the served one by
its quality bar) and written by ``record_shadow_outcome``, retried while the row is still on its
way from the journal, dropped and counted past ``GIVE_UP_S`` or when the queue is full.

The row itself is written (journaled, then shipped) when the request ends, naming the candidate
in ``shadow_model``; the candidate's answer is judged later (gateway/shadow_generative.py), and
its three verdict columns are filled here. Only those columns, only on a row that names a shadow:
an update never touches what was recorded about the request itself. A row re-shipped from the
journal after a crash is an insert that does nothing (``ON CONFLICT DO NOTHING``), so the
verdict stays.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rightmodel.ledger.store import requests, write

log = logging.getLogger("rightmodel.ledger.shadow")

QUEUE_MAX = 1000  # verdicts waiting to be written; beyond, dropped and counted
RETRY_S = 0.5  # a row not in the database yet is looked for again after this
GIVE_UP_S = 120.0  # ... until this long after its request ended


def record_shadow_outcome(engine: Engine, request_id: str, *, confidence: float, accepted: bool, agree: bool) -> bool:
    """Fill the verdict of ``request_id``'s row; False when the row is not in the database yet."""
    query = (sa.update(requests)
             .where(requests.c.request_id == request_id, requests.c.shadow_model.is_not(None))
             .values(shadow_confidence=float(confidence), shadow_accepted=bool(accepted), shadow_agree=bool(agree)))
    with write(engine) as conn:
        return bool(conn.execute(query).rowcount)


@dataclass
class Pending:
    request_id: str
    answer: str
    served: str
    score: float
    threshold: float
    bar: Any  # generative.acceptance.QualityBar
    deadline: float
    due: float = 0.0


class ShadowOutcomes:
    """Bounded background writer of generative shadow verdicts into their ledger rows."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._queue: queue.Queue[Pending | None] = queue.Queue(QUEUE_MAX)
        self._thread = threading.Thread(target=self._run, name="rightmodel-shadow-outcomes", daemon=True)
        self.running: dict[str, int] = {}  # model -> shadow generations in flight
        self.counts = {"written": 0, "dropped": 0, "busy": 0, "failed": 0}
        self._thread.start()

    def offer(self, item: Pending) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.counts["dropped"] += 1

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        waiting: list[Pending] = []
        while True:
            try:
                item = self._queue.get(timeout=RETRY_S if waiting else None)
            except queue.Empty:
                item = False
            if item is None:
                self._queue.task_done()
                for _ in waiting:
                    self._queue.task_done()
                return
            if item is not False:
                waiting.append(item)
            now = time.monotonic()
            still: list[Pending] = []
            for p in waiting:
                if p.due > now:
                    still.append(p)
                    continue
                try:
                    agree = p.bar.passes(p.answer, p.served)
                    done = record_shadow_outcome(self.engine, p.request_id, confidence=p.score, accepted=p.score >= p.threshold, agree=agree)
                except Exception as exc:  # the database is busy or down: like a row not there yet
                    log.debug("shadow outcome of %s not written yet: %s", p.request_id, exc)
                    done = False
                if done:
                    self.counts["written"] += 1
                elif now < p.deadline:
                    p.due = now + RETRY_S
                    still.append(p)
                    continue
                else:
                    self.counts["dropped"] += 1
                self._queue.task_done()
            waiting = still
